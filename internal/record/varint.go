package record

import (
	"encoding/binary"
	"math"
)

// Kafka's record fields use protobuf-style zig-zag varints: "varint" for
// 32-bit values (at most 5 bytes) and "varlong" for 64-bit ones (at most 10).

// readVarint decodes a 32-bit zig-zag varint from the front of b and returns
// it with its encoded size; n <= 0 means b is short or the value overflows.
func readVarint(b []byte) (v int32, n int) {
	// The one-byte case (values -64..63) is most lengths and deltas; it is
	// kept small enough to inline.
	if len(b) > 0 && b[0] < 0x80 {
		return int32(b[0]>>1) ^ -int32(b[0]&1), 1
	}
	return readVarintSlow(b)
}

func readVarintSlow(b []byte) (v int32, n int) {
	u, n := binary.Uvarint(b)
	if n <= 0 || n > binary.MaxVarintLen32 || u > math.MaxUint32 {
		return 0, -1
	}
	u32 := uint32(u)
	return int32(u32>>1) ^ -int32(u32&1), n
}

// readVarlong decodes a 64-bit zig-zag varint; n <= 0 on failure.
func readVarlong(b []byte) (v int64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	return readVarlongSlow(b)
}

func readVarlongSlow(b []byte) (v int64, n int) {
	u, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, -1
	}
	return int64(u>>1) ^ -int64(u&1), n
}

func appendVarint(b []byte, v int32) []byte {
	return binary.AppendUvarint(b, uint64(uint32(v<<1)^uint32(v>>31)))
}

func appendVarlong(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

// sizeVarint is the encoded size of v as a 32-bit zig-zag varint.
func sizeVarint(v int32) int {
	u := uint32(v<<1) ^ uint32(v>>31)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// appendVarintBytes appends a length-prefixed byte string; nil is null (-1).
func appendVarintBytes(b, s []byte) []byte {
	if s == nil {
		return appendVarint(b, -1)
	}
	b = appendVarint(b, int32(len(s)))
	return append(b, s...)
}

// sizeVarintBytes is the encoded size of appendVarintBytes(nil, s).
func sizeVarintBytes(s []byte) int {
	if s == nil {
		return 1
	}
	return sizeVarint(int32(len(s))) + len(s)
}
