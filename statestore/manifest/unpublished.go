package manifest

import (
	"fmt"
	"sort"
	"strings"
)

// Unpublished tracks the tables one store instance wrote that no
// checkpoint manifest names yet, and tells when one becomes obsolete: no
// longer being written and referenced by no live version. An obsolete table
// can be deleted at once, without waiting for the next garbage collection,
// because nothing else can reach it: the tables an instance writes are
// named only by manifests it publishes, other shards and later instances
// find tables only through manifests, and iterators, compactions and
// pending checkpoints hold a reference to the live version they read.
//
// The owner reports, in order:
//
//   - Create when it starts writing a table, and Done when it stops (the
//     table was installed in a version, or it failed or was empty);
//   - Finished when a table is complete, with its size;
//   - AddVersion when a version becomes live (installed) and RemoveVersion
//     when its last reference goes;
//   - Publish(v) before it writes a manifest of version v (whether or not
//     the write succeeds): v's tables are then the garbage collector's to
//     delete, under the retention rule, never this tracker's.
//
// A table is obsolete when its writing is done and no live version holds
// it. Tables the tracker did not see created (written by another instance
// or read from a manifest) are never reported. Not safe for concurrent
// use.
type Unpublished struct {
	t map[string]*unpublished
}

type unpublished struct {
	inflight int
	refs     int
	size     uint64
}

// Obsolete is a table that can be deleted now.
type Obsolete struct {
	Object string
	Size   uint64 // 0 if it never completed
}

// NewUnpublished returns an empty tracker.
func NewUnpublished() *Unpublished { return &Unpublished{t: map[string]*unpublished{}} }

// Create registers a table being written.
func (u *Unpublished) Create(name string) {
	e := u.t[name]
	if e == nil {
		e = &unpublished{}
		u.t[name] = e
	}
	e.inflight++
}

// Finished records the size of a completed table.
func (u *Unpublished) Finished(name string, size uint64) {
	if e := u.t[name]; e != nil {
		e.size = size
	}
}

// Done ends one Create; it reports the table if that made it obsolete.
func (u *Unpublished) Done(name string) (Obsolete, bool) {
	e := u.t[name]
	if e == nil {
		return Obsolete{}, false
	}
	if e.inflight <= 0 {
		panic(fmt.Sprintf("manifest: unpublished: Done(%s) without Create", name))
	}
	e.inflight--
	return u.check(name, e)
}

func (u *Unpublished) check(name string, e *unpublished) (Obsolete, bool) {
	if e.inflight > 0 || e.refs > 0 {
		return Obsolete{}, false
	}
	delete(u.t, name)
	return Obsolete{Object: name, Size: e.size}, true
}

// AddVersion counts a reference from a live version to each of its tables
// the tracker holds.
func (u *Unpublished) AddVersion(v *Version) {
	v.Objects(func(f *FileMeta) {
		if e := u.t[f.Object]; e != nil {
			e.refs++
			e.size = max(e.size, f.Size)
		}
	})
}

// RemoveVersion drops the references AddVersion counted for v (which must
// have been added, and not published since) and appends the tables that
// became obsolete to out.
func (u *Unpublished) RemoveVersion(v *Version, out []Obsolete) []Obsolete {
	v.Objects(func(f *FileMeta) {
		e := u.t[f.Object]
		if e == nil {
			return
		}
		if e.refs <= 0 {
			panic(fmt.Sprintf("manifest: unpublished: RemoveVersion drops an uncounted reference to %s", f.Object))
		}
		e.refs--
		if o, ok := u.check(f.Object, e); ok {
			out = append(out, o)
		}
	})
	return out
}

// Publish hands v's tables to the garbage collector: the tracker forgets
// them and will never report them.
func (u *Unpublished) Publish(v *Version) {
	v.Objects(func(f *FileMeta) { delete(u.t, f.Object) })
}

// Tracked reports whether the tracker holds name.
func (u *Unpublished) Tracked(name string) bool { return u.t[name] != nil }

// Len returns the number of tables tracked.
func (u *Unpublished) Len() int { return len(u.t) }

// String lists the tracked tables with their counts, for traces.
func (u *Unpublished) String() string {
	names := make([]string, 0, len(u.t))
	for n := range u.t {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		e := u.t[n]
		fmt.Fprintf(&b, "%s writing=%d refs=%d size=%d\n", n, e.inflight, e.refs, e.size)
	}
	return b.String()
}
