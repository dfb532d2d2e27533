// Package nexmark embeds the Nexmark query job files, so that the benchmark
// harness and the tests run exactly the files a user runs with
// `sluice run examples/nexmark/qN.yaml`.
package nexmark

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Query returns the job file of the named query, for example "q1".
func Query(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown nexmark query %q (known: %s)", name, strings.Join(Queries(), ", "))
	}
	return b, nil
}

// Queries lists the embedded queries, in numeric order.
func Queries() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) < len(names[j])
		}
		return names[i] < names[j]
	})
	return names
}
