package plan

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/expr"
	"github.com/sluicedata/sluice/compute/operator"
	"github.com/sluicedata/sluice/compute/restart"
	"github.com/sluicedata/sluice/connectors"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// Defaults for JobSpec fields left at zero.
const (
	DefaultMaxParallelism  = 256
	DefaultParallelism     = 1
	DefaultBatchSize       = 4096
	DefaultLinger          = 100 * time.Millisecond
	DefaultChannelCapacity = 8
	maxBatchSize           = 1 << 20
)

// Kind is the role of a node in the physical plan.
type Kind int

const (
	// Source nodes read splits from a connector.
	Source Kind = iota
	// Transform nodes run an operator.
	Transform
	// Sink nodes write to a connector.
	Sink
)

func (k Kind) String() string {
	switch k {
	case Source:
		return "source"
	case Transform:
		return "transform"
	case Sink:
		return "sink"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Partitioning says how rows cross an edge.
type Partitioning int

const (
	// Forward sends subtask i's output to subtask i of the next node. Both
	// nodes have the same parallelism.
	Forward Partitioning = iota
	// Rebalance spreads batches round-robin over the next node's subtasks.
	Rebalance
	// Hash sends each row to the subtask owning the key group of its key.
	Hash
)

func (p Partitioning) String() string {
	switch p {
	case Forward:
		return "forward"
	case Rebalance:
		return "rebalance"
	case Hash:
		return "hash"
	}
	return fmt.Sprintf("partitioning(%d)", int(p))
}

// Plan is a validated, typed job ready to execute.
type Plan struct {
	// Name is the job's name.
	Name string
	// MaxParallelism is the number of key groups.
	MaxParallelism int
	// BatchSize is the maximum number of rows in a batch.
	BatchSize int
	// Linger is how long a partial batch may wait.
	Linger time.Duration
	// ChannelCapacity is the number of batches buffered per channel.
	ChannelCapacity int
	// Nodes are in topological order: every node comes after its inputs.
	Nodes []*Node
	// State is where stateful operators keep their state.
	State StateBackend
	// Checkpoints is the checkpoint policy; zero when the job takes none
	// (a zero Interval: no periodic checkpoints).
	Checkpoints checkpoint.Config
	// NewRestart returns a fresh instance of the job's restart strategy.
	NewRestart func() restart.Strategy
}

// Node is one physical node: a source, an operator or a sink.
type Node struct {
	ID          string
	Kind        Kind
	Parallelism int
	// Schema is the schema of the node's output; for a sink, of its input.
	Schema *arrow.Schema
	// Inputs and Outputs are the edges into and out of the node.
	Inputs, Outputs []*Edge

	// Source is set for Source nodes.
	Source connectors.Source
	// Sink is set for Sink nodes.
	Sink connectors.Sink
	// NewOperator builds one operator instance per subtask of a Transform node.
	NewOperator func() (compute.Operator, error)
	// Watermark is the event-time strategy of a Source node; nil when the
	// source has no event time.
	Watermark *WatermarkStrategy
	// SideOutputs are the schemas of the node's side outputs, by tag.
	SideOutputs map[string]*arrow.Schema
	// InputKeys[i], when set, are key columns of input i that the node needs
	// that input hash-partitioned by (a keyed operator such as a window or a
	// join).
	InputKeys [][]int
	// Stateful is set for nodes that keep keyed state; Signature then
	// identifies the layout of that state (see checkpoint compatibility).
	Stateful  bool
	Signature string
}

// WatermarkStrategy says how a source derives event time and watermarks.
type WatermarkStrategy struct {
	// Column is the index of the event-time column (a timestamp).
	Column int
	// Delay is the bounded out-of-orderness: watermark = max time - Delay.
	Delay time.Duration
	// Expr, when set, computes each row's watermark candidate instead.
	Expr *expr.Expr
	// IdleTimeout marks a split idle after this long without rows; zero: never.
	IdleTimeout time.Duration
	// AlignGroup, when set, aligns the watermark with the other sources of
	// the group: a subtask more than MaxDrift ahead of the group's slowest
	// active subtask pauses (see WatermarkAlignment in job.proto).
	AlignGroup string
	MaxDrift   time.Duration
}

// Edge connects two nodes.
type Edge struct {
	From, To     *Node
	Partitioning Partitioning
	// Keys are the key column indices in From's schema, for Hash edges.
	Keys []int
	// Tag names the side output of From that the edge carries; empty for
	// the main output.
	Tag string
}

// splitInput splits an input reference "id" or "id:tag".
func splitInput(in string) (id, tag string) {
	if i := strings.LastIndexByte(in, ':'); i >= 0 {
		return in[:i], in[i+1:]
	}
	return in, ""
}

var idPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Build validates spec and returns its plan. The error, if any, lists every
// problem found.
func Build(spec *sluicev1.JobSpec) (*Plan, error) {
	if spec == nil {
		return nil, errors.New("job spec is empty")
	}
	b := &builder{spec: spec, byID: map[string]int{}}
	b.checkJob()
	b.checkDurability()
	b.checkGraph()
	if b.err != nil {
		return nil, b.err
	}
	b.typeNodes()
	if b.err != nil {
		return nil, b.err
	}
	b.physical()
	if b.err != nil {
		return nil, b.err
	}
	return b.plan, nil
}

type builder struct {
	spec *sluicev1.JobSpec
	err  error
	plan *Plan

	byID  map[string]int
	order []int // topological order of spec.Nodes indices
	// per spec node, filled by typeNodes
	schemas   []*arrow.Schema
	phys      []*Node // nil for partitioning nodes
	consumers [][]int
}

func (b *builder) fail(format string, args ...any) {
	b.err = errors.Join(b.err, fmt.Errorf(format, args...))
}

func nodeRef(i int, n *sluicev1.Node) string {
	if n.GetId() == "" {
		return fmt.Sprintf("nodes[%d]", i)
	}
	return fmt.Sprintf("nodes[%d] %q", i, n.GetId())
}

func (b *builder) checkJob() {
	s := b.spec
	p := &Plan{
		Name:            s.GetName(),
		MaxParallelism:  int(s.GetMaxParallelism()),
		BatchSize:       int(s.GetRuntime().GetBatchSize()),
		ChannelCapacity: int(s.GetRuntime().GetChannelCapacity()),
		Linger:          DefaultLinger,
	}
	b.plan = p
	if strings.TrimSpace(p.Name) == "" {
		b.fail("name: a job needs a name")
	}
	if p.MaxParallelism == 0 {
		p.MaxParallelism = DefaultMaxParallelism
	}
	if p.MaxParallelism < 1 || p.MaxParallelism > exchange.MaxKeyGroups {
		b.fail("max_parallelism: %d is out of range [1, %d]", s.GetMaxParallelism(), exchange.MaxKeyGroups)
	}
	if par := s.GetParallelism(); par < 0 || int(par) > p.MaxParallelism {
		b.fail("parallelism: %d is out of range [1, max_parallelism %d]", par, p.MaxParallelism)
	}
	if p.BatchSize == 0 {
		p.BatchSize = DefaultBatchSize
	}
	if p.BatchSize < 1 || p.BatchSize > maxBatchSize {
		b.fail("runtime.batch_size: %d is out of range [1, %d]", p.BatchSize, maxBatchSize)
	}
	if l := s.GetRuntime().GetLinger(); l != nil {
		if err := l.CheckValid(); err != nil {
			b.fail("runtime.linger: %v", err)
		} else if d := l.AsDuration(); d <= 0 {
			b.fail("runtime.linger: %s must be positive", d)
		} else {
			p.Linger = d
		}
	}
	if p.ChannelCapacity == 0 {
		p.ChannelCapacity = DefaultChannelCapacity
	}
	if p.ChannelCapacity < 1 || p.ChannelCapacity > 1<<16 {
		b.fail("runtime.channel_capacity: %d is out of range [1, 65536]", p.ChannelCapacity)
	}
}

func (b *builder) parallelism(n *sluicev1.Node) int {
	if n.GetParallelism() > 0 {
		return int(n.GetParallelism())
	}
	if b.spec.GetParallelism() > 0 {
		return int(b.spec.GetParallelism())
	}
	return DefaultParallelism
}

// checkGraph checks ids, kinds and inputs, and orders the nodes.
func (b *builder) checkGraph() {
	nodes := b.spec.GetNodes()
	if len(nodes) == 0 {
		b.fail("nodes: a job needs at least a source and a sink")
		return
	}
	for i, n := range nodes {
		ref := nodeRef(i, n)
		switch id := n.GetId(); {
		case id == "":
			b.fail("%s: id is required", ref)
		case !idPattern.MatchString(id):
			b.fail("%s: id %q must start with a letter or _ and contain only letters, digits, _, . and -", ref, id)
		default:
			if j, dup := b.byID[id]; dup {
				b.fail("%s: id %q is already used by nodes[%d]", ref, id, j)
			} else {
				b.byID[id] = i
			}
		}
		if n.GetParallelism() < 0 {
			b.fail("%s: parallelism: %d must not be negative", ref, n.GetParallelism())
		} else if max := b.plan.MaxParallelism; b.parallelism(n) > max {
			b.fail("%s: parallelism: %d exceeds max_parallelism %d", ref, b.parallelism(n), max)
		}
		switch n.GetKind().(type) {
		case nil:
			b.fail("%s: no kind set; set one of source, filter, project, key_by, rebalance, sink", ref)
		case *sluicev1.Node_Source:
			if len(n.GetInputs()) > 0 {
				b.fail("%s: inputs: a source has no inputs, got %q", ref, n.GetInputs())
			}
		case *sluicev1.Node_Join:
			if len(n.GetInputs()) != 2 {
				b.fail("%s: inputs: a join needs two inputs (left, right), got %d", ref, len(n.GetInputs()))
			}
		default:
			if len(n.GetInputs()) != 1 {
				b.fail("%s: inputs: needs exactly one input, got %d", ref, len(n.GetInputs()))
			}
		}
	}
	if b.err != nil {
		return
	}
	b.consumers = make([][]int, len(nodes))
	indeg := make([]int, len(nodes))
	for i, n := range nodes {
		for _, in := range n.GetInputs() {
			id, _ := splitInput(in)
			j, ok := b.byID[id]
			if !ok {
				b.fail("%s: inputs: no node has id %q", nodeRef(i, n), id)
				continue
			}
			b.consumers[j] = append(b.consumers[j], i)
			indeg[i]++
		}
	}
	if b.err != nil {
		return
	}
	// Kahn's algorithm, stable in spec order.
	var ready []int
	for i := range nodes {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		b.order = append(b.order, i)
		for _, c := range b.consumers[i] {
			if indeg[c]--; indeg[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	if len(b.order) != len(nodes) {
		var cyc []string
		for i, d := range indeg {
			if d > 0 {
				cyc = append(cyc, nodes[i].GetId())
			}
		}
		b.fail("nodes: the graph has a cycle through %q", cyc)
		return
	}
	hasSink := false
	for i, n := range nodes {
		_, isSink := n.GetKind().(*sluicev1.Node_Sink)
		hasSink = hasSink || isSink
		if !isSink && len(b.consumers[i]) == 0 {
			b.fail("%s: nothing consumes this node's output; connect it to a sink", nodeRef(i, n))
		}
		if isSink && len(b.consumers[i]) > 0 {
			b.fail("%s: a sink has no output, but %d node(s) read it", nodeRef(i, n), len(b.consumers[i]))
		}
	}
	if !hasSink {
		b.fail("nodes: a job needs at least one sink")
	}
}

// typeNodes resolves connectors, compiles expressions and computes schemas.
func (b *builder) typeNodes() {
	nodes := b.spec.GetNodes()
	b.schemas = make([]*arrow.Schema, len(nodes))
	b.phys = make([]*Node, len(nodes))
	for _, i := range b.order {
		n := nodes[i]
		ref := nodeRef(i, n)
		ins := make([]*arrow.Schema, len(n.GetInputs()))
		typed := true
		for k, input := range n.GetInputs() {
			id, tag := splitInput(input)
			j := b.byID[id]
			switch {
			case tag == "":
				ins[k] = b.schemas[j]
			case b.phys[j] == nil && b.schemas[j] != nil:
				b.fail("%s: inputs: %q: node %q has no side outputs", ref, input, id)
			case b.phys[j] != nil:
				if ins[k] = b.phys[j].SideOutputs[tag]; ins[k] == nil {
					b.fail("%s: inputs: %q: node %q has no side output %q", ref, input, id, tag)
				}
			}
			typed = typed && ins[k] != nil
		}
		var in *arrow.Schema
		if len(ins) > 0 {
			in = ins[0]
		}
		_, isSink := n.GetKind().(*sluicev1.Node_Sink)
		if !typed && !isSink {
			continue // an input failed to type, and that error is reported
		}
		phys := &Node{ID: n.GetId(), Kind: Transform, Parallelism: b.parallelism(n)}
		switch k := n.GetKind().(type) {
		case *sluicev1.Node_Source:
			src, err := connectors.NewSource(k.Source.GetConnector(), k.Source.GetOptions().AsMap())
			if err != nil {
				b.fail("%s: %w", ref, err)
				continue
			}
			phys.Kind, phys.Source, phys.Schema = Source, src, src.Schema()
			if wm := k.Source.GetWatermark(); wm != nil {
				strategy, ok := b.watermark(ref, wm, phys.Schema)
				if !ok {
					continue
				}
				phys.Watermark = strategy
			}
		case *sluicev1.Node_Filter:
			cond := k.Filter.GetCondition()
			if strings.TrimSpace(cond) == "" {
				b.fail("%s: filter.condition: a condition is required", ref)
				continue
			}
			pred, err := expr.Compile(cond, in)
			if err != nil {
				b.fail("%s: filter.condition: %w", ref, err)
				continue
			}
			if pred.DataType().ID() != arrow.BOOL {
				b.fail("%s: filter.condition: %q has type %s, want boolean", ref, cond, pred.DataType())
				continue
			}
			phys.Schema = in
			phys.NewOperator = func() (compute.Operator, error) { return operator.NewFilter(pred), nil }
		case *sluicev1.Node_Project:
			schema, exprs, ok := b.project(ref, k.Project, in)
			if !ok {
				continue
			}
			phys.Schema = schema
			phys.NewOperator = func() (compute.Operator, error) { return operator.NewProject(schema, exprs) }
		case *sluicev1.Node_KeyBy:
			keys := k.KeyBy.GetKeys()
			if len(keys) == 0 {
				b.fail("%s: key_by.keys: at least one key column is required", ref)
				continue
			}
			if _, ok := b.keyColumns(ref, keys, in); !ok {
				continue
			}
			phys = nil
		case *sluicev1.Node_Rebalance:
			phys = nil
		case *sluicev1.Node_Window:
			wp, err := operator.PlanWindow(k.Window, in)
			if err != nil {
				b.fail("%s: window: %w", ref, err)
				continue
			}
			phys.Schema, phys.SideOutputs, phys.NewOperator = wp.Schema, wp.SideOutputs, wp.NewOperator
			phys.InputKeys = [][]int{wp.Keys}
			if len(wp.Keys) == 0 && phys.Parallelism != 1 {
				if n.GetParallelism() > 1 {
					b.fail("%s: parallelism: %d, but a window without keys runs as one subtask", ref, n.GetParallelism())
					continue
				}
				phys.Parallelism = 1
			}
		case *sluicev1.Node_Join:
			jp, err := operator.PlanJoin(k.Join, ins[0], ins[1])
			if err != nil {
				b.fail("%s: join: %w", ref, err)
				continue
			}
			phys.Schema, phys.SideOutputs, phys.NewOperator = jp.Schema, jp.SideOutputs, jp.NewOperator
			phys.InputKeys = [][]int{jp.LeftKeys, jp.RightKeys}
		case *sluicev1.Node_Aggregate:
			ap, err := operator.PlanAggregate(k.Aggregate, in)
			if err != nil {
				b.fail("%s: aggregate: %w", ref, err)
				continue
			}
			phys.Schema, phys.NewOperator = ap.Schema, ap.NewOperator
			phys.InputKeys = [][]int{ap.Keys}
		case *sluicev1.Node_TopN:
			tp, err := operator.PlanTopN(k.TopN, in)
			if err != nil {
				b.fail("%s: top_n: %w", ref, err)
				continue
			}
			phys.Schema, phys.NewOperator = tp.Schema, tp.NewOperator
			phys.InputKeys = [][]int{tp.Keys}
		case *sluicev1.Node_Sink:
			sink, err := connectors.NewSink(k.Sink.GetConnector(), k.Sink.GetOptions().AsMap())
			if err != nil {
				b.fail("%s: %w", ref, err)
				continue
			}
			if in == nil {
				continue // options checked; the input's error is reported
			}
			if err := sink.Check(in); err != nil {
				b.fail("%s: sink %q: %w", ref, k.Sink.GetConnector(), err)
				continue
			}
			phys.Kind, phys.Sink, phys.Schema = Sink, sink, in
		}
		if phys == nil {
			b.schemas[i] = in
			continue
		}
		b.schemas[i] = phys.Schema
		phys.Stateful, phys.Signature = stateful(n)
		b.phys[i] = phys
	}
}

func (b *builder) watermark(ref string, wm *sluicev1.WatermarkSpec, schema *arrow.Schema) (*WatermarkStrategy, bool) {
	s := &WatermarkStrategy{}
	ok := true
	idx := schema.FieldIndices(wm.GetColumn())
	switch {
	case wm.GetColumn() == "":
		b.fail("%s: source.watermark.column: the event-time column is required", ref)
		ok = false
	case len(idx) == 0:
		b.fail("%s: source.watermark.column: no column %q in the source (columns: %s)", ref, wm.GetColumn(), columnNames(schema))
		ok = false
	case schema.Field(idx[0]).Type.ID() != arrow.TIMESTAMP:
		b.fail("%s: source.watermark.column: column %q has type %s, want a timestamp", ref, wm.GetColumn(), schema.Field(idx[0]).Type)
		ok = false
	default:
		s.Column = idx[0]
	}
	if d := wm.GetMaxOutOfOrderness(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 {
			b.fail("%s: source.watermark.max_out_of_orderness: %s must be a non-negative duration", ref, d.AsDuration())
			ok = false
		}
		s.Delay = d.AsDuration()
	}
	if src := wm.GetExpr(); src != "" {
		if s.Delay != 0 {
			b.fail("%s: source.watermark: set either max_out_of_orderness or expr, not both", ref)
			ok = false
		}
		e, err := expr.Compile(src, schema)
		switch {
		case err != nil:
			b.fail("%s: source.watermark.expr: %w", ref, err)
			ok = false
		case e.DataType().ID() != arrow.TIMESTAMP:
			b.fail("%s: source.watermark.expr: %q has type %s, want a timestamp", ref, src, e.DataType())
			ok = false
		default:
			s.Expr = e
		}
	}
	if d := wm.GetIdleTimeout(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 {
			b.fail("%s: source.watermark.idle_timeout: %s must be a non-negative duration", ref, d.AsDuration())
			ok = false
		}
		s.IdleTimeout = d.AsDuration()
	}
	if a := wm.GetAlignment(); a != nil {
		if a.GetGroup() == "" {
			b.fail("%s: source.watermark.alignment.group: the group name is required", ref)
			ok = false
		}
		d := a.GetMaxDrift()
		if d == nil || d.CheckValid() != nil || d.AsDuration() <= 0 {
			b.fail("%s: source.watermark.alignment.max_drift: %s must be a positive duration", ref, d.AsDuration())
			ok = false
		} else {
			s.AlignGroup, s.MaxDrift = a.GetGroup(), d.AsDuration()
		}
	}
	return s, ok
}

func (b *builder) project(ref string, p *sluicev1.ProjectNode, in *arrow.Schema) (*arrow.Schema, []*expr.Expr, bool) {
	cols := p.GetColumns()
	if len(cols) == 0 {
		b.fail("%s: project.columns: at least one column is required", ref)
		return nil, nil, false
	}
	fields := make([]arrow.Field, 0, len(cols))
	exprs := make([]*expr.Expr, 0, len(cols))
	seen := map[string]int{}
	ok := true
	for j, c := range cols {
		field := fmt.Sprintf("%s: project.columns[%d]", ref, j)
		if strings.TrimSpace(c.GetExpr()) == "" {
			b.fail("%s.expr: an expression is required", field)
			ok = false
			continue
		}
		e, err := expr.Compile(c.GetExpr(), in)
		if err != nil {
			b.fail("%s.expr: %w", field, err)
			ok = false
			continue
		}
		name := c.GetName()
		nullable := true
		if idx, isCol := e.Column(); isCol {
			if name == "" {
				name = in.Field(idx).Name
			}
			nullable = in.Field(idx).Nullable
		}
		if name == "" {
			b.fail("%s.name: a computed column needs a name (expression %q)", field, c.GetExpr())
			ok = false
			continue
		}
		if k, dup := seen[name]; dup {
			b.fail("%s.name: %q is already the name of columns[%d]", field, name, k)
			ok = false
			continue
		}
		seen[name] = j
		fields = append(fields, arrow.Field{Name: name, Type: e.DataType(), Nullable: nullable})
		exprs = append(exprs, e)
	}
	if !ok {
		return nil, nil, false
	}
	return arrow.NewSchema(fields, nil), exprs, true
}

func (b *builder) keyColumns(ref string, keys []string, in *arrow.Schema) ([]int, bool) {
	idx := make([]int, 0, len(keys))
	ok := true
	for j, k := range keys {
		is := in.FieldIndices(k)
		if len(is) == 0 {
			b.fail("%s: key_by.keys[%d]: no column %q in the input (columns: %s)", ref, j, k, columnNames(in))
			ok = false
			continue
		}
		if err := exchange.CheckKeyType(in.Field(is[0]).Type); err != nil {
			b.fail("%s: key_by.keys[%d]: column %q: %w", ref, j, k, err)
			ok = false
			continue
		}
		idx = append(idx, is[0])
	}
	return idx, ok
}

func columnNames(s *arrow.Schema) string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// physical connects the physical nodes, folding partitioning nodes into edges.
func (b *builder) physical() {
	nodes := b.spec.GetNodes()
	for _, i := range b.order {
		to := b.phys[i]
		if to == nil {
			continue
		}
		b.plan.Nodes = append(b.plan.Nodes, to)
		for k, input := range nodes[i].GetInputs() {
			b.connect(to, k, input)
		}
	}
}

// connect adds the edge feeding input idx of node to, which the spec names
// ref ("id" or "id:tag").
func (b *builder) connect(to *Node, idx int, ref string) {
	nodes := b.spec.GetNodes()
	// Walk up through partitioning nodes; the one nearest to this node wins.
	e := &Edge{To: to, Partitioning: -1}
	id, tag := splitInput(ref)
	j := b.byID[id]
	for b.phys[j] == nil {
		if e.Partitioning < 0 {
			switch kind := nodes[j].GetKind().(type) {
			case *sluicev1.Node_KeyBy:
				e.Partitioning = Hash
				e.Keys, _ = b.keyColumns(nodeRef(j, nodes[j]), kind.KeyBy.GetKeys(), b.schemas[j])
			case *sluicev1.Node_Rebalance:
				e.Partitioning = Rebalance
			}
		}
		id, tag = splitInput(nodes[j].GetInputs()[0])
		j = b.byID[id]
	}
	e.From, e.Tag = b.phys[j], tag
	if idx < len(to.InputKeys) && to.InputKeys[idx] != nil { // a keyed operator: partition by its keys
		e.Partitioning, e.Keys = Hash, to.InputKeys[idx]
	}
	if e.Partitioning < 0 {
		e.Partitioning = Forward
		if e.From.Parallelism != to.Parallelism {
			e.Partitioning = Rebalance
		}
	}
	e.From.Outputs = append(e.From.Outputs, e)
	to.Inputs = append(to.Inputs, e)
}
