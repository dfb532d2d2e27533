// Package stream is the Go builder API for Sluice jobs, in the style of
// Flink's DataStream API. It produces the same protobuf JobSpec that job files
// describe, so a job built in Go can be saved, submitted and run like any
// other:
//
//	env := stream.NewEnv("q2")
//	env.FromSource("bid", "nexmark", stream.Options{"stream": "bid", "events": 1000000}).
//		Filter("MOD(auction, 123) = 0").
//		Select(stream.Col("auction"), stream.Col("price")).
//		SinkTo("out", "print", nil)
//	spec, err := env.Spec()
//
// The builder records what it is told; validation (ids, types, connectors)
// happens in plan.Build when the spec is submitted, so errors read the same
// whichever way the job was written. Node ids are derived from the operation
// ("filter-1") unless set with Name.
package stream

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// Options are connector options, as in a job file.
type Options map[string]any

// Env collects the nodes of one job.
type Env struct {
	spec   *sluicev1.JobSpec
	counts map[string]int
	err    error
}

// NewEnv starts a job with the given name.
func NewEnv(name string) *Env {
	return &Env{spec: &sluicev1.JobSpec{Name: name}, counts: map[string]int{}}
}

// SetParallelism sets the default parallelism of the job's nodes.
func (e *Env) SetParallelism(p int) *Env { e.spec.Parallelism = int32(p); return e }

// SetMaxParallelism sets the number of key groups.
func (e *Env) SetMaxParallelism(p int) *Env { e.spec.MaxParallelism = int32(p); return e }

// SetBatchSize sets the maximum rows per batch.
func (e *Env) SetBatchSize(n int) *Env { e.runtime().BatchSize = int32(n); return e }

// SetLinger sets how long a partial batch may wait.
func (e *Env) SetLinger(d time.Duration) *Env { e.runtime().Linger = durationpb.New(d); return e }

func (e *Env) runtime() *sluicev1.RuntimeOptions {
	if e.spec.Runtime == nil {
		e.spec.Runtime = &sluicev1.RuntimeOptions{}
	}
	return e.spec.Runtime
}

// Spec returns the job spec built so far, or the first error met while
// building it (for example options that are not representable in a job file).
func (e *Env) Spec() (*sluicev1.JobSpec, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.spec, nil
}

func (e *Env) add(kind string, inputs []string, n *sluicev1.Node) *sluicev1.Node {
	e.counts[kind]++
	n.Id = fmt.Sprintf("%s-%d", kind, e.counts[kind])
	n.Inputs = inputs
	e.spec.Nodes = append(e.spec.Nodes, n)
	return n
}

func (e *Env) options(o Options) *structpb.Struct {
	if o == nil {
		return nil
	}
	s, err := structpb.NewStruct(o)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("stream: options: %w", err)
	}
	return s
}

// FromSource adds a source node with the given id.
func (e *Env) FromSource(id, connector string, opts Options) *Stream {
	n := e.add("source", nil, &sluicev1.Node{Kind: &sluicev1.Node_Source{Source: &sluicev1.SourceNode{
		Connector: connector, Options: e.options(opts),
	}}})
	n.Id = id
	return &Stream{env: e, node: n}
}

// Stream is the output of one node (or one of its side outputs).
type Stream struct {
	env  *Env
	node *sluicev1.Node
	tag  string // side output; empty for the main output
}

// ref is how a consumer names this stream in its inputs.
func (s *Stream) ref() string {
	if s.tag == "" {
		return s.node.Id
	}
	return s.node.Id + ":" + s.tag
}

func errNotSource(id string) error {
	return fmt.Errorf("stream: WithWatermark on node %q, which is not a source", id)
}

// Name sets the node's id.
func (s *Stream) Name(id string) *Stream { s.node.Id = id; return s }

// SetParallelism sets the node's parallelism.
func (s *Stream) SetParallelism(p int) *Stream { s.node.Parallelism = int32(p); return s }

// ID returns the node's id.
func (s *Stream) ID() string { return s.node.Id }

func (s *Stream) then(kind string, n *sluicev1.Node) *Stream {
	return &Stream{env: s.env, node: s.env.add(kind, []string{s.ref()}, n)}
}

// Filter keeps the rows where condition is true.
func (s *Stream) Filter(condition string) *Stream {
	return s.then("filter", &sluicev1.Node{Kind: &sluicev1.Node_Filter{Filter: &sluicev1.FilterNode{Condition: condition}}})
}

// Column is one output column of Select.
type Column = *sluicev1.Column

// Col passes an input column through under its own name.
func Col(name string) Column { return &sluicev1.Column{Expr: quoteIdent(name)} }

// As computes a named column from an expression.
func As(name, expr string) Column { return &sluicev1.Column{Name: name, Expr: expr} }

// Select projects each row to the given columns.
func (s *Stream) Select(cols ...Column) *Stream {
	return s.then("project", &sluicev1.Node{Kind: &sluicev1.Node_Project{Project: &sluicev1.ProjectNode{Columns: cols}}})
}

// KeyBy partitions the stream by key columns; the next node receives each key
// on the subtask that owns its key group.
func (s *Stream) KeyBy(keys ...string) *Stream {
	return s.then("key_by", &sluicev1.Node{Kind: &sluicev1.Node_KeyBy{KeyBy: &sluicev1.KeyByNode{Keys: keys}}})
}

// Rebalance spreads the stream round-robin over the next node's subtasks.
func (s *Stream) Rebalance() *Stream {
	return s.then("rebalance", &sluicev1.Node{Kind: &sluicev1.Node_Rebalance{Rebalance: &sluicev1.RebalanceNode{}}})
}

// SinkTo writes the stream to a sink connector, as node id.
func (s *Stream) SinkTo(id, connector string, opts Options) *Stream {
	out := s.then("sink", &sluicev1.Node{Kind: &sluicev1.Node_Sink{Sink: &sluicev1.SinkNode{
		Connector: connector, Options: s.env.options(opts),
	}}})
	out.node.Id = id
	return out
}

var (
	plainIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	keywords   = map[string]bool{
		"and": true, "or": true, "not": true, "case": true, "when": true, "then": true, "else": true,
		"end": true, "is": true, "null": true, "in": true, "between": true, "like": true, "cast": true,
		"as": true, "true": true, "false": true, "mod": true, "div": true,
	}
)

// quoteIdent returns a column name as the expression language reads it:
// bare when that is unambiguous, double-quoted otherwise.
func quoteIdent(name string) string {
	if plainIdent.MatchString(name) && !keywords[strings.ToLower(name)] {
		return name
	}
	q := []byte{'"'}
	for i := 0; i < len(name); i++ {
		if name[i] == '"' {
			q = append(q, '"')
		}
		q = append(q, name[i])
	}
	return string(append(q, '"'))
}
