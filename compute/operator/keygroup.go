package operator

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute/state"
)

// keyGrouper groups the rows of a batch by their encoded key, reusing its
// buffers from batch to batch. Keyed operators (aggregate, top-n) read and
// write their state once per distinct key of a batch.
type keyGrouper struct {
	enc  *state.KeyEncoder
	cols []arrow.Array
	// kb holds every row's key; ukb each distinct key once, in order of
	// first appearance.
	kb, ukb state.KeyBatch
	groups  aggByteSet
	// rowGroup[i] is the index in ukb of row i's key.
	rowGroup []int32
}

func newKeyGrouper(enc *state.KeyEncoder, keyCols int) keyGrouper {
	return keyGrouper{enc: enc, cols: make([]arrow.Array, keyCols)}
}

// group encodes the keys (columns keys of b) of every row and groups the
// rows by key. It returns the number of distinct keys.
func (g *keyGrouper) group(b arrow.RecordBatch, keys []int) (int, error) {
	n := int(b.NumRows())
	for k, idx := range keys {
		g.cols[k] = b.Column(idx)
	}
	g.kb.Reset()
	if err := g.enc.Encode(g.cols, &g.kb); err != nil {
		return 0, err
	}
	g.groups.reset(min(n, 1<<16))
	g.ukb.Reset()
	g.rowGroup = aggGrow(g.rowGroup, n)
	for i := range n {
		grp, added := g.groups.add(g.kb.Key(i))
		if added {
			g.ukb.Append(g.kb.At(i))
		}
		g.rowGroup[i] = grp
	}
	return g.groups.len(), nil
}
