package sstable

import (
	"encoding/binary"
	"fmt"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// Properties describe a table. They are computed by the Writer and stored in
// the properties block; Reader.Properties returns them without reading data.
type Properties struct {
	// NumEntries counts point entries (sets and point deletes).
	NumEntries uint64
	// NumDeletions counts point deletes.
	NumDeletions uint64
	// NumRangeDeletions counts range deletions.
	NumRangeDeletions uint64
	// NumExpiring counts entries that carry an expiry.
	NumExpiring uint64
	// RawKeyBytes and RawValueBytes sum the user key and user value sizes of
	// point entries (uncompressed, without trailers or expiry prefixes).
	RawKeyBytes, RawValueBytes uint64
	// NumDataBlocks is the number of data blocks.
	NumDataBlocks uint64
	// DataBytes is the on-disk size of the data blocks including trailers.
	DataBytes uint64
	// SmallestKey and LargestKey bound the point keys and range-deletion start
	// keys (internal keys). Both are zero when the table has no entries.
	SmallestKey, LargestKey base.InternalKey
	// RangeDelEnd is the largest exclusive end key of any range deletion, or
	// nil when there are none. Together with SmallestKey it bounds every user
	// key the table can affect.
	RangeDelEnd []byte
	// MinKeyGroup and MaxKeyGroup bound the key groups of all keys,
	// range-deletion spans included. Meaningful only when HasKeys.
	MinKeyGroup, MaxKeyGroup uint16
	// MinExpiry and MaxExpiry bound the expiry of expiring entries; both are
	// base.NoExpiry when NumExpiring is zero.
	MinExpiry, MaxExpiry base.Expiry
	// MinSeqNum and MaxSeqNum bound every entry's sequence number, range
	// deletions included.
	MinSeqNum, MaxSeqNum uint64
	// Compression is the codec the writer was asked to use.
	Compression Compression
	// BloomBitsPerKey is the filter density; 0 means no filter.
	BloomBitsPerKey uint64
}

// HasKeys reports whether the table holds any point entry or range deletion.
func (p *Properties) HasKeys() bool { return p.NumEntries+p.NumRangeDeletions > 0 }

// Property tags. Unknown tags are skipped on read so that new properties can
// be added without a format version bump.
const (
	propNumEntries = iota + 1
	propNumDeletions
	propNumRangeDeletions
	propNumExpiring
	propRawKeyBytes
	propRawValueBytes
	propNumDataBlocks
	propDataBytes
	propSmallestKey
	propLargestKey
	propRangeDelEnd
	propMinKeyGroup
	propMaxKeyGroup
	propMinExpiry
	propMaxExpiry
	propMinSeqNum
	propMaxSeqNum
	propCompression
	propBloomBitsPerKey
)

// encode writes (uvarint tag, uvarint len, bytes) records.
func (p *Properties) encode() []byte {
	var b []byte
	num := func(tag int, v uint64) {
		b = binary.AppendUvarint(b, uint64(tag))
		b = binary.AppendUvarint(b, uint64(binary.PutUvarint(make([]byte, 10), v)))
		b = binary.AppendUvarint(b, v)
	}
	raw := func(tag int, v []byte) {
		b = binary.AppendUvarint(b, uint64(tag))
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	num(propNumEntries, p.NumEntries)
	num(propNumDeletions, p.NumDeletions)
	num(propNumRangeDeletions, p.NumRangeDeletions)
	num(propNumExpiring, p.NumExpiring)
	num(propRawKeyBytes, p.RawKeyBytes)
	num(propRawValueBytes, p.RawValueBytes)
	num(propNumDataBlocks, p.NumDataBlocks)
	num(propDataBytes, p.DataBytes)
	if p.HasKeys() {
		raw(propSmallestKey, p.SmallestKey.AppendEncoded(nil))
		raw(propLargestKey, p.LargestKey.AppendEncoded(nil))
	}
	if p.RangeDelEnd != nil {
		raw(propRangeDelEnd, p.RangeDelEnd)
	}
	num(propMinKeyGroup, uint64(p.MinKeyGroup))
	num(propMaxKeyGroup, uint64(p.MaxKeyGroup))
	num(propMinExpiry, uint64(p.MinExpiry))
	num(propMaxExpiry, uint64(p.MaxExpiry))
	num(propMinSeqNum, p.MinSeqNum)
	num(propMaxSeqNum, p.MaxSeqNum)
	num(propCompression, uint64(p.Compression))
	num(propBloomBitsPerKey, p.BloomBitsPerKey)
	return b
}

func decodeProperties(b []byte) (*Properties, error) {
	p := &Properties{}
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("bad property tag")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, fmt.Errorf("property %d: bad length", tag)
		}
		v := b[n : n+int(l) : n+int(l)]
		b = b[n+int(l):]
		var u uint64
		switch tag {
		case propSmallestKey, propLargestKey, propRangeDelEnd:
		default:
			var m int
			u, m = binary.Uvarint(v)
			if m <= 0 && tag <= propBloomBitsPerKey {
				return nil, fmt.Errorf("property %d: bad number", tag)
			}
		}
		switch tag {
		case propNumEntries:
			p.NumEntries = u
		case propNumDeletions:
			p.NumDeletions = u
		case propNumRangeDeletions:
			p.NumRangeDeletions = u
		case propNumExpiring:
			p.NumExpiring = u
		case propRawKeyBytes:
			p.RawKeyBytes = u
		case propRawValueBytes:
			p.RawValueBytes = u
		case propNumDataBlocks:
			p.NumDataBlocks = u
		case propDataBytes:
			p.DataBytes = u
		case propSmallestKey, propLargestKey:
			k, ok := base.DecodeInternalKey(v)
			if !ok {
				return nil, fmt.Errorf("property %d: short internal key", tag)
			}
			k = k.Clone()
			if tag == propSmallestKey {
				p.SmallestKey = k
			} else {
				p.LargestKey = k
			}
		case propRangeDelEnd:
			p.RangeDelEnd = append([]byte{}, v...)
		case propMinKeyGroup:
			p.MinKeyGroup = uint16(u)
		case propMaxKeyGroup:
			p.MaxKeyGroup = uint16(u)
		case propMinExpiry:
			p.MinExpiry = base.Expiry(u)
		case propMaxExpiry:
			p.MaxExpiry = base.Expiry(u)
		case propMinSeqNum:
			p.MinSeqNum = u
		case propMaxSeqNum:
			p.MaxSeqNum = u
		case propCompression:
			p.Compression = Compression(u)
		case propBloomBitsPerKey:
			p.BloomBitsPerKey = u
		}
	}
	return p, nil
}
