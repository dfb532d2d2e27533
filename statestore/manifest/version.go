package manifest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicedata/sluice/statestore"
)

// NumLevels is the number of LSM levels: L0 (overlapping tables, newest
// first) and L1..L6 (each a sorted run of non-overlapping tables).
const NumLevels = 7

// FileMeta describes one reference to an SST object in a version. The same
// object may be referenced twice in one version with disjoint Clip ranges:
// that happens when two shards that shared a table after a split are merged
// again.
//
// A FileMeta is immutable once it is in a Version.
type FileMeta struct {
	// Object is the object name in the job's namespace (see SSTName).
	Object string `json:"object"`
	// Size is the object size in bytes.
	Size uint64 `json:"size"`
	// TailSize is the length of the table's metadata and footer
	// (sstable.Metadata.TailSize), so that opening it costs one read; 0
	// if unknown (two reads).
	TailSize uint64 `json:"tail,omitempty"`
	// Smallest is the smallest user key the table holds (point or
	// range-deletion start), inclusive.
	Smallest []byte `json:"smallest"`
	// Limit is an exclusive upper bound of every user key the table can
	// affect (points and range-deletion ends).
	Limit []byte `json:"limit"`
	// Clip is the range of key groups visible through this reference. Keys
	// of the table outside it are invisible and dropped by compaction.
	Clip statestore.KeyGroupRange `json:"clip"`
	// MinSeq and MaxSeq bound the sequence numbers of the table's entries.
	MinSeq uint64 `json:"min_seq"`
	MaxSeq uint64 `json:"max_seq"`
	// NumEntries counts point entries and range deletions.
	NumEntries uint64 `json:"entries"`
	// MinExpiry and MaxExpiry bound the expiries of expiring entries (Unix
	// nanoseconds); both zero when none expires.
	MinExpiry int64 `json:"min_expiry,omitempty"`
	MaxExpiry int64 `json:"max_expiry,omitempty"`
}

// Bounds returns the half-open user-key range [lo, hi) visible through the
// reference: the table's keys intersected with Clip.
func (f *FileMeta) Bounds() (lo, hi []byte) {
	clo, chi := f.Clip.KeyBounds()
	lo, hi = f.Smallest, f.Limit
	if bytes.Compare(clo, lo) > 0 {
		lo = clo
	}
	if bytes.Compare(chi, hi) < 0 {
		hi = chi
	}
	return lo, hi
}

// ContainsKey reports whether key lies in the visible range (Bounds). It
// allocates nothing, for the point-read path.
func (f *FileMeta) ContainsKey(key []byte) bool {
	if len(key) < statestore.KeyGroupBytes || f.Clip.Empty() {
		lo, hi := f.Bounds()
		return bytes.Compare(key, lo) >= 0 && bytes.Compare(key, hi) < 0
	}
	// A key of a key group in Clip is inside Clip's key bounds.
	return f.Clip.Contains(statestore.KeyGroupOf(key)) &&
		bytes.Compare(key, f.Smallest) >= 0 && bytes.Compare(key, f.Limit) < 0
}

// EndsAtOrBefore reports whether the visible range ends at or before key:
// the upper bound of Bounds is <= key. It allocates nothing.
func (f *FileMeta) EndsAtOrBefore(key []byte) bool {
	if len(key) < statestore.KeyGroupBytes || f.Clip.Empty() {
		_, hi := f.Bounds()
		return bytes.Compare(hi, key) <= 0
	}
	// The clip's upper bound is the 2-byte key of group Clip.End: it is
	// <= key exactly when key's group is >= Clip.End.
	return statestore.KeyGroupOf(key) >= f.Clip.End || bytes.Compare(f.Limit, key) <= 0
}

// Empty reports whether nothing of the table is visible through the
// reference.
func (f *FileMeta) Empty() bool {
	lo, hi := f.Bounds()
	return bytes.Compare(lo, hi) >= 0
}

// Overlaps reports whether the visible range intersects [lo, hi); a nil hi
// is unbounded.
func (f *FileMeta) Overlaps(lo, hi []byte) bool {
	flo, fhi := f.Bounds()
	if hi != nil && bytes.Compare(flo, hi) >= 0 {
		return false
	}
	return lo == nil || bytes.Compare(lo, fhi) < 0
}

// ID identifies the reference within a version: the object and its clip.
func (f *FileMeta) ID() string { return f.Object + "@" + f.Clip.String() }

// Clipped returns a copy of f with Clip narrowed to r, or nil if nothing
// stays visible.
func (f *FileMeta) Clipped(r statestore.KeyGroupRange) *FileMeta {
	c := *f
	c.Clip = f.Clip.Intersect(r)
	if c.Clip.Empty() || c.Empty() {
		return nil
	}
	return &c
}

func (f *FileMeta) String() string {
	lo, hi := f.Bounds()
	return fmt.Sprintf("%s [%x,%x) clip=%v seq=%d-%d size=%d", f.Object, lo, hi, f.Clip, f.MinSeq, f.MaxSeq, f.Size)
}

// Version is an immutable set of table references per level. L0 is sorted
// newest first (by MaxSeq, descending); each other level is sorted by its
// visible lower bound and its references do not overlap.
type Version struct {
	Levels [NumLevels][]*FileMeta
}

// LevelSize returns the total object bytes referenced by level l.
func (v *Version) LevelSize(l int) uint64 {
	var n uint64
	for _, f := range v.Levels[l] {
		n += f.Size
	}
	return n
}

// NumFiles returns the number of references in the version.
func (v *Version) NumFiles() int {
	n := 0
	for _, l := range v.Levels {
		n += len(l)
	}
	return n
}

// Objects calls fn for every object the version references (an object
// referenced twice is reported twice).
func (v *Version) Objects(fn func(f *FileMeta)) {
	for _, l := range v.Levels {
		for _, f := range l {
			fn(f)
		}
	}
}

// Overlapping returns the references of level l whose visible range
// intersects [lo, hi).
func (v *Version) Overlapping(l int, lo, hi []byte) []*FileMeta {
	var out []*FileMeta
	for _, f := range v.Levels[l] {
		if f.Overlaps(lo, hi) {
			out = append(out, f)
		}
	}
	return out
}

// DeletedFile names a reference removed by an edit.
type DeletedFile struct {
	Level int
	ID    string // FileMeta.ID
}

// NewFile is a reference added by an edit.
type NewFile struct {
	Level int
	Meta  *FileMeta
}

// VersionEdit turns one version into the next: a flush adds one L0 table,
// a compaction deletes its inputs and adds its outputs.
type VersionEdit struct {
	Deleted []DeletedFile
	Added   []NewFile
}

// Apply returns the version that results from applying e to v (v is not
// modified). It checks the level invariants and returns an error naming the
// offending reference when one would break.
func (v *Version) Apply(e *VersionEdit) (*Version, error) {
	nv := &Version{}
	for l := range NumLevels {
		nv.Levels[l] = slices.Clone(v.Levels[l])
	}
	for _, d := range e.Deleted {
		if d.Level < 0 || d.Level >= NumLevels {
			return nil, fmt.Errorf("manifest: edit deletes %s from level %d: no such level", d.ID, d.Level)
		}
		i := slices.IndexFunc(nv.Levels[d.Level], func(f *FileMeta) bool { return f.ID() == d.ID })
		if i < 0 {
			return nil, fmt.Errorf("manifest: edit deletes %s from level %d: not in the version", d.ID, d.Level)
		}
		nv.Levels[d.Level] = slices.Delete(nv.Levels[d.Level], i, i+1)
	}
	for _, a := range e.Added {
		if a.Level < 0 || a.Level >= NumLevels {
			return nil, fmt.Errorf("manifest: edit adds %s to level %d: no such level", a.Meta.Object, a.Level)
		}
		nv.Levels[a.Level] = append(nv.Levels[a.Level], a.Meta)
	}
	nv.sort()
	if err := nv.Check(); err != nil {
		return nil, err
	}
	return nv, nil
}

func (v *Version) sort() {
	slices.SortStableFunc(v.Levels[0], func(a, b *FileMeta) int {
		if a.MaxSeq != b.MaxSeq {
			if a.MaxSeq > b.MaxSeq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID(), b.ID())
	})
	for l := 1; l < NumLevels; l++ {
		slices.SortFunc(v.Levels[l], func(a, b *FileMeta) int {
			alo, _ := a.Bounds()
			blo, _ := b.Bounds()
			return bytes.Compare(alo, blo)
		})
	}
}

// Check verifies the invariants: no reference appears twice, none is empty,
// and levels 1+ do not overlap.
func (v *Version) Check() error {
	seen := map[string]int{}
	for l, files := range v.Levels {
		for i, f := range files {
			if f.Empty() {
				return fmt.Errorf("manifest: level %d: %s is empty", l, f)
			}
			if pl, ok := seen[f.ID()]; ok {
				return fmt.Errorf("manifest: %s is in level %d and level %d", f.ID(), pl, l)
			}
			seen[f.ID()] = l
			if l > 0 && i > 0 {
				_, phi := files[i-1].Bounds()
				lo, _ := f.Bounds()
				if bytes.Compare(phi, lo) > 0 {
					return fmt.Errorf("manifest: level %d: %s overlaps %s", l, files[i-1], f)
				}
			}
		}
	}
	return nil
}

// Merge builds the version a store opens from several checkpoints, each
// clipped to owned: level i of the result holds level i of every input.
// The inputs must own disjoint key-group ranges (their clipped references
// then never overlap). A reference whose clip becomes empty is dropped.
func Merge(owned statestore.KeyGroupRange, cps ...*Checkpoint) (*Version, error) {
	nv := &Version{}
	for _, cp := range cps {
		keep := cp.KeyGroups.Intersect(owned)
		for l, files := range cp.Levels {
			if l >= NumLevels {
				return nil, fmt.Errorf("manifest: checkpoint %d of shard %q has level %d, at most %d levels", cp.ID, cp.Shard, l, NumLevels)
			}
			for _, f := range files {
				if c := f.Clipped(keep); c != nil {
					nv.Levels[l] = append(nv.Levels[l], c)
				}
			}
		}
	}
	nv.sort()
	if err := nv.Check(); err != nil {
		return nil, err
	}
	return nv, nil
}

// String prints the version one reference per line, for traces.
func (v *Version) String() string {
	var b strings.Builder
	for l, files := range v.Levels {
		if len(files) == 0 {
			continue
		}
		fmt.Fprintf(&b, "L%d:\n", l)
		for _, f := range files {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	if b.Len() == 0 {
		return "(empty)\n"
	}
	return b.String()
}
