package window

// Groups partitions a batch's rows by (key id, slice or window start), so
// the operator touches each (key, namespace) once per batch: one state read,
// one Accumulator.Add over the group's rows, one Trigger.OnElements. It is
// laid out as compressed rows: group g holds Rows[Offsets[g]:Offsets[g+1]],
// in arrival order. A Groups is reused across batches without allocating
// once it has grown. Not safe for concurrent use.
type Groups struct {
	// Keys and Starts identify each group: the operator's dense key id
	// (e.g. the row's index in a per-batch key dictionary) and the slice
	// start.
	Keys   []uint32
	Starts []int64
	// Offsets has Len()+1 entries; group i is Rows[Offsets[i]:Offsets[i+1]].
	Offsets []int32
	Rows    []int32
	// Excluded are the rows left out because their status was TooLate or
	// NoWindow, in arrival order: the operator counts them and routes the
	// TooLate ones to the late-data side output.
	Excluded []int32

	index map[groupKey]int32
	gid   []int32
}

type groupKey struct {
	key   uint32
	start int64
}

// Len is the number of groups.
func (g *Groups) Len() int { return len(g.Keys) }

// Group returns the rows of group i.
func (g *Groups) Group(i int) []int32 { return g.Rows[g.Offsets[i]:g.Offsets[i+1]] }

// Build groups rows by (keyIDs[i], starts[i]). keyIDs may be nil (every row
// has key 0); status may be nil (every row is included), otherwise rows whose
// status is TooLate or NoWindow go to Excluded. Rows whose start is NoSlice
// are always excluded.
func (g *Groups) Build(keyIDs []uint32, starts []int64, status []Status) {
	n := len(starts)
	g.Keys, g.Starts, g.Rows, g.Excluded = g.Keys[:0], g.Starts[:0], g.Rows[:0], g.Excluded[:0]
	g.Offsets = append(g.Offsets[:0], 0)
	if g.index == nil {
		g.index = make(map[groupKey]int32)
	}
	clear(g.index)
	if cap(g.gid) < n {
		g.gid = make([]int32, n)
	}
	gid := g.gid[:n]
	last, lastID := groupKey{start: NoSlice}, int32(-1)
	for i, st := range starts {
		if st == NoSlice || status != nil && (status[i] == TooLate || status[i] == NoWindow) {
			gid[i] = -1
			g.Excluded = append(g.Excluded, int32(i))
			continue
		}
		k := groupKey{start: st}
		if keyIDs != nil {
			k.key = keyIDs[i]
		}
		if k != last || lastID < 0 {
			id, ok := g.index[k]
			if !ok {
				id = int32(len(g.Keys))
				g.index[k] = id
				g.Keys = append(g.Keys, k.key)
				g.Starts = append(g.Starts, k.start)
				g.Offsets = append(g.Offsets, 0)
			}
			last, lastID = k, id
		}
		gid[i] = lastID
		g.Offsets[lastID+1]++
	}
	for i := 1; i < len(g.Offsets); i++ {
		g.Offsets[i] += g.Offsets[i-1]
	}
	total := int(g.Offsets[len(g.Offsets)-1])
	if cap(g.Rows) < total {
		g.Rows = make([]int32, total)
	}
	g.Rows = g.Rows[:total]
	// Place rows; Offsets[id] serves as the cursor and is restored after.
	for i, id := range gid {
		if id >= 0 {
			g.Rows[g.Offsets[id]] = int32(i)
			g.Offsets[id]++
		}
	}
	for i := len(g.Offsets) - 1; i > 0; i-- {
		g.Offsets[i] = g.Offsets[i-1]
	}
	g.Offsets[0] = 0
}
