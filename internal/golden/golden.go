// Package golden runs data-driven tests whose expected output lives in
// files: a test reads each script, produces a trace, and compares it with
// the script's .golden file. Running the tests with -rewrite writes the
// traces as the new golden files instead.
//
//	func TestTrace(t *testing.T) { golden.Scripts(t, "testdata/*.script", runTrace) }
//
// It is imported by tests only; it registers the -rewrite flag.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files of data-driven tests")

// Rewrite reports whether the test binary runs with -rewrite.
func Rewrite() bool { return *rewrite }

// Scripts runs every file matching glob through run, as a subtest named
// after the file, and compares the trace run returns with the file of the
// same name ending in .golden instead of .script.
func Scripts(t *testing.T, glob string, run func(t *testing.T, script string) string) {
	t.Helper()
	scripts, err := filepath.Glob(glob)
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts match %s: %v", glob, err)
	}
	for _, path := range scripts {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, string(data))
			golden := strings.TrimSuffix(path, ".script") + ".golden"
			if *rewrite {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -rewrite)", err)
			}
			if got != string(want) {
				t.Fatalf("trace differs from %s:\n%s", golden, got)
			}
		})
	}
}
