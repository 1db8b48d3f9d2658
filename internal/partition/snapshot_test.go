package partition

import (
	"bytes"
	"errors"
	"testing"
)

func sampleTable() *producerTable {
	tab := newProducerTable(0, 0)
	for pid := int64(1); pid <= 3; pid++ {
		for i := range int64(pid * 3) { // 3, 6 (wraps the ring), 9 batches
			tab.replay(pid*1000, int16(pid), batchMetadata{
				FirstSequence: int32(i * 10), LastSequence: int32(i*10 + 9),
				FirstOffset: pid*100 + i*10, LastOffset: pid*100 + i*10 + 9, MaxTimestamp: 1700000000000 + i,
			}, 42+pid)
		}
	}
	return tab
}

func TestSnapshotRoundTrip(t *testing.T) {
	tab := sampleTable()
	b := encodeSnapshot(nil, 1000, tab)
	got := newProducerTable(0, 0)
	off, err := decodeSnapshot(b, got)
	if err != nil {
		t.Fatal(err)
	}
	if off != 1000 {
		t.Fatalf("offset %d, want 1000", off)
	}
	if len(got.entries) != len(tab.entries) {
		t.Fatalf("%d producers, want %d", len(got.entries), len(tab.entries))
	}
	for pid, want := range tab.entries {
		g := got.entries[pid]
		if g == nil {
			t.Fatalf("producer %d missing", pid)
		}
		if g.Epoch != want.Epoch || g.LastAppendMs != want.LastAppendMs || g.count != want.count {
			t.Fatalf("producer %d: %+v, want %+v", pid, *g, *want)
		}
		for i := 0; i < int(want.count); i++ {
			if *g.batch(i) != *want.batch(i) {
				t.Fatalf("producer %d batch %d: %+v, want %+v", pid, i, *g.batch(i), *want.batch(i))
			}
		}
	}
	// Equal states encode to equal bytes.
	if again := encodeSnapshot(nil, 1000, got); !bytes.Equal(again, b) {
		t.Fatal("re-encoding a decoded snapshot changed it")
	}
}

func TestSnapshotCorruption(t *testing.T) {
	good := encodeSnapshot(nil, 1000, sampleTable())
	cases := map[string][]byte{
		"empty":                nil,
		"truncated":            good[:len(good)-5],
		"flipped bit":          func() []byte { b := bytes.Clone(good); b[30] ^= 1; return b }(),
		"offset below batches": encodeSnapshot(nil, 10, sampleTable()),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeSnapshot(b, newProducerTable(0, 0)); !errors.Is(err, errCorruptSnapshot) {
				t.Fatalf("err = %v, want errCorruptSnapshot", err)
			}
		})
	}
}

// FuzzDecodeSnapshot: snapshot files come from disk, so no bytes may panic
// the decoder, and whatever it accepts is in canonical form: it encodes back
// to the same bytes.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(nil, 1000, sampleTable()))
	f.Add(encodeSnapshot(nil, 0, newProducerTable(0, 0)))
	f.Add([]byte("GPST"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab := newProducerTable(1<<20, 0)
		off, err := decodeSnapshot(b, tab)
		if err != nil {
			return
		}
		if again := encodeSnapshot(nil, off, tab); !bytes.Equal(again, b) {
			t.Fatalf("accepted snapshot does not re-encode to itself")
		}
	})
}
