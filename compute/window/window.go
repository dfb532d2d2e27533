package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Window is the half-open event-time (or processing-time) interval
// [Start, End) in milliseconds since the Unix epoch. It is a value type; the
// zero Window is empty and never assigned.
type Window struct {
	Start, End int64
}

// Global is the single window of the global assigner (and of count windows).
// Its MaxTimestamp is math.MaxInt64 - 1, so an event-time timer at it only
// fires at the final watermark.
var Global = Window{Start: math.MinInt64, End: math.MaxInt64}

// MaxTimestamp is the largest time inside w: End - 1. Event-time triggers
// fire when the watermark reaches it.
func (w Window) MaxTimestamp() int64 { return w.End - 1 }

// Intersects reports whether w and o overlap or touch. It follows Flink's
// TimeWindow.intersects, so session windows [0,10) and [10,20) merge.
func (w Window) Intersects(o Window) bool { return w.Start <= o.End && w.End >= o.Start }

// Cover is the smallest window containing both w and o.
func (w Window) Cover(o Window) Window {
	return Window{Start: min(w.Start, o.Start), End: max(w.End, o.End)}
}

// Contains reports whether t lies in [Start, End).
func (w Window) Contains(t int64) bool { return t >= w.Start && t < w.End }

func (w Window) String() string {
	if w == Global {
		return "global"
	}
	return fmt.Sprintf("[%d,%d)", w.Start, w.End)
}

// KeySize is the length of a window's namespace encoding.
const KeySize = 16

// AppendKey appends the 16-byte namespace encoding of w to dst: Start then
// End, each big-endian with the sign bit flipped, so byte order equals time
// order. State keys use it as the namespace of a window or slice, and a range
// scan over a key's namespaces visits windows in start order.
func (w Window) AppendKey(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.Start)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, uint64(w.End)^(1<<63))
}

// DecodeKey decodes a namespace written by AppendKey. It reads the first
// KeySize bytes of b.
func DecodeKey(b []byte) (Window, error) {
	if len(b) < KeySize {
		return Window{}, fmt.Errorf("%w: window key of %d bytes, want %d", ErrCorrupt, len(b), KeySize)
	}
	return Window{
		Start: int64(binary.BigEndian.Uint64(b) ^ (1 << 63)),
		End:   int64(binary.BigEndian.Uint64(b[8:]) ^ (1 << 63)),
	}, nil
}

// Errors. Config errors wrap ErrInvalidConfig, decoding errors ErrCorrupt,
// unsupported aggregate input types ErrUnsupported.
var (
	ErrInvalidConfig = errors.New("window: invalid config")
	ErrCorrupt       = errors.New("window: corrupt encoding")
	ErrUnsupported   = errors.New("window: unsupported")
	ErrNullTimestamp = errors.New("window: null timestamp")
)

// ConfigError is a rejected configuration value. It names the field, the value
// and the reason, and wraps ErrInvalidConfig.
type ConfigError struct {
	Field  string
	Value  any
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("window: %s = %v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func cfgErr(field string, value any, reason string) error {
	return &ConfigError{Field: field, Value: value, Reason: reason}
}

// millis converts a duration to whole milliseconds, or reports an error
// naming field when d is not a whole number of milliseconds.
func millis(field string, d time.Duration) (int64, error) {
	if d%time.Millisecond != 0 {
		return 0, cfgErr(field, d, "must be a whole number of milliseconds")
	}
	return int64(d / time.Millisecond), nil
}

// ToMillis converts a time to the package's time unit. The zero time.Time
// maps to math.MinInt64 (no watermark yet).
func ToMillis(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixMilli()
}

// floorStart is Flink's TimeWindow.getWindowStartWithOffset: the start of the
// width-wide bucket (aligned to offset) that contains t.
func floorStart(t, offset, width int64) int64 {
	r := (t - offset) % width
	if r < 0 {
		r += width
	}
	return t - r
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
