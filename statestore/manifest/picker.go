package manifest

import (
	"bytes"
	"fmt"
	"strings"
)

// PickerOptions tune leveled compaction.
type PickerOptions struct {
	// L0Trigger is the number of L0 tables that triggers an L0 -> L1
	// compaction once L0 holds L0MinBytes. Default 4.
	L0Trigger int
	// L0MinBytes is the size L0 must reach before L0Trigger tables start
	// an L0 -> L1 compaction. Merging a few small tables (the first
	// flushes of a store, or one per checkpoint of a shard that changes
	// little) into L1 rewrites every L1 table they overlap for little
	// input, and a checkpoint uploads what compactions wrote. Default
	// BaseLevelBytes/4.
	L0MinBytes uint64
	// L0MaxTables starts an L0 -> L1 compaction whatever L0's size: it
	// bounds the tables a point read checks. Default 3 * L0Trigger.
	L0MaxTables int
	// L0CheapRatio lets L0Trigger tables below L0MinBytes start an
	// L0 -> L1 compaction when the L1 tables they overlap hold at most
	// L0CheapRatio times L0's bytes: the compaction then writes at most
	// 1 + L0CheapRatio times its input, and every point read checks fewer
	// tables. A small state (a stream job's windows and joins, whose
	// entries die within minutes) keeps L0 short this way; a large one
	// waits for L0MinBytes. Default 4.
	L0CheapRatio uint64
	// BaseLevelBytes is the target size of L1. Default 64 MiB.
	BaseLevelBytes uint64
	// Multiplier is the size ratio between adjacent levels. Default 10.
	Multiplier uint64
}

// EnsureDefaults fills zero fields.
func (o *PickerOptions) EnsureDefaults() {
	if o.L0Trigger == 0 {
		o.L0Trigger = 4
	}
	if o.BaseLevelBytes == 0 {
		o.BaseLevelBytes = 64 << 20
	}
	if o.L0MinBytes == 0 {
		o.L0MinBytes = o.BaseLevelBytes / 4
	}
	if o.L0MaxTables == 0 {
		o.L0MaxTables = 3 * o.L0Trigger
	}
	if o.L0CheapRatio == 0 {
		o.L0CheapRatio = 4
	}
	if o.Multiplier == 0 {
		o.Multiplier = 10
	}
}

// TargetSize returns the target size of level l >= 1.
func (o *PickerOptions) TargetSize(l int) uint64 {
	t := o.BaseLevelBytes
	for i := 1; i < l; i++ {
		t *= o.Multiplier
	}
	return t
}

// Compaction is a picked compaction: Inputs from Level merged with the
// overlapping Outputs-level references into new tables in OutputLevel.
type Compaction struct {
	Level, OutputLevel int
	Inputs             []*FileMeta
	Overlap            []*FileMeta // references of OutputLevel that overlap Inputs
	// Bottommost is true when no level below OutputLevel overlaps the key
	// range: tombstones can then be dropped.
	Bottommost bool
	Score      float64
	// Lo and Hi bound the inputs' visible keys, [Lo, Hi).
	Lo, Hi []byte
}

// Edit returns the version edit that replaces the inputs with outputs.
func (c *Compaction) Edit(outputs []*FileMeta) *VersionEdit {
	e := &VersionEdit{}
	for _, f := range c.Inputs {
		e.Deleted = append(e.Deleted, DeletedFile{Level: c.Level, ID: f.ID()})
	}
	for _, f := range c.Overlap {
		e.Deleted = append(e.Deleted, DeletedFile{Level: c.OutputLevel, ID: f.ID()})
	}
	for _, f := range outputs {
		e.Added = append(e.Added, NewFile{Level: c.OutputLevel, Meta: f})
	}
	return e
}

func (c *Compaction) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "L%d -> L%d score=%.2f bottommost=%t range=[%x,%x)\n", c.Level, c.OutputLevel, c.Score, c.Bottommost, c.Lo, c.Hi)
	for _, f := range c.Inputs {
		fmt.Fprintf(&b, "  in  L%d %s\n", c.Level, f.Object)
	}
	for _, f := range c.Overlap {
		fmt.Fprintf(&b, "  in  L%d %s\n", c.OutputLevel, f.Object)
	}
	return b.String()
}

// Pick chooses the most urgent compaction of v, or nil if no level is over
// its target. cursor[l] is the lower bound of the last table compacted out
// of level l; tables are taken round-robin from it (the caller updates it
// with the picked compaction's Lo).
func Pick(v *Version, o PickerOptions, cursor *[NumLevels][]byte) *Compaction {
	o.EnsureDefaults()
	best, bestScore := -1, 1.0
	if n := len(v.Levels[0]); n >= o.L0MaxTables || (n >= o.L0Trigger && l0Due(v, o)) {
		best, bestScore = 0, max(float64(n)/float64(o.L0Trigger), 1)
	}
	for l := 1; l < NumLevels-1; l++ {
		s := float64(v.LevelSize(l)) / float64(o.TargetSize(l))
		if s >= 1 && s > bestScore {
			best, bestScore = l, s
		}
	}
	if best < 0 {
		return nil
	}
	c := &Compaction{Level: best, OutputLevel: best + 1, Score: bestScore}
	if best == 0 {
		c.Inputs = append(c.Inputs, v.Levels[0]...)
	} else {
		files := v.Levels[best]
		pick := files[0]
		for _, f := range files {
			lo, _ := f.Bounds()
			if cursor == nil || cursor[best] == nil || bytes.Compare(lo, cursor[best]) > 0 {
				pick = f
				break
			}
		}
		c.Inputs = []*FileMeta{pick}
	}
	c.Lo, c.Hi = span(c.Inputs)
	c.Overlap = v.Overlapping(c.OutputLevel, c.Lo, c.Hi)
	if len(c.Overlap) > 0 {
		c.Lo, c.Hi = span(append(append([]*FileMeta(nil), c.Inputs...), c.Overlap...))
	}
	c.Bottommost = true
	for l := c.OutputLevel + 1; l < NumLevels; l++ {
		if len(v.Overlapping(l, c.Lo, c.Hi)) > 0 {
			c.Bottommost = false
		}
	}
	return c
}

// l0Due reports whether L0, with at least L0Trigger tables, is worth
// compacting: it holds L0MinBytes, or the L1 tables it overlaps hold at
// most L0CheapRatio times its bytes.
func l0Due(v *Version, o PickerOptions) bool {
	size := v.LevelSize(0)
	if size >= o.L0MinBytes {
		return true
	}
	lo, hi := span(v.Levels[0])
	var overlap uint64
	for _, f := range v.Overlapping(1, lo, hi) {
		overlap += f.Size
	}
	return overlap <= o.L0CheapRatio*size
}

func span(files []*FileMeta) (lo, hi []byte) {
	for i, f := range files {
		flo, fhi := f.Bounds()
		if i == 0 || bytes.Compare(flo, lo) < 0 {
			lo = flo
		}
		if i == 0 || bytes.Compare(fhi, hi) > 0 {
			hi = fhi
		}
	}
	return lo, hi
}
