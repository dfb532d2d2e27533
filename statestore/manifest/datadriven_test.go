package manifest

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// A tiny data-driven test runner in the style of cockroachdb/datadriven
// (which is not available here). A test file is a sequence of blocks:
//
//	# comments and blank lines between blocks are kept
//	command arg=value ...
//	input line
//	----
//	expected output (no blank lines)
//
// followed by a blank line. Run with -rewrite to regenerate the expected
// outputs from the code under test (then review the diff).

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of data-driven tests")

type ddCase struct {
	pos   string
	cmd   string
	args  map[string]string
	input []string
}

func (c *ddCase) arg(k, def string) string {
	if v, ok := c.args[k]; ok {
		return v
	}
	return def
}

func runDataDriven(t *testing.T, path string, run func(t *testing.T, c *ddCase) string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return sc.Text(), true
	}
	for {
		l, ok := next()
		if !ok {
			break
		}
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			out.WriteString(l + "\n")
			continue
		}
		c := &ddCase{pos: fmt.Sprintf("%s:%d", path, line), args: map[string]string{}}
		fields := strings.Fields(l)
		c.cmd = fields[0]
		for _, a := range fields[1:] {
			k, v, _ := strings.Cut(a, "=")
			c.args[k] = v
		}
		out.WriteString(l + "\n")
		for {
			l, ok = next()
			if !ok {
				t.Fatalf("%s: missing ----", c.pos)
			}
			out.WriteString(l + "\n")
			if l == "----" {
				break
			}
			c.input = append(c.input, l)
		}
		var want []string
		for {
			l, ok = next()
			if !ok || l == "" {
				break
			}
			want = append(want, l)
		}
		got := strings.TrimRight(run(t, c), "\n")
		out.WriteString(got + "\n\n")
		if !*rewrite && got != strings.Join(want, "\n") {
			t.Errorf("%s: %s\n got:\n%s\nwant:\n%s", c.pos, c.cmd, got, strings.Join(want, "\n"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
