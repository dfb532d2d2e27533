package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInput checks that user mistakes end in an error that says what is
// wrong, not in a panic.
func TestBadInput(t *testing.T) {
	blocker := writeFile(t, "plainfile", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"run", filepath.Join(t.TempDir(), "nope.yaml")}, "no such file"},
		{"malformed job file", []string{"run", writeFile(t, "bad.yaml", "name: x\nnodes: [{id: a, source: {connector: nexmark}")}, "not valid YAML"},
		{"unknown connector", []string{"run", writeFile(t, "c.yaml", "name: x\nnodes:\n- {id: a, source: {connector: kafka9}}\n- {id: b, inputs: [a], sink: {connector: blackhole}}\n")}, `unknown source connector "kafka9"`},
		{"type error", []string{"validate", writeFile(t, "t.yaml", "name: x\nnodes:\n- {id: a, source: {connector: nexmark}}\n- {id: f, inputs: [a], filter: {condition: \"channel + 1 > 2\"}}\n- {id: b, inputs: [f], sink: {connector: blackhole}}\n")}, `filter.condition`},
		{"unwritable output path", []string{"run", writeFile(t, "o.yaml", "name: x\nnodes:\n- {id: a, source: {connector: nexmark, options: {events: 10}}}\n- {id: b, inputs: [a], sink: {connector: file, options: {path: \""+blocker+"/out\"}}}\n")}, "not a directory"},
		{"unknown bench query", []string{"bench", "nexmark", "--query", "q99", "--events", "10"}, `unknown nexmark query "q99"`},
		{"too many arguments", []string{"run", "a", "b"}, "accepts 1 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := execute(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestRun runs a small job to a file and checks the summary and the output.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	job := writeFile(t, "job.yaml", `
name: small
state: {memory: {}}
nodes:
  - {id: bid, source: {connector: nexmark, options: {stream: bid, events: 5000}}}
  - {id: keep, inputs: [bid], filter: {condition: "MOD(auction, 2) = 0"}}
  - {id: out, inputs: [keep], sink: {connector: file, options: {path: "`+dir+`", format: csv}}}
`)
	out, err := execute(t, "run", job)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "job small finished") {
		t.Fatalf("summary: %s", out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "part-0.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if lines[0] != "auction,bidder,price,channel,url,dateTime,extra" || len(lines) < 100 {
		t.Fatalf("csv has %d lines, header %q", len(lines), lines[0])
	}
	if !strings.Contains(out, "keep  transform  x1  4600 rows in") {
		t.Fatalf("5000 events hold 4600 bids; summary:\n%s", out)
	}
}
