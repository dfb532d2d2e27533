package manifest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/statestore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// parseKey reads "g/suffix" (key group g, then the suffix bytes) or "g".
func parseKey(s string) []byte {
	g, rest, _ := strings.Cut(s, "/")
	n, err := strconv.Atoi(g)
	if err != nil {
		panic(fmt.Sprintf("bad key %q", s))
	}
	return append(statestore.AppendKeyGroup(nil, uint16(n)), rest...)
}

func fmtKey(b []byte) string {
	if len(b) < 2 {
		return fmt.Sprintf("%x", b)
	}
	g := statestore.KeyGroupOf(b)
	rest := b[2:]
	for _, c := range rest {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%d/%x", g, rest)
		}
	}
	if len(rest) == 0 {
		return fmt.Sprint(g)
	}
	return fmt.Sprintf("%d/%s", g, rest)
}

func parseRange(s string) statestore.KeyGroupRange {
	a, b, _ := strings.Cut(s, "-")
	x, _ := strconv.Atoi(a)
	y, _ := strconv.Atoi(b)
	return statestore.KeyGroupRange{Start: uint16(x), End: uint16(y)}
}

// parseFile reads "L<n> <object> <lo> <hi> [clip=a-b] [seq=x-y] [size=n]".
func parseFile(line string) (int, *FileMeta, error) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "L") {
		return 0, nil, fmt.Errorf("bad file line %q", line)
	}
	level, err := strconv.Atoi(f[0][1:])
	if err != nil {
		return 0, nil, err
	}
	m := &FileMeta{Object: f[1], Smallest: parseKey(f[2]), Limit: parseKey(f[3]), Clip: statestore.KeyGroupRange{End: 100}, Size: 100}
	for _, a := range f[4:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "clip":
			m.Clip = parseRange(v)
		case "seq":
			r := parseRange(v)
			m.MinSeq, m.MaxSeq = uint64(r.Start), uint64(r.End)
		case "size":
			n, _ := strconv.Atoi(v)
			m.Size = uint64(n)
		default:
			return 0, nil, fmt.Errorf("unknown file attribute %q", a)
		}
	}
	return level, m, nil
}

func fmtVersion(v *Version) string {
	var b strings.Builder
	for l, files := range v.Levels {
		if len(files) == 0 {
			continue
		}
		fmt.Fprintf(&b, "L%d:\n", l)
		for _, f := range files {
			lo, hi := f.Bounds()
			fmt.Fprintf(&b, "  %s [%s,%s) clip=%v seq=%d-%d size=%d\n", f.Object, fmtKey(lo), fmtKey(hi), f.Clip, f.MinSeq, f.MaxSeq, f.Size)
		}
	}
	if b.Len() == 0 {
		return "(empty)"
	}
	return b.String()
}

func TestVersionDataDriven(t *testing.T) {
	v := &Version{}
	var cursor [NumLevels][]byte
	runDataDriven(t, "testdata/version", func(t *testing.T, c *ddCase) string {
		switch c.cmd {
		case "define", "apply":
			base := v
			if c.cmd == "define" {
				base = &Version{}
				cursor = [NumLevels][]byte{}
			}
			e := &VersionEdit{}
			for _, l := range c.input {
				op, rest, _ := strings.Cut(l, " ")
				switch op {
				case "add":
					level, f, err := parseFile(rest)
					if err != nil {
						return err.Error()
					}
					e.Added = append(e.Added, NewFile{Level: level, Meta: f})
				case "del":
					f := strings.Fields(rest)
					level, _ := strconv.Atoi(strings.TrimPrefix(f[0], "L"))
					clip := "[0,100)"
					if len(f) > 2 {
						clip = parseRange(strings.TrimPrefix(f[2], "clip=")).String()
					}
					e.Deleted = append(e.Deleted, DeletedFile{Level: level, ID: f[1] + "@" + clip})
				default:
					return "unknown op " + op
				}
			}
			nv, err := base.Apply(e)
			if err != nil {
				return "error: " + err.Error()
			}
			v = nv
			return fmtVersion(v)
		case "pick":
			o := PickerOptions{}
			o.L0Trigger, _ = strconv.Atoi(c.arg("l0", "4"))
			o.L0MaxTables, _ = strconv.Atoi(c.arg("l0max", "0"))
			n, _ := strconv.Atoi(c.arg("base", "1000"))
			o.BaseLevelBytes = uint64(n)
			n, _ = strconv.Atoi(c.arg("l0min", "0"))
			o.L0MinBytes = uint64(n)
			n, _ = strconv.Atoi(c.arg("mult", "10"))
			o.Multiplier = uint64(n)
			n, _ = strconv.Atoi(c.arg("cheap", "0"))
			o.L0CheapRatio = uint64(n)
			p := Pick(v, o, &cursor)
			if p == nil {
				return "none"
			}
			cursor[p.Level], _ = p.Inputs[0].Bounds()
			var b strings.Builder
			fmt.Fprintf(&b, "L%d -> L%d score=%.2f bottommost=%t range=[%s,%s)\n", p.Level, p.OutputLevel, p.Score, p.Bottommost, fmtKey(p.Lo), fmtKey(p.Hi))
			for _, f := range p.Inputs {
				fmt.Fprintf(&b, "  input %s\n", f.Object)
			}
			for _, f := range p.Overlap {
				fmt.Fprintf(&b, "  overlap %s\n", f.Object)
			}
			return b.String()
		case "merge":
			// Input: "checkpoint <shard> kg=a-b" lines, each followed by
			// its file lines.
			var cps []*Checkpoint
			for _, l := range c.input {
				if strings.HasPrefix(l, "checkpoint ") {
					f := strings.Fields(l)
					cps = append(cps, &Checkpoint{Shard: f[1], KeyGroups: parseRange(strings.TrimPrefix(f[2], "kg="))})
					continue
				}
				level, f, err := parseFile(l)
				if err != nil {
					return err.Error()
				}
				cp := cps[len(cps)-1]
				for len(cp.Levels) <= level {
					cp.Levels = append(cp.Levels, nil)
				}
				cp.Levels[level] = append(cp.Levels[level], f)
			}
			nv, err := Merge(parseRange(c.arg("owned", "0-100")), cps...)
			if err != nil {
				return "error: " + err.Error()
			}
			v = nv
			return fmtVersion(v)
		}
		return "unknown command " + c.cmd
	})
}

// parseObj reads "shard:epoch:instance:num" into an SST name; anything
// else is taken literally.
func parseObj(s string) string {
	f := strings.Split(s, ":")
	if len(f) != 4 {
		return s
	}
	e, _ := strconv.ParseUint(f[1], 10, 64)
	i, _ := strconv.ParseUint(f[2], 10, 64)
	n, _ := strconv.ParseUint(f[3], 10, 64)
	return SSTName(Writer{Shard: f[0], Epoch: e, Instance: i}, n)
}

func fmtObj(name string) string {
	if w, n, ok := ParseSSTName(name); ok {
		return fmt.Sprintf("%s:%d:%d:%d", w.Shard, w.Epoch, w.Instance, n)
	}
	if s, id, ok := ParseManifestName(name); ok {
		return fmt.Sprintf("manifest(%s,%d)", s, id)
	}
	return name
}

func TestGCDataDriven(t *testing.T) {
	runDataDriven(t, "testdata/gc", func(t *testing.T, c *ddCase) string {
		self := strings.Split(c.arg("self", "op/0:1:1"), ":")
		e, _ := strconv.ParseUint(self[1], 10, 64)
		i, _ := strconv.ParseUint(self[2], 10, 64)
		in := GCInput{Self: Writer{Shard: self[0], Epoch: e, Instance: i}, Live: map[string]bool{}}
		p := Policy{}
		p.KeepLast, _ = strconv.Atoi(c.arg("keep", "2"))
		kf, _ := strconv.ParseUint(c.arg("keepfrom", "0"), 10, 64)
		p.KeepFrom = kf
		all := map[string]*Checkpoint{}
		var names []string
		var pins []uint64
		for _, l := range c.input {
			f := strings.Fields(l)
			switch f[0] {
			case "manifest": // manifest <shard> <id> epoch=<e> <obj>...
				id, _ := strconv.ParseUint(f[2], 10, 64)
				ep, _ := strconv.ParseUint(strings.TrimPrefix(f[3], "epoch="), 10, 64)
				cp := &Checkpoint{Shard: f[1], ID: id, Epoch: ep, Levels: [][]*FileMeta{nil}}
				for _, o := range f[4:] {
					cp.Levels[0] = append(cp.Levels[0], &FileMeta{Object: parseObj(o)})
				}
				n := ManifestName(f[1], id)
				names = append(names, n)
				all[n] = cp
			case "object":
				for _, o := range f[1:] {
					in.Objects = append(in.Objects, parseObj(o))
				}
			case "live":
				for _, o := range f[1:] {
					in.Live[parseObj(o)] = true
				}
			case "pin":
				id, _ := strconv.ParseUint(f[1], 10, 64)
				pins = append(pins, id)
			default:
				return "unknown line " + l
			}
		}
		if err := p.Validate(); err != nil {
			return "error: " + err.Error()
		}
		retained, dropped := SelectRetained(names, pins, p)
		in.Retained, in.Dropped = map[string]*Checkpoint{}, map[string]*Checkpoint{}
		var b strings.Builder
		for _, n := range retained {
			in.Retained[n] = all[n]
			fmt.Fprintf(&b, "retain %s\n", fmtObj(n))
		}
		for _, n := range dropped {
			in.Dropped[n] = all[n]
		}
		plan := PlanGC(in)
		for _, o := range plan.DeleteObjects {
			fmt.Fprintf(&b, "delete %s\n", fmtObj(o))
		}
		for _, o := range plan.DeleteManifests {
			fmt.Fprintf(&b, "delete %s\n", fmtObj(o))
		}
		for _, o := range in.Objects {
			if why, ok := plan.Kept[o]; ok {
				fmt.Fprintf(&b, "keep %s: %s\n", fmtObj(o), why)
			}
		}
		return b.String()
	})
}

func TestNamesRoundTrip(t *testing.T) {
	for _, shard := range []string{"op/0", "window-3/subtask-7", "a b=c", "", "ünï"} {
		w := Writer{Shard: shard, Epoch: 7, Instance: 0xdeadbeef}
		n := SSTName(w, 42)
		if err := validName(n); err != nil {
			t.Errorf("SSTName(%q) = %q: %v", shard, n, err)
		}
		gw, num, ok := ParseSSTName(n)
		if !ok || gw != w || num != 42 {
			t.Errorf("ParseSSTName(%q) = %v %d %t", n, gw, num, ok)
		}
		m := ManifestName(shard, 9)
		if err := validName(m); err != nil {
			t.Errorf("ManifestName(%q) = %q: %v", shard, m, err)
		}
		gs, id, ok := ParseManifestName(m)
		if !ok || gs != shard || id != 9 {
			t.Errorf("ParseManifestName(%q) = %q %d %t", m, gs, id, ok)
		}
	}
	if a, b := ManifestName("s", 9), ManifestName("s", 10); a >= b {
		t.Errorf("manifest names do not sort by id: %q >= %q", a, b)
	}
	if id, ok := ParsePinName(PinName(5)); !ok || id != 5 {
		t.Errorf("pin round trip: %d %t", id, ok)
	}
}

// validName mirrors objstore's naming rule (letters, digits, "/-_.=+", no
// empty segment, no segment starting with '.').
func validName(n string) error {
	for _, seg := range strings.Split(n, "/") {
		if seg == "" || seg[0] == '.' {
			return fmt.Errorf("bad segment %q", seg)
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.=+", c)) {
				return fmt.Errorf("bad byte %q", c)
			}
		}
	}
	return nil
}

func TestCheckpointEncoding(t *testing.T) {
	v := &Version{}
	v.Levels[0] = []*FileMeta{{Object: "sst/x/1.sst", Size: 10, Smallest: parseKey("1/a"), Limit: parseKey("1/b"), Clip: statestore.KeyGroupRange{End: 4}, MinSeq: 1, MaxSeq: 5}}
	v.Levels[2] = []*FileMeta{{Object: "sst/x/2.sst", Size: 20, Smallest: parseKey("2/a"), Limit: parseKey("3/b"), Clip: statestore.KeyGroupRange{End: 4}, MinSeq: 1, MaxSeq: 2, MinExpiry: 5, MaxExpiry: 9}}
	cp := NewCheckpoint(Writer{Shard: "s", Epoch: 2, Instance: 3}, 7, statestore.KeyGroupRange{End: 4}, 99, v)
	b := cp.Encode()
	got, err := DecodeCheckpoint("m", b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Levels) != fmt.Sprint(cp.Levels) || got.LastSeq != 99 || got.ID != 7 || got.Writer() != cp.Writer() || got.KeyGroups != cp.KeyGroups {
		t.Fatalf("round trip: got %+v, want %+v", got, cp)
	}
	mv, err := Merge(statestore.KeyGroupRange{End: 4}, got)
	if err != nil || fmtVersion(mv) != fmtVersion(v) {
		t.Fatalf("merge of one checkpoint = %v, %v; want %v", mv, err, v)
	}
	// Every single-byte change and every truncation is detected.
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x01
		if _, err := DecodeCheckpoint("m", bad); !statestore.IsCorruption(err) {
			t.Fatalf("flip at %d: err = %v, want corruption", i, err)
		}
	}
	for n := 0; n < len(b); n += 7 {
		if _, err := DecodeCheckpoint("m", b[:n]); !statestore.IsCorruption(err) {
			t.Fatalf("truncated to %d: err = %v, want corruption", n, err)
		}
	}
}

func TestRefs(t *testing.T) {
	r := NewRefs()
	r.Add("a")
	r.Add("a")
	r.Add("b")
	r.Remove("a")
	if !r.Referenced("a") || r.Count("a") != 1 || r.Len() != 2 {
		t.Fatalf("refs: %v", r.Names())
	}
	r.Remove("a")
	if r.Referenced("a") || fmt.Sprint(r.Names()) != "[b]" {
		t.Fatalf("refs: %v", r.Names())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("removing an unreferenced object did not panic")
		}
	}()
	r.Remove("zzz")
}

// ContainsKey and EndsAtOrBefore agree with Bounds on random references
// and keys (short keys, empty and partial clips, keys at the bounds).
func TestFileMetaKeyChecks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randKey := func() []byte {
		k := make([]byte, rng.IntN(5))
		for i := range k {
			k[i] = byte(rng.IntN(4))
		}
		return k
	}
	for range 200_000 {
		lo, hi := randKey(), randKey()
		if bytes.Compare(lo, hi) > 0 {
			lo, hi = hi, lo
		}
		a, b := uint16(rng.IntN(1100)), uint16(rng.IntN(1100))
		f := &FileMeta{Smallest: lo, Limit: hi, Clip: statestore.KeyGroupRange{Start: min(a, b), End: max(a, b)}}
		if rng.IntN(10) == 0 {
			f.Clip = statestore.KeyGroupRange{Start: max(a, b), End: min(a, b)} // malformed: empty
		}
		for range 4 {
			k := randKey()
			if rng.IntN(4) == 0 {
				k = bytes.Clone([][]byte{lo, hi}[rng.IntN(2)])
			}
			blo, bhi := f.Bounds()
			if want := bytes.Compare(k, blo) >= 0 && bytes.Compare(k, bhi) < 0; f.ContainsKey(k) != want {
				t.Fatalf("%v ContainsKey(%x) = %t, want %t", f, k, !want, want)
			}
			if want := bytes.Compare(bhi, k) <= 0; f.EndsAtOrBefore(k) != want {
				t.Fatalf("%v EndsAtOrBefore(%x) = %t, want %t", f, k, !want, want)
			}
		}
	}
}
