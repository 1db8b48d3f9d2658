package perf

import (
	"encoding/binary"
	"testing"
)

// FuzzObserve feeds arbitrary record values to the end-to-end decoder:
// values come from the network, so none may panic, and every value counts
// as seen exactly once.
func FuzzObserve(f *testing.F) {
	good := make([]byte, 32)
	binary.BigEndian.PutUint64(good[0:8], 1000)
	binary.BigEndian.PutUint64(good[8:16], 7)
	f.Add(good)
	f.Add([]byte{})
	f.Add(make([]byte, e2eHeaderBytes-1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, value []byte) {
		r := newE2ERun(5)
		r.observe(value)
		if r.seen.Load() != 1 {
			t.Fatalf("seen %d", r.seen.Load())
		}
		if n := r.latency.Count(); n > 1 {
			t.Fatalf("recorded %d latencies for one value", n)
		}
	})
}
