package window

// A small data-driven test runner in the style of cockroachdb/datadriven
// (which is not in the allowed package list). A file is a sequence of cases:
//
//	# comments and blank lines between cases are kept
//	command arg=value arg2=value
//	input lines
//	----
//	expected output lines
//
// A case ends at the first blank line after "----". Run with -rewrite to
// replace the expected outputs with the actual ones.

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of data-driven tests")

type ddCase struct {
	Pos    string
	Cmd    string
	Args   map[string]string
	Input  []string
	Output string
}

func (d *ddCase) arg(t *testing.T, name string) string {
	t.Helper()
	v, ok := d.Args[name]
	if !ok {
		t.Fatalf("%s: missing argument %s", d.Pos, name)
	}
	return v
}

func (d *ddCase) argOr(name, def string) string {
	if v, ok := d.Args[name]; ok {
		return v
	}
	return def
}

// runDataDriven runs every case of path through fn, which returns the actual
// output.
func runDataDriven(t *testing.T, path string, fn func(t *testing.T, d *ddCase) string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	var out strings.Builder
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			out.WriteString(l + "\n")
			i++
			continue
		}
		d := &ddCase{Pos: path + ":" + itoa(i+1), Args: map[string]string{}}
		f := strings.Fields(l)
		d.Cmd = f[0]
		for _, a := range f[1:] {
			k, v, _ := strings.Cut(a, "=")
			d.Args[k] = v
		}
		out.WriteString(l + "\n")
		i++
		for i < len(lines) && lines[i] != "----" {
			d.Input = append(d.Input, lines[i])
			out.WriteString(lines[i] + "\n")
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s: missing ----", d.Pos)
		}
		i++ // ----
		var exp []string
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
			exp = append(exp, lines[i])
			i++
		}
		d.Output = strings.Join(exp, "\n")
		got := strings.TrimRight(fn(t, d), "\n")
		out.WriteString("----\n")
		if got != "" {
			out.WriteString(got + "\n")
		}
		if !*rewrite && got != d.Output {
			t.Errorf("%s: %s\nwant:\n%s\ngot:\n%s", d.Pos, l, d.Output, got)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
