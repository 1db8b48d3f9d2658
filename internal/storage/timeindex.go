package storage

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// The time index (.timeindex) maps timestamps to offsets. An entry is 12
// bytes, big-endian:
//
//	timestamp      int64   the segment's largest batch maxTimestamp so far
//	relativeOffset uint32  base offset of the first batch that reached it
//	                       - segment baseOffset
//
// An entry is added together with an offset index entry (so at most one
// per index.interval.bytes) when the largest timestamp has grown since the
// last time entry, and once more when the segment is rolled or the log
// closed, so the last entry of a closed segment is its largest timestamp.
//
// Invariant: timestamps strictly increase and relative offsets never
// decrease. Therefore every batch before an entry's offset has a max
// timestamp below the entry's, which is what makes lookupTime correct: the
// first batch with maxTimestamp >= ts is at or after the offset of the last
// entry whose timestamp is <= ts.
const timeEntrySize = 12

func putTimeEntry(b []byte, ts int64, rel uint32) {
	binary.BigEndian.PutUint64(b, uint64(ts))
	binary.BigEndian.PutUint32(b[8:], rel)
}

func timeEntry(entries []byte, i int) (ts int64, rel uint32) {
	e := entries[i*timeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

// lastTimeEntry returns the last entry, ok false when there is none.
func lastTimeEntry(entries []byte) (ts int64, rel uint32, ok bool) {
	n := len(entries) / timeEntrySize
	if n == 0 {
		return -1, 0, false
	}
	ts, rel = timeEntry(entries, n-1)
	return ts, rel, true
}

// lookupTime returns the relative offset to start scanning from for the
// first batch whose max timestamp is >= ts: that of the last entry whose
// timestamp is <= ts, or 0.
func lookupTime(entries []byte, ts int64) int64 {
	n := len(entries) / timeEntrySize
	i := sort.Search(n, func(i int) bool {
		t, _ := timeEntry(entries, i)
		return t > ts
	})
	if i == 0 {
		return 0
	}
	_, rel := timeEntry(entries, i-1)
	return int64(rel)
}

// checkTimeIndex checks an on-disk time index against the invariant and the
// relative offset bound maxRel (exclusive); see checkIndex.
func checkTimeIndex(entries []byte, maxRel int64) (n int, err error) {
	total := len(entries) / timeEntrySize
	var lastTs, lastRel int64 = -1 << 63, -1
	for i := 0; i < total; i++ {
		ts, r := timeEntry(entries, i)
		if ts <= lastTs || int64(r) < lastRel || int64(r) >= maxRel {
			return i, fmt.Errorf("time index entry %d (%d, %d) after (%d, %d)", i, ts, r, lastTs, lastRel)
		}
		lastTs, lastRel = ts, int64(r)
	}
	return total, nil
}
