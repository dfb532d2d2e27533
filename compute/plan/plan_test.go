package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/stream"
	_ "github.com/sluicedata/sluice/connectors/all"
)

const validJob = `
name: t
parallelism: 2
nodes:
  - id: bid
    source: {connector: nexmark, options: {stream: bid, events: 1000}}
  - id: keep
    inputs: [bid]
    filter: {condition: "MOD(auction, 123) = 0"}
  - id: by_bidder
    inputs: [keep]
    key_by: {keys: [bidder]}
  - id: proj
    inputs: [by_bidder]
    parallelism: 3
    project:
      columns:
        - expr: auction
        - {name: eur, expr: 0.908 * price}
  - id: out
    inputs: [proj]
    sink: {connector: blackhole}
`

func TestBuildValid(t *testing.T) {
	spec, err := plan.ParseJobFile([]byte(validJob))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range p.Nodes {
		s := n.ID + ":" + n.Kind.String()
		for _, e := range n.Inputs {
			s += "<" + e.From.ID + "/" + e.Partitioning.String()
		}
		got = append(got, s)
	}
	want := "bid:source keep:transform<bid/forward proj:transform<keep/hash out:sink<proj/rebalance" // proj x3 feeds out x2
	if strings.Join(got, " ") != want {
		t.Fatalf("plan = %s\nwant   %s", strings.Join(got, " "), want)
	}
	proj := p.Nodes[2]
	if proj.Parallelism != 3 || proj.Schema.Field(1).Name != "eur" || proj.Schema.Field(1).Type.Name() != "float64" {
		t.Fatalf("proj = x%d %s", proj.Parallelism, proj.Schema)
	}
	if e := proj.Inputs[0]; len(e.Keys) != 1 || e.From.Schema.Field(e.Keys[0]).Name != "bidder" {
		t.Fatalf("hash keys = %v", e.Keys)
	}
}

// The LSM settings of a job file reach the plan; unset ones get defaults.
func TestStateBackendSettings(t *testing.T) {
	for _, tc := range []struct {
		state           string
		bytes, entries  int64
		blockCacheBytes int64
	}{
		{"", plan.DefaultMemtableBytes, plan.DefaultMemtableEntries, plan.DefaultBlockCacheBytes},
		{`state: {lsm: {url: "file:///tmp/st", memtable_bytes: 65536, memtable_entries: 1000, block_cache_bytes: 4096}}`, 65536, 1000, 4096},
	} {
		spec, err := plan.ParseJobFile([]byte(validJob + tc.state + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		st := p.State
		if st.Kind != plan.BackendLSM || st.MemtableBytes != tc.bytes || st.MemtableEntries != tc.entries || st.BlockCacheBytes != tc.blockCacheBytes {
			t.Errorf("%q: state %+v, want lsm, memtable %d bytes, %d entries, block cache %d", tc.state, st, tc.bytes, tc.entries, tc.blockCacheBytes)
		}
	}
}

// TestBuilderMatchesJobFile checks that the Go builder produces the same spec
// as the job file.
func TestBuilderMatchesJobFile(t *testing.T) {
	fromFile, err := plan.ParseJobFile([]byte(validJob))
	if err != nil {
		t.Fatal(err)
	}
	env := stream.NewEnv("t").SetParallelism(2)
	env.FromSource("bid", "nexmark", stream.Options{"stream": "bid", "events": 1000}).
		Filter("MOD(auction, 123) = 0").Name("keep").
		KeyBy("bidder").Name("by_bidder").
		Select(stream.Col("auction"), stream.As("eur", "0.908 * price")).Name("proj").SetParallelism(3).
		SinkTo("out", "blackhole", nil)
	built, err := env.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(fromFile, built) {
		a, _ := plan.MarshalJobFile(fromFile)
		b, _ := plan.MarshalJobFile(built)
		t.Fatalf("builder spec differs from the job file:\n%s\nvs\n%s", a, b)
	}
	// And the YAML rendering parses back to the same spec.
	y, err := plan.MarshalJobFile(built)
	if err != nil {
		t.Fatal(err)
	}
	back, err := plan.ParseJobFile(y)
	if err != nil || !proto.Equal(back, built) {
		t.Fatalf("round trip: %v\n%s", err, y)
	}
}

func TestBadJobs(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := `{id: bid, source: {connector: nexmark, options: {stream: bid, events: 10}}}`
	sink := func(in string) string { return `{id: out, inputs: [` + in + `], sink: {connector: blackhole}}` }
	job := func(nodes ...string) string { return "name: j\nnodes:\n  - " + strings.Join(nodes, "\n  - ") + "\n" }
	for _, tc := range []struct {
		name string
		file string
		want []string // every substring must appear in the error
	}{
		{"malformed yaml", "name: [unclosed", []string{"not valid YAML"}},
		{"empty file", "", []string{"empty"}},
		{"unknown field", "name: j\nnodez: []\n", []string{"unknown field", "nodez"}},
		{"wrong type", "name: j\nparallelism: many\n", []string{"parallelism"}},
		{"missing name", "nodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"name: a job needs a name"}},
		{"no nodes", "name: j\n", []string{"nodes:"}},
		{"unknown source", job(`{id: s, source: {connector: kafkaa}}`, sink("s")), []string{`nodes[0] "s"`, `unknown source connector "kafkaa"`, "nexmark"}},
		{"unknown sink", job(src, `{id: out, inputs: [bid], sink: {connector: nope}}`), []string{`unknown sink connector "nope"`, "blackhole"}},
		{"unknown option", job(`{id: s, source: {connector: nexmark, options: {evnts: 5}}}`, sink("s")), []string{`option "evnts"`, "unknown option"}},
		{"bad option value", job(`{id: s, source: {connector: nexmark, options: {events: -5}}}`, sink("s")), []string{"events", "-5"}},
		{"duplicate id", job(src, `{id: bid, inputs: [bid], filter: {condition: "true"}}`, sink("bid")), []string{`id "bid" is already used`}},
		{"bad id", job(`{id: "1 bad", source: {connector: nexmark}}`, sink(`"1 bad"`)), []string{`id "1 bad" must start with a letter`}},
		{"unknown input", job(src, sink("bids")), []string{`no node has id "bids"`}},
		{"unknown side output", job(src, sink(`"bid:late"`)), []string{`"bid:late": node "bid" has no side output "late"`}},
		{"no kind", job(src, `{id: x, inputs: [bid]}`, sink("x")), []string{`nodes[1] "x": no kind set`}},
		{"cycle", job(src, `{id: a, inputs: [b], filter: {condition: "true"}}`, `{id: b, inputs: [a], filter: {condition: "true"}}`, sink("b")), []string{"cycle"}},
		{"dangling node", job(src, `{id: x, inputs: [bid], filter: {condition: "true"}}`, sink("bid")), []string{`nodes[1] "x": nothing consumes`}},
		{"no sink", job(src, `{id: x, inputs: [bid], filter: {condition: "true"}}`), []string{"nothing consumes", "at least one sink"}},
		{"type error", job(src, `{id: x, inputs: [bid], project: {columns: [{name: p, expr: "price * 'a'"}]}}`, sink("x")), []string{`nodes[1] "x": project.columns[0].expr`, "price * 'a'"}},
		{"unknown column", job(src, `{id: x, inputs: [bid], filter: {condition: "prce > 5"}}`, sink("x")), []string{`filter.condition`, "prce"}},
		{"non-boolean filter", job(src, `{id: x, inputs: [bid], filter: {condition: "price + 1"}}`, sink("x")), []string{`filter.condition`, "want boolean"}},
		{"unnamed computed column", job(src, `{id: x, inputs: [bid], project: {columns: [{expr: "price + 1"}]}}`, sink("x")), []string{"needs a name"}},
		{"duplicate column", job(src, `{id: x, inputs: [bid], project: {columns: [{expr: price}, {name: price, expr: "price + 1"}]}}`, sink("x")), []string{`"price" is already the name`}},
		{"unknown key", job(src, `{id: k, inputs: [bid], key_by: {keys: [bidr]}}`, sink("k")), []string{`key_by.keys[0]: no column "bidr"`, "bidder"}},
		{"parallelism above max", "name: j\nmax_parallelism: 4\nparallelism: 8\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"parallelism: 8"}},
		{"checkpoints on memory state", "name: j\nstate: {memory: {}}\ncheckpoints: {interval: 1s}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"checkpoints:", "memory state backend"}},
		{"checkpoint interval missing", "name: j\ncheckpoints: {retained: 2}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"checkpoints.interval: required"}},
		{"checkpoint interval too short", "name: j\ncheckpoints: {interval: 0.001s}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"checkpoints.interval: 1ms"}},
		{"bad checkpoint counts", "name: j\ncheckpoints: {interval: 1s, max_concurrent: -1, retained: 5000}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"checkpoints.max_concurrent: -1", "checkpoints.retained: 5000"}},
		{"lsm without url", "name: j\nstate: {lsm: {cache_bytes: 5}}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"state.lsm.url: an object storage URL is required", "state.lsm.cache_bytes: 5 is set but cache_dir is empty"}},
		{"bad memtable sizes", "name: j\nstate: {lsm: {url: \"file:///tmp/st\", memtable_bytes: 100, memtable_entries: -2}}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"state.lsm.memtable_bytes: 100 is out of range", "state.lsm.memtable_entries: -2 must not be negative"}},
		{"restart without attempts", "name: j\nrestart: {fixed_delay: {delay: 1s}}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"fixed_delay.attempts", "at least 1"}},
		{"bad failure rate", "name: j\nrestart: {failure_rate: {max_failures: 0}}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"failure_rate.max_failures"}},
		{"negative batch size", "name: j\nruntime: {batch_size: -1}\nnodes:\n  - " + src + "\n  - " + sink("bid") + "\n", []string{"runtime.batch_size: -1"}},
		{"unwritable output path", job(src, `{id: out, inputs: [bid], sink: {connector: file, options: {path: "`+notDir+`/sub"}}}`), []string{`option "path"`, notDir, "not a directory"}},
		{"several problems", "nodes:\n  - {id: s, source: {connector: nope}}\n  - {id: s, inputs: [s], sink: {connector: blackhole}}\n", []string{"name:", `id "s" is already used`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := plan.ParseJobFile([]byte(tc.file))
			if err == nil {
				_, err = plan.Build(spec)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}
