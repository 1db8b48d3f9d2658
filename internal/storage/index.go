package storage

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// The offset index (.index) maps offsets to file positions, sparsely: one
// entry per index.interval.bytes of batches. An entry is 8 bytes, big-endian:
//
//	relativeOffset uint32  baseOffset of the batch - segment baseOffset
//	position       uint32  byte position of that batch in the .log file
//
// Invariants (checked when an index is loaded from disk, see checkIndex):
// relative offsets and positions both strictly increase, every position is
// below the .log size, and the batch at each position really has that base
// offset. Because positions strictly increase, a lookup may bound entries by
// position as well as by offset.
const offsetEntrySize = 8

func putOffsetEntry(b []byte, rel uint32, pos uint32) {
	binary.BigEndian.PutUint32(b, rel)
	binary.BigEndian.PutUint32(b[4:], pos)
}

func offsetEntry(entries []byte, i int) (rel uint32, pos uint32) {
	e := entries[i*offsetEntrySize:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

// entriesBelowPos is the number of entries whose position is < limit.
func entriesBelowPos(entries []byte, limit int64) int {
	n := len(entries) / offsetEntrySize
	return sort.Search(n, func(i int) bool {
		_, pos := offsetEntry(entries, i)
		return int64(pos) >= limit
	})
}

// lookupOffset returns the position of the last indexed batch whose base
// offset is <= rel and whose position is < limit, or 0 (the segment start).
func lookupOffset(entries []byte, rel int64, limit int64) int64 {
	n := entriesBelowPos(entries, limit)
	i := sort.Search(n, func(i int) bool {
		r, _ := offsetEntry(entries, i)
		return int64(r) > rel
	})
	if i == 0 {
		return 0
	}
	_, pos := offsetEntry(entries, i-1)
	return int64(pos)
}

// lookupPosition returns the last indexed position <= pos, or 0.
func lookupPosition(entries []byte, pos int64) int64 {
	n := entriesBelowPos(entries, pos+1)
	if n == 0 {
		return 0
	}
	_, p := offsetEntry(entries, n-1)
	return int64(p)
}

// checkIndex returns how many leading entries of an on-disk offset index
// are sane for a .log of logSize bytes: increasing, inside the file. A torn
// trailing partial entry is ignored. ok is false when an entry in the middle
// breaks the rules (the file does not check out and must be rebuilt).
func checkIndex(entries []byte, logSize int64) (n int, err error) {
	total := len(entries) / offsetEntrySize
	var lastRel, lastPos int64 = -1, -1
	for i := 0; i < total; i++ {
		r, p := offsetEntry(entries, i)
		if int64(r) <= lastRel || int64(p) <= lastPos || int64(p) >= logSize {
			return i, fmt.Errorf("offset index entry %d (%d, %d) after (%d, %d) with log size %d", i, r, p, lastRel, lastPos, logSize)
		}
		lastRel, lastPos = int64(r), int64(p)
	}
	return total, nil
}
