//go:build long

package oracle

import "time"

// The long variant of TestExactlyOnceUnderFailure (go test -tags long):
// three times the events and 60 kills, a few minutes per query.
func init() {
	eoScale.Kills = 60
	eoScale.InProcessFor = [2]time.Duration{time.Second, 4 * time.Second}
	eoScale.Settings.Events = 900_000
}
