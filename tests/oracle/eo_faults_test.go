package oracle

// Faults injected into in-process attempts of the exactly-once test: a
// source whose readers fail, and a sink whose commits fail before, halfway
// through, or after committing.

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/connectors"
)

var errInjected = errors.New("oracle: injected failure")

// faults is the shared budget and randomness of one attempt's faults.
type faults struct {
	mu  sync.Mutex
	rng *rand.Rand
	// sourceFailures and commitFailures are how many failures remain.
	sourceFailures, commitFailures atomic.Int64
	injected                       atomic.Int64
}

func newFaults(seed uint64, source, commit int64) *faults {
	f := &faults{rng: rand.New(rand.NewPCG(seed, 0xfa17))}
	f.sourceFailures.Store(source)
	f.commitFailures.Store(commit)
	return f
}

// roll returns true with probability 1/n.
func (f *faults) roll(n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n) == 0
}

func (f *faults) intN(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

// take consumes one failure of a budget, if any is left.
func (f *faults) take(budget *atomic.Int64) bool {
	if budget.Add(-1) < 0 {
		budget.Add(1)
		return false
	}
	f.injected.Add(1)
	return true
}

// flakySource fails a reader's Next, now and then, while failures remain.
type flakySource struct {
	connectors.Source
	f *faults
}

func (s *flakySource) Open(ctx context.Context, sp connectors.Split, pos connectors.Position, opts connectors.ReadOptions) (connectors.SplitReader, error) {
	r, err := s.Source.Open(ctx, sp, pos, opts)
	if err != nil {
		return nil, err
	}
	return &flakyReader{SplitReader: r, f: s.f}, nil
}

type flakyReader struct {
	connectors.SplitReader
	f *faults
}

func (r *flakyReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.f.roll(200) && r.f.take(&r.f.sourceFailures) {
		return nil, errInjected
	}
	return r.SplitReader.Next(ctx)
}

// flakySink is a transactional sink whose committer fails now and then.
type flakySink struct {
	connectors.TransactionalSink
	f *faults
}

func (s *flakySink) Committer() connectors.Committer {
	return &flakyCommitter{inner: s.TransactionalSink.Committer(), f: s.f}
}

type flakyCommitter struct {
	inner connectors.Committer
	f     *faults
}

// Commit fails one commit in three while failures remain: before
// committing anything, after committing the first half of the
// transactions, or after committing all of them (as if the process had
// died before it learned of the success). The attempt then fails and the
// next one commits the checkpoint's transactions again in Recover.
func (c *flakyCommitter) Commit(ctx context.Context, txns []connectors.Txn) error {
	if !c.f.roll(3) || !c.f.take(&c.f.commitFailures) {
		return c.inner.Commit(ctx, txns)
	}
	switch c.f.intN(3) {
	case 0:
		return errInjected
	case 1:
		if err := c.inner.Commit(ctx, txns[:len(txns)/2]); err != nil {
			return err
		}
		return errInjected
	default:
		if err := c.inner.Commit(ctx, txns); err != nil {
			return err
		}
		return errInjected
	}
}

func (c *flakyCommitter) Recover(ctx context.Context, rc connectors.RecoverContext) error {
	return c.inner.Recover(ctx, rc)
}
