package manifest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestUnpublishedDataDriven replays traces of a store's table events: each
// block starts with an empty tracker and prints the tables reported
// obsolete, event by event, then what is still tracked.
//
//	create <obj>            a table starts being written
//	finish <obj> <size>     it is complete
//	done <obj>              its writing ends (installed, failed or empty)
//	install <v> <obj>...    version v becomes live
//	release <v>             the last reference to v goes
//	publish <v>             a manifest of v is about to be written
func TestUnpublishedDataDriven(t *testing.T) {
	runDataDriven(t, "testdata/unpublished", func(t *testing.T, c *ddCase) string {
		if c.cmd != "trace" {
			return "unknown command " + c.cmd
		}
		u := NewUnpublished()
		versions := map[string]*Version{}
		var b strings.Builder
		report := func(ev string, obs []Obsolete) {
			for _, o := range obs {
				fmt.Fprintf(&b, "%s: obsolete %s size=%d\n", ev, o.Object, o.Size)
			}
		}
		for _, l := range c.input {
			f := strings.Fields(l)
			if len(f) < 2 {
				return "bad line " + l
			}
			switch f[0] {
			case "create":
				u.Create(f[1])
			case "finish":
				n, err := strconv.ParseUint(f[2], 10, 64)
				if err != nil {
					return err.Error()
				}
				u.Finished(f[1], n)
			case "done":
				if o, ok := u.Done(f[1]); ok {
					report(l, []Obsolete{o})
				}
			case "install":
				v := &Version{}
				for _, o := range f[2:] {
					v.Levels[1] = append(v.Levels[1], &FileMeta{Object: o})
				}
				versions[f[1]] = v
				u.AddVersion(v)
			case "release":
				report(l, u.RemoveVersion(versions[f[1]], nil))
			case "publish":
				u.Publish(versions[f[1]])
			default:
				return "unknown event " + l
			}
		}
		if u.Len() == 0 {
			b.WriteString("tracked: none\n")
		} else {
			b.WriteString("tracked:\n" + u.String())
		}
		return b.String()
	})
}

// Misuse is an accounting bug of the caller and panics with the table.
func TestUnpublishedMisuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(u *Unpublished)
		want string
	}{
		{"done without create", func(u *Unpublished) {
			u.Create("a")
			u.Done("a") // obsolete, forgotten: a second Done is ignored
			u.Create("b")
			u.AddVersion(&Version{Levels: [NumLevels][]*FileMeta{1: {{Object: "b"}}}})
			u.Done("b")
			u.Done("b")
		}, "Done(b) without Create"},
		{"release twice", func(u *Unpublished) {
			v := &Version{Levels: [NumLevels][]*FileMeta{1: {{Object: "a"}}}}
			u.Create("a")
			u.Create("a")
			u.AddVersion(v)
			u.RemoveVersion(v, nil)
			u.RemoveVersion(v, nil)
		}, "uncounted reference to a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Fatalf("panic %v, want one containing %q", r, tc.want)
				}
			}()
			tc.f(NewUnpublished())
		})
	}
}
