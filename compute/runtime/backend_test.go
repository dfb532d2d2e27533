package runtime

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/compute/plan"
	_ "github.com/sluicedata/sluice/connectors/all"
)

// The job spec's LSM settings reach the stores' options.
func TestOpenBackendOptions(t *testing.T) {
	dir := t.TempDir()
	spec, err := plan.ParseJobFile([]byte(fmt.Sprintf(`
name: j
state: {lsm: {url: "file://%s", memtable_bytes: 65536, memtable_entries: 1000, block_cache_bytes: 1048576}}
nodes:
  - {id: bid, source: {connector: nexmark, options: {stream: bid, events: 10}}}
  - {id: out, inputs: [bid], sink: {connector: blackhole}}
`, dir)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := &Supervisor{plan: p, opts: Options{}.ensureDefaults()}
	if err := s.openBackend(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.closeBackend()
	o := s.lsmOpts
	if o == nil || o.MemtableSize != 65536 || o.MemtableEntries != 1000 || o.BlockCache == nil {
		t.Fatalf("lsm options %+v: want memtable 65536 bytes, 1000 entries, a block cache", o)
	}
}
