// Package all links every connector into a binary. Import it for its side
// effects:
//
//	import _ "github.com/sluicedata/sluice/connectors/all"
package all

import (
	_ "github.com/sluicedata/sluice/connectors/blackhole" // "blackhole" sink
	_ "github.com/sluicedata/sluice/connectors/file"      // "file" sink
	_ "github.com/sluicedata/sluice/connectors/nexmark"   // "nexmark" source
	_ "github.com/sluicedata/sluice/connectors/print"     // "print" sink
)
