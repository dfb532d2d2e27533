package sstable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// ErrCorruption is matched (errors.Is) by every corruption error this
// package returns: a checksum mismatch, a bad footer, truncated data, or a
// block that does not decode.
var ErrCorruption = errors.New("sstable: corruption")

// CorruptionError describes corrupt table data. It matches ErrCorruption.
type CorruptionError struct {
	Object string // the object name from ReaderOptions.Name
	Offset int64  // the byte offset of the damaged structure
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("sstable: corruption in %s at offset %d: %s", e.Object, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorruption) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorruption }

// Compression selects the codec for data, index and range-deletion blocks.
// The numeric values are stored in every block trailer.
type Compression uint8

const (
	// CompressionDefault resolves to CompressionSnappy.
	CompressionDefault Compression = iota
	// CompressionNone stores blocks as they are.
	CompressionNone
	// CompressionSnappy uses the Snappy block format (klauspost/compress/s2's
	// Snappy-compatible encoder).
	CompressionSnappy
	// CompressionS2 uses S2, faster than Snappy at a similar ratio.
	CompressionS2
	// CompressionZstd uses zstd at its fastest level.
	CompressionZstd
	compressionCount
)

// String returns the codec name.
func (c Compression) String() string {
	switch c {
	case CompressionDefault:
		return "default"
	case CompressionNone:
		return "none"
	case CompressionSnappy:
		return "snappy"
	case CompressionS2:
		return "s2"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

const (
	// blockTrailerLen is the compression byte plus the 8-byte checksum.
	blockTrailerLen = 9
	// footerLen is the fixed footer size.
	footerLen = 4*16 + 4 + 8 + 8
	// tableMagic is "sluicSST" read as a little-endian uint64.
	tableMagic = uint64(0x5453536369756c73)
	// formatVersion is the only table format this package reads and writes.
	formatVersion = uint32(1)
	// maxDecodedBlock bounds the size a compressed block may claim to expand to.
	maxDecodedBlock = 256 << 20
)

// blockHandle locates a block: Length excludes the 9-byte trailer.
type blockHandle struct {
	Offset, Length uint64
}

func (h blockHandle) appendVarint(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, h.Offset)
	return binary.AppendUvarint(dst, h.Length)
}

func decodeVarintHandle(b []byte) (blockHandle, bool) {
	off, n := binary.Uvarint(b)
	if n <= 0 {
		return blockHandle{}, false
	}
	l, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return blockHandle{}, false
	}
	return blockHandle{Offset: off, Length: l}, true
}

type footer struct {
	filter, rangeDel, props, index blockHandle
}

func (f footer) encode() []byte {
	b := make([]byte, 0, footerLen)
	for _, h := range []blockHandle{f.filter, f.rangeDel, f.props, f.index} {
		b = binary.LittleEndian.AppendUint64(b, h.Offset)
		b = binary.LittleEndian.AppendUint64(b, h.Length)
	}
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
	return binary.LittleEndian.AppendUint64(b, tableMagic)
}

// decodeFooter parses b (exactly footerLen bytes) found at offset off.
func decodeFooter(b []byte, name string, off int64) (footer, error) {
	corrupt := func(reason string, args ...any) error {
		return &CorruptionError{Object: name, Offset: off, Reason: "footer: " + fmt.Sprintf(reason, args...)}
	}
	if len(b) != footerLen {
		return footer{}, corrupt("length %d, want %d", len(b), footerLen)
	}
	if m := binary.LittleEndian.Uint64(b[footerLen-8:]); m != tableMagic {
		return footer{}, corrupt("bad magic %#x", m)
	}
	if sum, want := xxhash.Sum64(b[:68]), binary.LittleEndian.Uint64(b[68:76]); sum != want {
		return footer{}, corrupt("checksum %#x, stored %#x", sum, want)
	}
	if v := binary.LittleEndian.Uint32(b[64:68]); v != formatVersion {
		return footer{}, corrupt("unsupported format version %d", v)
	}
	var hs [4]blockHandle
	for i := range hs {
		hs[i].Offset = binary.LittleEndian.Uint64(b[16*i:])
		hs[i].Length = binary.LittleEndian.Uint64(b[16*i+8:])
	}
	return footer{filter: hs[0], rangeDel: hs[1], props: hs[2], index: hs[3]}, nil
}

var (
	zstdEnc = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(fmt.Sprintf("sstable: zstd encoder: %v", err))
		}
		return e
	})
	zstdDec = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecodedBlock))
		if err != nil {
			panic(fmt.Sprintf("sstable: zstd decoder: %v", err))
		}
		return d
	})
)

// compress appends the compressed form of src to dst[:0] and returns it with
// the codec actually used: blocks that do not shrink by 1/8 are stored raw.
func compress(c Compression, dst, src []byte) ([]byte, Compression) {
	var out []byte
	switch c {
	case CompressionSnappy:
		out = s2.EncodeSnappy(dst[:cap(dst)], src)
	case CompressionS2:
		out = s2.Encode(dst[:cap(dst)], src)
	case CompressionZstd:
		out = zstdEnc().EncodeAll(src, dst[:0])
	default:
		return append(dst[:0], src...), CompressionNone
	}
	if len(out) > len(src)-len(src)/8 {
		return append(out[:0], src...), CompressionNone
	}
	return out, c
}

// decompress decodes src coded with c into a new slice.
func decompress(c Compression, src []byte) ([]byte, error) {
	switch c {
	case CompressionNone:
		return src[:len(src):len(src)], nil
	case CompressionSnappy, CompressionS2:
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > maxDecodedBlock {
			return nil, fmt.Errorf("decoded length %d exceeds %d", n, maxDecodedBlock)
		}
		return s2.Decode(make([]byte, n), src)
	case CompressionZstd:
		return zstdDec().DecodeAll(src, nil)
	}
	return nil, fmt.Errorf("unknown compression %d", uint8(c))
}
