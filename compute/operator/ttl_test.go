package operator_test

// State TTL of the regular join, the aggregate and top-n: randomized runs
// against models that apply the TTL rule (an entry written at w is live
// while now < w + ttl), on a fake clock, and checks that the background
// sweep empties the store of expired keys. The memstore gets its own clock,
// which never advances, so it never hides an entry itself: what the scan
// shows is what the operator and its sweep left in the store.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/operator"
	"github.com/sluicedata/sluice/compute/state"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

const ttlMaxPar = 8

var ttlStart = time.Unix(1_700_000_000, 0)

// ttlRig runs one subtask owning every key group.
type ttlRig struct {
	t     *testing.T
	ctx   context.Context
	mem   memory.Allocator
	clk   *clock.Fake
	store statestore.Store
	op    compute.Operator
	pt    compute.ProcessingTimeOperator
}

func newTTLRig(t *testing.T, mem memory.Allocator, op compute.Operator, inputs ...*arrow.Schema) *ttlRig {
	t.Helper()
	r := &ttlRig{t: t, ctx: context.Background(), mem: mem, clk: clock.NewFake(ttlStart), op: op}
	reg := memstore.NewRegistry(memstore.Options{Clock: clock.NewFake(ttlStart)})
	kg := statestore.FullKeyGroupRange(ttlMaxPar)
	oc := &compute.OperatorContext{
		Job: "test", Node: "ttl", Parallelism: 1, MaxParallelism: ttlMaxPar, KeyGroups: kg,
		InputSchemas: inputs, Allocator: mem, Clock: r.clk,
		OpenStore: func(ctx context.Context) (statestore.Store, error) {
			if r.store != nil {
				return r.store, nil
			}
			var err error
			r.store, err = reg.Open(ctx, statestore.ShardOptions{Name: "ttl"}, nil, kg)
			return r.store, err
		},
	}
	if err := op.Open(r.ctx, oc); err != nil {
		t.Fatal(err)
	}
	pt, ok := op.(compute.ProcessingTimeOperator)
	if !ok {
		t.Fatalf("%T is not a compute.ProcessingTimeOperator", op)
	}
	r.pt = pt
	t.Cleanup(func() {
		if err := op.Close(); err != nil {
			t.Error(err)
		}
		if r.store != nil {
			r.store.Close()
		}
	})
	return r
}

func (r *ttlRig) process(input int, b arrow.RecordBatch) []computetest.Row {
	r.t.Helper()
	var rows []computetest.Row
	err := r.op.ProcessBatch(r.ctx, input, b, compute.EmitterFunc(func(_ context.Context, out arrow.RecordBatch) error {
		rows = append(rows, computetest.BatchRows(out)...)
		out.Release()
		return nil
	}))
	if err != nil {
		r.t.Fatal(err)
	}
	return rows
}

// advance moves the clock by d, calling the operator back at every
// processing-time deadline on the way, as the runtime does.
func (r *ttlRig) advance(d time.Duration) {
	r.t.Helper()
	end := r.clk.Now().Add(d)
	for {
		next, ok := r.pt.NextProcessingTime()
		if !ok || next.After(end) {
			break
		}
		if next.After(r.clk.Now()) {
			r.clk.Set(next)
		}
		if err := r.pt.OnProcessingTime(r.ctx, r.clk.Now(), nil); err != nil {
			r.t.Fatal(err)
		}
	}
	r.clk.Set(end)
}

// entries counts the store's entries of each state ID (the key's third
// byte), and, when key is not nil, only those of that encoded key.
func (r *ttlRig) entries(key []byte) map[byte]int {
	r.t.Helper()
	it, err := r.store.Scan(r.ctx, nil, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	defer it.Close()
	n := map[byte]int{}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < 3 || k[2] == 0xFF { // the backend's metadata
			continue
		}
		if key != nil && !strings.HasPrefix(string(k[3:]), string(key)) {
			continue
		}
		n[k[2]]++
	}
	return n
}

// encodeInt64Key returns the state encoding of an int64 key.
func encodeInt64Key(t *testing.T, mem memory.Allocator, k int64) []byte {
	t.Helper()
	enc, err := state.NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, ttlMaxPar)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.Append(k)
	a := b.NewArray()
	defer a.Release()
	var kb state.KeyBatch
	if err := enc.Encode([]arrow.Array{a}, &kb); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(kb.Key(0))
}

func int64Batch(mem memory.Allocator, schema *arrow.Schema, cols ...[]int64) arrow.RecordBatch {
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	for c, vs := range cols {
		switch fb := bld.Field(c).(type) {
		case *array.Int64Builder:
			fb.AppendValues(vs, nil)
		case *array.Int8Builder:
			for _, v := range vs {
				fb.Append(int8(v))
			}
		}
	}
	return bld.NewRecordBatch()
}

func rowStrings(rows []computetest.Row, cols ...string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		parts := make([]string, len(cols))
		for j, c := range cols {
			parts[j] = fmt.Sprint(r[c])
		}
		out[i] = strings.Join(parts, "|")
	}
	return out
}

func sameMultiset(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s:\n got  %v\n want %v", what, g, w)
	}
}

// sweepUntilEmpty advances the clock past every TTL and lets the sweep run
// until no entry of a state is left (or fails after many passes).
func (r *ttlRig) sweepUntilEmpty(ttl time.Duration) {
	r.t.Helper()
	r.advance(ttl + time.Millisecond)
	for range 100 {
		if len(r.entries(nil)) == 0 {
			return
		}
		r.advance(ttl)
	}
	r.t.Fatalf("store still holds %v after the sweeps", r.entries(nil))
}

var (
	ttlJoinLeft  = arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	ttlJoinRight = ttlJoinLeft
	ttlAggIn     = arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	ttlAggUpd    = arrow.NewSchema([]arrow.Field{{Name: "_op", Type: arrow.PrimitiveTypes.Int8}, {Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
)

// TestJoinStateTTL: rows stop matching state_ttl after they were stored,
// against a nested-loop model, and the sweep removes them.
func TestJoinStateTTL(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			t.Cleanup(func() { mem.AssertSize(t, 0) }) // after the rigs close
			const ttl = time.Minute
			spec := &sluicev1.JoinNode{LeftKeys: []string{"k"}, RightKeys: []string{"k"}, LeftPrefix: "l_", RightPrefix: "r_", StateTtl: durationpb.New(ttl)}
			p, err := operator.PlanJoin(spec, ttlJoinLeft, ttlJoinRight)
			if err != nil {
				t.Fatal(err)
			}
			op, err := p.NewOperator()
			if err != nil {
				t.Fatal(err)
			}
			r := newTTLRig(t, mem, op, ttlJoinLeft, ttlJoinRight)
			type stored struct {
				k, id int64
				at    time.Time
			}
			var kept [2][]stored
			rng := rand.New(rand.NewPCG(seed, 7))
			var got, want []string
			id := int64(0)
			for step := range 300 {
				if rng.IntN(3) == 0 {
					r.advance(time.Duration(rng.Int64N(int64(ttl / 2))))
					continue
				}
				side := rng.IntN(2)
				n := 1 + rng.IntN(6)
				ks, ids := make([]int64, n), make([]int64, n)
				now := r.clk.Now()
				for i := range n {
					ks[i], ids[i] = rng.Int64N(5), id
					id++
					for _, o := range kept[1-side] {
						if o.k == ks[i] && now.Before(o.at.Add(ttl)) {
							l, rr := ids[i], o.id
							if side == 1 {
								l, rr = o.id, ids[i]
							}
							want = append(want, fmt.Sprintf("%d|%d|%d", ks[i], l, rr))
						}
					}
				}
				for i := range n {
					kept[side] = append(kept[side], stored{ks[i], ids[i], now})
				}
				got = append(got, rowStrings(r.process(side, int64Batch(mem, ttlJoinLeft, ks, ids)), "l_k", "l_id", "r_id")...)
				if step%50 == 49 {
					sameMultiset(t, fmt.Sprintf("joined rows after step %d", step), got, want)
				}
			}
			sameMultiset(t, "joined rows", got, want)
			m := op.(interface{ Metrics() operator.JoinMetrics }).Metrics()
			if m.ExpiredChunks == 0 || m.TTL.SweepCalls == 0 {
				t.Errorf("metrics %+v: want expired chunks and sweep calls", m)
			}
			// A key written now is in the store; once expired, the sweep
			// removes it without the key being touched again.
			key := encodeInt64Key(t, mem, 3)
			r.process(0, int64Batch(mem, ttlJoinLeft, []int64{3}, []int64{id}))
			if n := r.entries(key); n[1] == 0 || n[2] == 0 {
				t.Fatalf("entries of key 3 after a write: %v, want headers (1) and chunks (2)", n)
			}
			before := op.(interface{ Metrics() operator.JoinMetrics }).Metrics().TTL.SweepDeleted
			r.sweepUntilEmpty(ttl)
			if n := r.entries(key); len(n) != 0 {
				t.Fatalf("entries of key 3 after the sweep: %v", n)
			}
			if after := op.(interface{ Metrics() operator.JoinMetrics }).Metrics().TTL.SweepDeleted; after <= before {
				t.Errorf("SweepDeleted %d -> %d: the sweep removed nothing", before, after)
			}
			// Nothing matches any more.
			if rows := r.process(1, int64Batch(mem, ttlJoinRight, []int64{0, 1, 2, 3, 4}, []int64{-1, -2, -3, -4, -5})); len(rows) != 0 {
				t.Fatalf("rows after everything expired: %v", rows)
			}
		})
	}
}

// TestAggregateStateTTL: an expired key starts from scratch (a new +I, the
// old row is not retracted); count_distinct counts a value again when it
// was not seen for state_ttl; against a model. The sweep empties the store.
func TestAggregateStateTTL(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			t.Cleanup(func() { mem.AssertSize(t, 0) }) // after the rigs close
			const ttl = time.Minute
			spec := &sluicev1.AggregateNode{Keys: []string{"k"}, StateTtl: durationpb.New(ttl), Aggregates: []*sluicev1.Aggregate{
				{Name: "n", Function: "count"}, {Name: "s", Function: "sum", Expr: "v"}, {Name: "d", Function: "count_distinct", Expr: "v"},
			}}
			p, err := operator.PlanAggregate(spec, ttlAggIn)
			if err != nil {
				t.Fatal(err)
			}
			op, err := p.NewOperator()
			if err != nil {
				t.Fatal(err)
			}
			r := newTTLRig(t, mem, op, ttlAggIn)
			type acc struct {
				n, s, d int64
				seen    map[int64]time.Time // distinct value -> last seen
				wrote   time.Time
			}
			model := map[int64]*acc{}
			rng := rand.New(rand.NewPCG(seed, 11))
			restarts := 0
			for step := range 300 {
				if rng.IntN(3) == 0 {
					r.advance(time.Duration(rng.Int64N(int64(ttl / 2))))
					continue
				}
				n := 1 + rng.IntN(6)
				ks, vs := make([]int64, n), make([]int64, n)
				for i := range n {
					ks[i], vs[i] = rng.Int64N(4), rng.Int64N(6)
				}
				now := r.clk.Now()
				old := map[int64]*acc{} // nil value: the key is new
				for i := range n {
					k := ks[i]
					a := model[k]
					if _, done := old[k]; !done {
						if a != nil && !now.Before(a.wrote.Add(ttl)) {
							a = nil // expired
							restarts++
						}
						if a == nil {
							a = &acc{seen: map[int64]time.Time{}}
							model[k] = a
							old[k] = nil
						} else {
							old[k] = &acc{n: a.n, s: a.s, d: a.d}
						}
					}
					a.n++
					a.s += vs[i]
					if at, ok := a.seen[vs[i]]; !ok || !now.Before(at.Add(ttl)) {
						a.d++
					}
					a.seen[vs[i]] = now
					a.wrote = now
				}
				var want []string
				for k, o := range old {
					a := model[k]
					if o == nil {
						want = append(want, fmt.Sprintf("0|%d|%d|%d|%d", k, a.n, a.s, a.d))
						continue
					}
					want = append(want, fmt.Sprintf("1|%d|%d|%d|%d", k, o.n, o.s, o.d), fmt.Sprintf("2|%d|%d|%d|%d", k, a.n, a.s, a.d))
				}
				got := rowStrings(r.process(0, int64Batch(mem, ttlAggIn, ks, vs)), "_op", "k", "n", "s", "d")
				sameMultiset(t, fmt.Sprintf("step %d at %s", step, now.Sub(ttlStart)), got, want)
			}
			if restarts == 0 {
				t.Fatal("no key expired: the test checks nothing")
			}
			key := encodeInt64Key(t, mem, 2)
			r.process(0, int64Batch(mem, ttlAggIn, []int64{2}, []int64{1}))
			if n := r.entries(key); n[1] != 1 || n[2] == 0 {
				t.Fatalf("entries of key 2 after a write: %v, want an accumulator (1) and distinct values (2)", n)
			}
			r.sweepUntilEmpty(ttl)
			if n := r.entries(key); len(n) != 0 {
				t.Fatalf("entries of key 2 after the sweep: %v", n)
			}
			m := op.(interface {
				Metrics() operator.AggregateMetrics
			}).Metrics()
			if m.TTL.SweepDeleted == 0 || m.TTL.SweepCalls == 0 {
				t.Errorf("metrics %+v: want sweep calls and deletes", m)
			}
		})
	}
}

// TestAggregateStateTTLRetractions: with an updating input, a retraction of
// an expired key is dropped and counted (Flink does the same), and the
// key's next row is a fresh +I. Without state_ttl it is an error.
func TestAggregateStateTTLRetractions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) }) // after the rigs close
	const ttl = time.Minute
	spec := &sluicev1.AggregateNode{Keys: []string{"k"}, StateTtl: durationpb.New(ttl), Aggregates: []*sluicev1.Aggregate{
		{Name: "n", Function: "count"}, {Name: "s", Function: "sum", Expr: "v"},
	}}
	p, err := operator.PlanAggregate(spec, ttlAggUpd)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := p.NewOperator()
	r := newTTLRig(t, mem, op, ttlAggUpd)
	cols := []string{"_op", "k", "n", "s"}
	check := func(what string, got []computetest.Row, want ...string) {
		t.Helper()
		if g := rowStrings(got, cols...); !slices.Equal(g, want) {
			t.Fatalf("%s: got %v, want %v", what, g, want)
		}
	}
	check("insert", r.process(0, int64Batch(mem, ttlAggUpd, []int64{0}, []int64{1}, []int64{5})), "0|1|1|5")
	r.advance(ttl)
	check("update of an expired key", r.process(0, int64Batch(mem, ttlAggUpd, []int64{1, 2}, []int64{1, 1}, []int64{5, 7})), "0|1|1|7")
	check("delete", r.process(0, int64Batch(mem, ttlAggUpd, []int64{3}, []int64{1}, []int64{7})), "3|1|1|7")
	if m := op.(interface {
		Metrics() operator.AggregateMetrics
	}).Metrics(); m.RetractionsIgnored != 1 {
		t.Errorf("RetractionsIgnored = %d, want 1", m.RetractionsIgnored)
	}

	spec.StateTtl = nil
	p, err = operator.PlanAggregate(spec, ttlAggUpd)
	if err != nil {
		t.Fatal(err)
	}
	op2, _ := p.NewOperator()
	r2 := newTTLRig(t, mem, op2, ttlAggUpd)
	err = op2.ProcessBatch(r2.ctx, 0, int64Batch(mem, ttlAggUpd, []int64{1}, []int64{1}, []int64{5}), compute.EmitterFunc(func(_ context.Context, b arrow.RecordBatch) error {
		b.Release()
		return nil
	}))
	if err == nil || !strings.Contains(err.Error(), "inconsistent changelog") {
		t.Fatalf("retraction of an unknown key without state_ttl: err %v, want an inconsistent changelog", err)
	}
}

// TestTopNStateTTL: a partition whose top rows did not change for
// state_ttl starts empty, against a model; the sweep empties the store.
func TestTopNStateTTL(t *testing.T) {
	const limit = 2
	in := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}, {Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			t.Cleanup(func() { mem.AssertSize(t, 0) }) // after the rigs close
			const ttl = time.Minute
			spec := &sluicev1.TopNNode{PartitionBy: []string{"k"}, OrderBy: []*sluicev1.SortKey{{Column: "v"}}, Limit: limit, RowNumber: "rn", StateTtl: durationpb.New(ttl)}
			p, err := operator.PlanTopN(spec, in)
			if err != nil {
				t.Fatal(err)
			}
			op, err := p.NewOperator()
			if err != nil {
				t.Fatal(err)
			}
			r := newTTLRig(t, mem, op, in)
			type entry struct{ v, id int64 }
			type part struct {
				top   []entry
				wrote time.Time
			}
			model := map[int64]*part{}
			rng := rand.New(rand.NewPCG(seed, 13))
			id, restarts := int64(0), 0
			for step := range 300 {
				if rng.IntN(3) == 0 {
					r.advance(time.Duration(rng.Int64N(int64(ttl / 2))))
					continue
				}
				n := 1 + rng.IntN(6)
				ks, vs, ids := make([]int64, n), make([]int64, n), make([]int64, n)
				now := r.clk.Now()
				old := map[int64][]entry{}
				for i := range n {
					ks[i], vs[i], ids[i] = rng.Int64N(4), rng.Int64N(20), id
					id++
					pt := model[ks[i]]
					if _, done := old[ks[i]]; !done {
						if pt != nil && !now.Before(pt.wrote.Add(ttl)) {
							pt = nil
							restarts++
						}
						if pt == nil {
							pt = &part{}
							model[ks[i]] = pt
						}
						old[ks[i]] = slices.Clone(pt.top)
					}
					if len(pt.top) == limit && vs[i] >= pt.top[limit-1].v {
						continue
					}
					at := len(pt.top)
					for at > 0 && pt.top[at-1].v > vs[i] {
						at--
					}
					pt.top = slices.Insert(pt.top, at, entry{vs[i], ids[i]})
					if len(pt.top) > limit {
						pt.top = pt.top[:limit]
					}
					pt.wrote = now
				}
				var want []string
				for k, o := range old {
					cur := model[k].top
					for rk := range max(len(o), len(cur)) {
						switch {
						case rk >= len(o):
							want = append(want, fmt.Sprintf("0|%d|%d|%d|%d", k, cur[rk].v, cur[rk].id, rk+1))
						case o[rk] != cur[rk]:
							want = append(want, fmt.Sprintf("1|%d|%d|%d|%d", k, o[rk].v, o[rk].id, rk+1), fmt.Sprintf("2|%d|%d|%d|%d", k, cur[rk].v, cur[rk].id, rk+1))
						}
					}
				}
				got := rowStrings(r.process(0, int64Batch(mem, in, ks, vs, ids)), "_op", "k", "v", "id", "rn")
				sameMultiset(t, fmt.Sprintf("step %d at %s", step, now.Sub(ttlStart)), got, want)
			}
			if restarts == 0 {
				t.Fatal("no partition expired: the test checks nothing")
			}
			key := encodeInt64Key(t, mem, 1)
			r.process(0, int64Batch(mem, in, []int64{1}, []int64{-1}, []int64{id}))
			if n := r.entries(key); n[1] != 1 {
				t.Fatalf("entries of partition 1 after a write: %v, want its top rows (1)", n)
			}
			r.sweepUntilEmpty(ttl)
			if n := r.entries(key); len(n) != 0 {
				t.Fatalf("entries of partition 1 after the sweep: %v", n)
			}
			m := op.(interface{ Metrics() operator.TopNMetrics }).Metrics()
			if m.TTL.SweepDeleted == 0 || m.TTL.SweepCalls == 0 {
				t.Errorf("metrics %+v: want sweep calls and deletes", m)
			}
		})
	}
}

// TestPlanStateTTLErrors: state_ttl must be a valid, non-negative duration,
// and interval and window joins reject it.
func TestPlanStateTTLErrors(t *testing.T) {
	d := durationpb.New
	bad := &durationpb.Duration{Seconds: 1, Nanos: -1}
	tsSchema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "t", Type: &arrow.TimestampType{Unit: arrow.Millisecond}}}, nil)
	join := func(ttl *durationpb.Duration, edit func(*sluicev1.JoinNode)) func() error {
		return func() error {
			j := &sluicev1.JoinNode{LeftKeys: []string{"k"}, RightKeys: []string{"k"}, LeftPrefix: "l_", RightPrefix: "r_", StateTtl: ttl}
			if edit != nil {
				edit(j)
			}
			_, err := operator.PlanJoin(j, tsSchema, tsSchema)
			return err
		}
	}
	interval := func(j *sluicev1.JoinNode) {
		j.Interval = &sluicev1.IntervalJoin{LeftTime: "t", RightTime: "t", Lower: d(-time.Second), Upper: d(time.Second)}
	}
	window := func(j *sluicev1.JoinNode) {
		j.Window = &sluicev1.WindowJoin{LeftTime: "t", RightTime: "t", Assigner: &sluicev1.WindowJoin_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: d(time.Second)}}}
	}
	agg := func(ttl *durationpb.Duration) func() error {
		return func() error {
			_, err := operator.PlanAggregate(&sluicev1.AggregateNode{Keys: []string{"k"}, Aggregates: []*sluicev1.Aggregate{{Name: "n", Function: "count"}}, StateTtl: ttl}, ttlAggIn)
			return err
		}
	}
	topn := func(ttl *durationpb.Duration) func() error {
		return func() error {
			_, err := operator.PlanTopN(&sluicev1.TopNNode{PartitionBy: []string{"k"}, OrderBy: []*sluicev1.SortKey{{Column: "v"}}, Limit: 1, StateTtl: ttl}, ttlAggIn)
			return err
		}
	}
	for _, tc := range []struct {
		name string
		plan func() error
		want string // "" : no error
	}{
		{"join ttl", join(d(time.Hour), nil), ""},
		{"join zero", join(d(0), nil), ""},
		{"join negative", join(d(-time.Second), nil), "state_ttl: -1s must not be negative"},
		{"join invalid", join(bad, nil), "state_ttl: "},
		{"interval join ttl", join(d(time.Hour), interval), "state_ttl: 1h0m0s: not supported by the interval join, whose state expires with the watermark"},
		{"window join ttl", join(d(time.Minute), window), "state_ttl: 1m0s: not supported by the window join"},
		{"interval join zero", join(d(0), interval), ""},
		{"aggregate ttl", agg(d(time.Hour)), ""},
		{"aggregate negative", agg(d(-90 * time.Second)), "state_ttl: -1m30s must not be negative"},
		{"aggregate invalid", agg(bad), "state_ttl: "},
		{"top_n ttl", topn(d(time.Hour)), ""},
		{"top_n negative", topn(d(-time.Millisecond)), "state_ttl: -1ms must not be negative"},
		{"top_n invalid", topn(bad), "state_ttl: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.plan()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
