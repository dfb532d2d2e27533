package checkpoint

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// FormatVersion is the version of the metadata format this build writes
// and reads.
const FormatVersion = 1

// ErrCorrupt is wrapped by errors for metadata that cannot be decoded or
// is inconsistent.
var ErrCorrupt = errors.New("checkpoint: corrupt metadata")

// Metadata describes one completed checkpoint, savepoint or final commit:
// everything a job needs to resume from it. It is stored as JSON.
type Metadata struct {
	// FormatVersion is set by Encode; Decode rejects other versions.
	FormatVersion int    `json:"format_version"`
	Job           string `json:"job"`
	ID            uint64 `json:"id"`
	Kind          Kind   `json:"kind"`
	// Attempt is the number of the job attempt that took the checkpoint.
	Attempt     uint64    `json:"attempt"`
	TriggeredAt time.Time `json:"triggered_at"`
	CompletedAt time.Time `json:"completed_at"`
	// MaxParallelism is the job's number of key groups; it cannot change
	// across a restore.
	MaxParallelism int        `json:"max_parallelism"`
	Operators      []Operator `json:"operators"`
	// StateBackend names the backend and its location, for people.
	StateBackend string          `json:"state_backend,omitempty"`
	Positions    []SplitPosition `json:"positions,omitempty"`
	States       []StateHandle   `json:"states,omitempty"`
	// Txns are the sink transactions the checkpoint commits.
	Txns []SinkTxn `json:"txns,omitempty"`
}

// Encode returns md as indented JSON with FormatVersion set. It sorts
// Positions, States and Txns so equal metadata encodes to equal bytes.
func (md *Metadata) Encode() ([]byte, error) {
	if err := md.validate(); err != nil {
		return nil, err
	}
	c := *md
	c.FormatVersion = FormatVersion
	c.Positions = slices.Clone(md.Positions)
	c.States = slices.Clone(md.States)
	c.Txns = slices.Clone(md.Txns)
	c.sort()
	return json.MarshalIndent(&c, "", "  ")
}

func (md *Metadata) sort() {
	slices.SortStableFunc(md.Positions, func(a, b SplitPosition) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Split, b.Split))
	})
	slices.SortStableFunc(md.States, func(a, b StateHandle) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Subtask, b.Subtask))
	})
	slices.SortStableFunc(md.Txns, compareTxn)
}

func compareTxn(a, b SinkTxn) int {
	return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Subtask, b.Subtask),
		cmp.Compare(a.Checkpoint, b.Checkpoint), bytes.Compare(a.Txn, b.Txn))
}

// Decode parses metadata written by Encode. A different format version or
// an inconsistent content fails with an error wrapping ErrCorrupt that says
// what is wrong.
func Decode(data []byte) (*Metadata, error) {
	var v struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrCorrupt, err)
	}
	if v.FormatVersion == nil {
		return nil, fmt.Errorf("%w: no format_version", ErrCorrupt)
	}
	if *v.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%w: format_version %d; this build reads version %d", ErrCorrupt, *v.FormatVersion, FormatVersion)
	}
	md := new(Metadata)
	if err := json.Unmarshal(data, md); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := md.validate(); err != nil {
		return nil, err
	}
	return md, nil
}

// validate checks that md is self-consistent.
func (md *Metadata) validate() error {
	var err error
	bad := func(format string, args ...any) {
		err = errors.Join(err, fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...)))
	}
	if md.Job == "" {
		bad("job is empty")
	}
	if md.ID == 0 {
		bad("id is 0")
	}
	switch md.Kind {
	case Periodic, Savepoint, Final:
	default:
		bad("kind %q is not %q, %q or %q", md.Kind, Periodic, Savepoint, Final)
	}
	for _, e := range checkOperators(md.Operators, md.MaxParallelism) {
		bad("%s", e)
	}
	ops := make(map[string]Operator, len(md.Operators))
	for _, op := range md.Operators {
		ops[op.ID] = op
	}
	for _, p := range md.Positions {
		if _, ok := ops[p.Node]; !ok {
			bad("position of split %q names node %q, which is not an operator", p.Split, p.Node)
		}
	}
	type shard struct {
		node    string
		subtask int
	}
	seen := map[shard]bool{}
	for _, s := range md.States {
		op, ok := ops[s.Node]
		switch {
		case !ok:
			bad("state handle names node %q, which is not an operator", s.Node)
		case s.Subtask < 0 || s.Subtask >= op.Parallelism:
			bad("state handle of node %q: subtask %d is not in [0, parallelism %d)", s.Node, s.Subtask, op.Parallelism)
		case seen[shard{s.Node, s.Subtask}]:
			bad("state handle of node %q subtask %d is listed twice", s.Node, s.Subtask)
		}
		seen[shard{s.Node, s.Subtask}] = true
	}
	for _, t := range md.Txns {
		if _, ok := ops[t.Node]; !ok {
			bad("transaction names node %q, which is not an operator", t.Node)
		}
	}
	return err
}

// checkOperators returns what is wrong with a job's operator list.
func checkOperators(ops []Operator, maxParallelism int) []string {
	var errs []string
	if maxParallelism < 1 {
		errs = append(errs, fmt.Sprintf("max_parallelism %d is less than 1", maxParallelism))
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if op.ID == "" {
			errs = append(errs, "an operator has an empty id")
			continue
		}
		if seen[op.ID] {
			errs = append(errs, fmt.Sprintf("operator %q is listed twice", op.ID))
		}
		seen[op.ID] = true
		if op.Parallelism < 1 || op.Parallelism > maxParallelism {
			errs = append(errs, fmt.Sprintf("operator %q: parallelism %d is not in [1, max_parallelism %d]", op.ID, op.Parallelism, maxParallelism))
		}
	}
	return errs
}

// Compatible reports whether a job with operators ops and max parallelism
// maxParallelism can resume from md. Every operator of md that holds state
// (it is Stateful, or md has positions or state handles for it) must exist
// in ops with the same Kind and Signature, still stateful; its parallelism
// may differ (the job is rescaled). The error joins one error per mismatch,
// each naming the node and what differs. Operators of ops that md lacks start empty.
func (md *Metadata) Compatible(ops []Operator, maxParallelism int) error {
	var errs []error
	if md.MaxParallelism != maxParallelism {
		errs = append(errs, fmt.Errorf("max parallelism is %d in checkpoint %d and %d in the job; key groups cannot change", md.MaxParallelism, md.ID, maxParallelism))
	}
	holds := map[string]bool{}
	for _, p := range md.Positions {
		holds[p.Node] = true
	}
	for _, s := range md.States {
		holds[s.Node] = true
	}
	now := make(map[string]Operator, len(ops))
	for _, op := range ops {
		now[op.ID] = op
	}
	old := slices.Clone(md.Operators)
	slices.SortFunc(old, func(a, b Operator) int { return cmp.Compare(a.ID, b.ID) })
	for _, o := range old {
		if !o.Stateful && !holds[o.ID] {
			continue
		}
		n, ok := now[o.ID]
		if !ok {
			errs = append(errs, fmt.Errorf("node %q (%s) has state in checkpoint %d but is not in the job; its state would be lost", o.ID, o.Kind, md.ID))
			continue
		}
		if n.Kind != o.Kind {
			errs = append(errs, fmt.Errorf("node %q: kind is %q in checkpoint %d and %q in the job", o.ID, o.Kind, md.ID, n.Kind))
		}
		if n.Signature != o.Signature {
			errs = append(errs, fmt.Errorf("node %q: state signature is %q in checkpoint %d and %q in the job", o.ID, o.Signature, md.ID, n.Signature))
		}
		if o.Stateful && !n.Stateful {
			errs = append(errs, fmt.Errorf("node %q has state in checkpoint %d but is not stateful in the job", o.ID, md.ID))
		}
	}
	return errors.Join(errs...)
}
