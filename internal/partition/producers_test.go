package partition

import (
	"errors"
	"math"
	"testing"
)

// entryWith builds a producer entry at epoch holding batches given as
// (firstSeq, lastSeq) pairs, laid out at consecutive offsets from 100.
func entryWith(epoch int16, seqs ...[2]int32) producerEntry {
	var e producerEntry
	off := int64(100)
	for _, s := range seqs {
		n := int64(s[1]) - int64(s[0])
		if n < 0 {
			n += math.MaxInt32 + 1 // wrapped
		}
		e.add(epoch, batchMetadata{FirstSequence: s[0], LastSequence: s[1], FirstOffset: off, LastOffset: off + n}, 1)
		off += n + 1
	}
	return e
}

func TestCheckBatch(t *testing.T) {
	five := entryWith(3, [2]int32{0, 4}, [2]int32{5, 9}, [2]int32{10, 14}, [2]int32{15, 19}, [2]int32{20, 24})
	six := entryWith(3, [2]int32{0, 4}, [2]int32{5, 9}, [2]int32{10, 14}, [2]int32{15, 19}, [2]int32{20, 24}, [2]int32{25, 29})
	wrap := entryWith(1, [2]int32{math.MaxInt32 - 1, math.MaxInt32})
	tests := []struct {
		name            string
		e               producerEntry
		known           bool
		epoch           int16
		first, last     int32
		wantErr         error
		wantDupFirstOff int64 // -1: not a duplicate
	}{
		{"unknown producer, sequence 0", producerEntry{}, false, 0, 0, 4, nil, -1},
		{"unknown producer, any sequence (KIP-360)", producerEntry{}, false, 7, 1234, 1240, nil, -1},
		{"next in sequence", five, true, 3, 25, 29, nil, -1},
		{"gap", five, true, 3, 26, 30, ErrOutOfOrderSequence, -1},
		{"behind, not a remembered batch", five, true, 3, 3, 7, ErrOutOfOrderSequence, -1},
		{"duplicate of the newest", five, true, 3, 20, 24, nil, 120},
		{"duplicate of the oldest", five, true, 3, 0, 4, nil, 100},
		{"oldest evicted after six batches", six, true, 3, 0, 4, ErrOutOfOrderSequence, -1},
		{"second oldest still remembered", six, true, 3, 5, 9, nil, 105},
		{"same first sequence, other range", five, true, 3, 20, 22, ErrOutOfOrderSequence, -1},
		{"older epoch is fenced", five, true, 2, 25, 29, ErrInvalidProducerEpoch, -1},
		{"older epoch with a duplicate range is still fenced", five, true, 2, 20, 24, ErrInvalidProducerEpoch, -1},
		{"newer epoch starts at 0", five, true, 4, 0, 9, nil, -1},
		{"newer epoch not at 0", five, true, 4, 25, 29, ErrOutOfOrderSequence, -1},
		{"sequence wraps after MaxInt32", wrap, true, 1, 0, 3, nil, -1},
		{"after MaxInt32 only 0 follows", wrap, true, 1, 1, 3, ErrOutOfOrderSequence, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			v, err := checkBatch(&e, tt.known, tt.epoch, tt.first, tt.last)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			switch {
			case tt.wantDupFirstOff < 0 && v.duplicate != nil:
				t.Fatalf("duplicate of %+v, want none", *v.duplicate)
			case tt.wantDupFirstOff >= 0 && v.duplicate == nil:
				t.Fatalf("no duplicate, want one at offset %d", tt.wantDupFirstOff)
			case tt.wantDupFirstOff >= 0 && v.duplicate.FirstOffset != tt.wantDupFirstOff:
				t.Fatalf("duplicate at offset %d, want %d", v.duplicate.FirstOffset, tt.wantDupFirstOff)
			}
		})
	}
}

func TestProducerEntryNewEpochResetsHistory(t *testing.T) {
	e := entryWith(1, [2]int32{0, 4}, [2]int32{5, 9})
	e.add(2, batchMetadata{FirstSequence: 0, LastSequence: 2, FirstOffset: 200, LastOffset: 202}, 5)
	if e.Epoch != 2 || e.count != 1 || e.last().FirstOffset != 200 {
		t.Fatalf("after epoch bump: epoch %d, %d batches, last at %d", e.Epoch, e.count, e.last().FirstOffset)
	}
	if e.findDuplicate(1, 0, 4) != nil {
		t.Fatal("a batch of the old epoch is still taken for a duplicate")
	}
	if e.LastAppendMs != 5 {
		t.Fatalf("LastAppendMs = %d, want 5", e.LastAppendMs)
	}
}

func TestProducerTableExpiry(t *testing.T) {
	tab := newProducerTable(0, 1000)
	tab.store(7, entryWith(0, [2]int32{0, 0}), 0) // LastAppendMs 1
	if _, ok := tab.lookup(7, 1000); !ok {
		t.Fatal("expired one millisecond early")
	}
	if _, ok := tab.lookup(7, 1001); ok {
		t.Fatal("not expired after producer.id.expiration.ms")
	}
	tab.removeExpired(1001)
	if len(tab.entries) != 0 {
		t.Fatalf("%d entries left after removeExpired", len(tab.entries))
	}
}

func TestProducerTableBounded(t *testing.T) {
	tab := newProducerTable(3, 1_000_000)
	for pid := range int64(10) {
		var e producerEntry
		e.add(0, batchMetadata{FirstOffset: pid, LastOffset: pid}, 100+pid) // pid 9 is the most recent
		tab.store(pid, e, 100+pid)
		if len(tab.entries) > 3 {
			t.Fatalf("%d entries, cap is 3", len(tab.entries))
		}
	}
	for _, pid := range []int64{7, 8, 9} {
		if _, ok := tab.entries[pid]; !ok {
			t.Fatalf("producer %d (among the most recent) was evicted; have %v", pid, tab.entries)
		}
	}
}

func TestProducerTableRemoveBefore(t *testing.T) {
	tab := newProducerTable(0, 0)
	tab.replay(1, 0, batchMetadata{FirstOffset: 0, LastOffset: 9}, 1)
	tab.replay(2, 0, batchMetadata{FirstOffset: 10, LastOffset: 19}, 1)
	tab.removeBefore(10)
	if _, ok := tab.entries[1]; ok {
		t.Fatal("producer whose data is gone is still known")
	}
	if _, ok := tab.entries[2]; !ok {
		t.Fatal("producer with data at the log start was forgotten")
	}
}
