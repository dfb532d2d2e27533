package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/sluicedata/sluice/statestore"
)

// Checkpoint is the durable metadata of one checkpoint of one shard: the
// version (tables per level) as of the checkpoint's last sequence number.
// It is written once, with a conditional create, under
// ManifestName(Shard, ID), and never modified.
type Checkpoint struct {
	// Shard is the name of the shard that took the checkpoint.
	Shard string `json:"shard"`
	// Epoch is the writer's deployment attempt (statestore.ShardOptions).
	Epoch uint64 `json:"epoch"`
	// Instance identifies the writing process instance (random per open).
	Instance uint64 `json:"instance"`
	// ID is the checkpoint id.
	ID uint64 `json:"id"`
	// KeyGroups is the range the shard owned.
	KeyGroups statestore.KeyGroupRange `json:"key_groups"`
	// LastSeq is the largest sequence number the checkpoint covers; a store
	// opened from it continues above it.
	LastSeq uint64 `json:"last_seq"`
	// Levels lists the table references per level.
	Levels [][]*FileMeta `json:"levels"`
}

// NewCheckpoint captures v.
func NewCheckpoint(w Writer, id uint64, kg statestore.KeyGroupRange, lastSeq uint64, v *Version) *Checkpoint {
	cp := &Checkpoint{Shard: w.Shard, Epoch: w.Epoch, Instance: w.Instance, ID: id, KeyGroups: kg, LastSeq: lastSeq}
	last := 0
	for l := range NumLevels {
		if len(v.Levels[l]) > 0 {
			last = l + 1
		}
	}
	cp.Levels = make([][]*FileMeta, last)
	for l := range last {
		cp.Levels[l] = append([]*FileMeta(nil), v.Levels[l]...)
	}
	return cp
}

// Objects calls fn for every object the checkpoint references.
func (c *Checkpoint) Objects(fn func(name string)) {
	for _, l := range c.Levels {
		for _, f := range l {
			fn(f.Object)
		}
	}
}

// Writer returns the identity of the checkpoint's writer.
func (c *Checkpoint) Writer() Writer {
	return Writer{Shard: c.Shard, Epoch: c.Epoch, Instance: c.Instance}
}

const manifestMagic = "sluice-manifest-v1\n"

// Encode returns the object bytes: a magic line, the JSON body, and a
// trailing line with the xxhash64 of everything before it.
func (c *Checkpoint) Encode() []byte {
	body, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("manifest: encode checkpoint: %v", err)) // plain structs cannot fail
	}
	b := make([]byte, 0, len(manifestMagic)+len(body)+18)
	b = append(b, manifestMagic...)
	b = append(b, body...)
	b = append(b, '\n')
	b = fmt.Appendf(b, "%016x\n", xxhash.Sum64(b))
	return b
}

// DecodeCheckpoint parses what Encode produced. name is used in errors. A
// damaged object returns an error marked as statestore corruption.
func DecodeCheckpoint(name string, b []byte) (*Checkpoint, error) {
	if len(b) < len(manifestMagic)+17 || !bytes.HasPrefix(b, []byte(manifestMagic)) {
		return nil, statestore.CorruptionErrorf("manifest %s at offset 0: bad magic or %d bytes is too short", name, len(b))
	}
	sumAt := len(b) - 17
	want, err := strconv.ParseUint(string(b[sumAt:sumAt+16]), 16, 64)
	if err != nil || b[len(b)-1] != '\n' || xxhash.Sum64(b[:sumAt]) != want {
		return nil, statestore.CorruptionErrorf("manifest %s at offset %d: checksum mismatch", name, sumAt)
	}
	var c Checkpoint
	if err := json.Unmarshal(b[len(manifestMagic):sumAt], &c); err != nil {
		return nil, statestore.CorruptionErrorf("manifest %s at offset %d: %v", name, len(manifestMagic), err)
	}
	if len(c.Levels) > NumLevels {
		return nil, statestore.CorruptionErrorf("manifest %s: %d levels, at most %d", name, len(c.Levels), NumLevels)
	}
	return &c, nil
}

// Writer identifies who wrote an object: a shard, its deployment epoch, and
// a random instance id chosen at open.
type Writer struct {
	Shard    string
	Epoch    uint64
	Instance uint64
}

func (w Writer) String() string { return fmt.Sprintf("%s/e%d/%016x", w.Shard, w.Epoch, w.Instance) }

// Object-name prefixes of the job namespace.
const (
	ManifestPrefix = "ckpt/"
	SSTPrefix      = "sst/"
	PinPrefix      = "pin/"
)

// EscapeShard maps a shard name to one object-name segment: letters,
// digits, '-' and '_' stay, every other byte becomes "=XX" (hex). An empty
// name becomes "=".
func EscapeShard(s string) string {
	if s == "" {
		return "="
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// UnescapeShard inverts EscapeShard.
func UnescapeShard(e string) (string, bool) {
	if e == "=" {
		return "", true
	}
	var b strings.Builder
	for i := 0; i < len(e); i++ {
		if e[i] != '=' {
			b.WriteByte(e[i])
			continue
		}
		if i+3 > len(e) {
			return "", false
		}
		v, err := strconv.ParseUint(e[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

// ManifestName is the object name of checkpoint id of shard:
// "ckpt/<escaped shard>/<id, 20 digits>.manifest". Zero-padding makes the
// listing order the id order.
func ManifestName(shard string, id uint64) string {
	return fmt.Sprintf("%s%s/%020d.manifest", ManifestPrefix, EscapeShard(shard), id)
}

// ParseManifestName inverts ManifestName.
func ParseManifestName(name string) (shard string, id uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, ManifestPrefix)
	if !ok {
		return "", 0, false
	}
	esc, file, ok := strings.Cut(rest, "/")
	if !ok {
		return "", 0, false
	}
	num, ok := strings.CutSuffix(file, ".manifest")
	if !ok || len(num) != 20 {
		return "", 0, false
	}
	id, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return "", 0, false
	}
	shard, ok = UnescapeShard(esc)
	return shard, id, ok
}

// SSTName is the object name of table num written by w:
// "sst/<escaped shard>/<epoch 16 hex>-<instance 16 hex>-<num 10 digits>.sst".
// Names are unique across the job because instances are random per open.
func SSTName(w Writer, num uint64) string {
	return fmt.Sprintf("%s%s/%016x-%016x-%010d.sst", SSTPrefix, EscapeShard(w.Shard), w.Epoch, w.Instance, num)
}

// ParseSSTName inverts SSTName.
func ParseSSTName(name string) (w Writer, num uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, SSTPrefix)
	if !ok {
		return Writer{}, 0, false
	}
	esc, file, ok := strings.Cut(rest, "/")
	if !ok {
		return Writer{}, 0, false
	}
	file, ok = strings.CutSuffix(file, ".sst")
	parts := strings.Split(file, "-")
	if !ok || len(parts) != 3 {
		return Writer{}, 0, false
	}
	var err1, err2, err3 error
	w.Epoch, err1 = strconv.ParseUint(parts[0], 16, 64)
	w.Instance, err2 = strconv.ParseUint(parts[1], 16, 64)
	num, err3 = strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Writer{}, 0, false
	}
	w.Shard, ok = UnescapeShard(esc)
	return w, num, ok
}

// PinName is the object that pins checkpoint id (a savepoint): while it
// exists, every shard's manifest of that id is retained.
func PinName(id uint64) string { return fmt.Sprintf("%s%020d", PinPrefix, id) }

// ParsePinName inverts PinName.
func ParsePinName(name string) (uint64, bool) {
	num, ok := strings.CutPrefix(name, PinPrefix)
	if !ok || len(num) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(num, 10, 64)
	return id, err == nil
}
