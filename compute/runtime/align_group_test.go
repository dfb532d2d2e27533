package runtime

import (
	"testing"
	"time"
)

// TestAlignGroup walks a watermark alignment group through its states: no
// member is held before every active member has a watermark, a member
// more than the drift ahead of the slowest is held until the slowest moves
// (the channel it waits on closes), and idle or finished members never
// hold the group back.
func TestAlignGroup(t *testing.T) {
	g := newAlignGroup(time.Second)
	a, b, c := &task{}, &task{}, &task{}
	g.join(a)
	g.join(b)
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	held := func(x *task, want bool, when string) <-chan struct{} {
		t.Helper()
		ch, h := g.hold(x)
		if h != want {
			t.Fatalf("%s: held=%v, want %v", when, h, want)
		}
		if h && ch == nil {
			t.Fatalf("%s: held without a channel to wait on", when)
		}
		return ch
	}
	held(a, false, "no watermark yet")
	g.update(a, at(10), true)
	wait := held(a, true, "b has no watermark yet")
	held(b, false, "b is the slowest")
	g.update(b, at(9), true)
	select {
	case <-wait:
	default:
		t.Fatal("the minimum moved but the held member was not woken")
	}
	held(a, false, "a is 1s ahead: within the drift")
	g.update(a, at(11), true)
	wait = held(a, true, "a is 2s ahead")
	g.update(a, at(12), true) // a's own progress does not move the minimum
	select {
	case <-wait:
		t.Fatal("woken although the minimum did not move")
	default:
	}
	g.join(c)
	held(b, true, "c joined without a watermark")
	held(c, false, "c has no watermark")
	g.update(c, time.Time{}, false) // c idle
	held(b, false, "c is idle: b is the slowest")
	g.update(b, time.Time{}, false) // b finished
	held(a, false, "a is the only active member")
	select {
	case <-wait:
	default:
		t.Fatal("b left but the held member was not woken")
	}
	g.update(c, at(1), true) // c active again, far behind
	held(a, true, "c is active again, 11s behind")
}
