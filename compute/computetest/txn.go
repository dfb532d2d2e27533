package computetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/connectors"
)

// TxnCollector is a transactional sink (two-phase commit) that keeps rows in
// memory: a transaction's rows are staged under its id at PreCommit and
// become visible (Committed) only when the coordinator commits it. It
// survives job restarts within a test, like files in object storage, so
// exactly-once tests compare Committed with a run without failures.
type TxnCollector struct {
	mu struct {
		sync.Mutex
		staged    map[string][]Row // by transaction id
		committed map[string][]Row
		commits   int
	}
	// FailCommits, while positive, makes that many commits fail (each
	// decrements it), to inject faults into the commit phase.
	FailCommits atomic.Int64
}

var _ connectors.TransactionalSink = (*TxnCollector)(nil)

// NewTxnCollector returns an empty TxnCollector.
func NewTxnCollector() *TxnCollector {
	c := &TxnCollector{}
	c.mu.staged = map[string][]Row{}
	c.mu.committed = map[string][]Row{}
	return c
}

// Check implements connectors.Sink.
func (c *TxnCollector) Check(*arrow.Schema) error { return nil }

// Open implements connectors.Sink.
func (c *TxnCollector) Open(_ context.Context, sc connectors.SinkContext) (connectors.SinkWriter, error) {
	return &txnWriter{c: c, sc: sc}, nil
}

// Committer implements connectors.TransactionalSink.
func (c *TxnCollector) Committer() connectors.Committer { return txnCommitter{c} }

// Committed returns every committed row.
func (c *TxnCollector) Committed() []Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Row
	for _, rows := range c.mu.committed {
		out = append(out, rows...)
	}
	return out
}

// Staged returns the number of transactions staged and not committed.
func (c *TxnCollector) Staged() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.staged)
}

type txnWriter struct {
	c    *TxnCollector
	sc   connectors.SinkContext
	rows []Row
	seq  int
}

func (w *txnWriter) Write(_ context.Context, b arrow.RecordBatch) error {
	w.rows = append(w.rows, BatchRows(b)...)
	b.Release()
	return nil
}

// txnID names a transaction uniquely across attempts.
func (w *txnWriter) txnID(checkpoint uint64) string {
	w.seq++
	return fmt.Sprintf("%s/a%d/s%d/c%d/%d", w.sc.Job, w.sc.Attempt, w.sc.Subtask, checkpoint, w.seq)
}

func (w *txnWriter) PreCommit(_ context.Context, checkpoint uint64) (connectors.Txn, error) {
	if len(w.rows) == 0 {
		return nil, nil
	}
	id := w.txnID(checkpoint)
	w.c.mu.Lock()
	w.c.mu.staged[id] = w.rows
	w.c.mu.Unlock()
	w.rows = nil
	return json.Marshal(id)
}

// Flush commits at once: the job does not checkpoint.
func (w *txnWriter) Flush(ctx context.Context) error {
	txn, err := w.PreCommit(ctx, 0)
	if err != nil || txn == nil {
		return err
	}
	return w.c.Committer().Commit(ctx, []connectors.Txn{txn})
}

func (w *txnWriter) Close() error { return nil }

type txnCommitter struct{ c *TxnCollector }

func (t txnCommitter) Commit(_ context.Context, txns []connectors.Txn) error {
	if t.c.FailCommits.Load() > 0 && t.c.FailCommits.Add(-1) >= 0 {
		return fmt.Errorf("injected commit failure")
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for _, raw := range txns {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return fmt.Errorf("transaction %q: %w", raw, err)
		}
		if rows, ok := t.c.mu.staged[id]; ok {
			t.c.mu.committed[id] = rows
			delete(t.c.mu.staged, id)
			t.c.mu.commits++
			continue
		}
		if _, ok := t.c.mu.committed[id]; !ok {
			return fmt.Errorf("transaction %q: neither staged nor committed", id)
		}
	}
	return nil
}

func (t txnCommitter) Recover(ctx context.Context, rc connectors.RecoverContext) error {
	if err := t.Commit(ctx, rc.Txns); err != nil {
		return err
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for id := range t.c.mu.staged {
		if strings.HasPrefix(id, rc.Job+"/") {
			delete(t.c.mu.staged, id)
		}
	}
	return nil
}
