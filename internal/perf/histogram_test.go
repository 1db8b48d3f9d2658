package perf

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestHistogramExactSmallValues(t *testing.T) {
	// 1..100 once each: below 2*histogramSubBuckets every value has a
	// bucket of its own, so every quantile is exact.
	h := NewHistogram()
	for v := int64(100); v >= 1; v-- {
		h.Record(v)
	}
	for _, tc := range []struct {
		q    float64
		want int64
	}{
		{0, 1}, {0.01, 1}, {0.02, 2}, {0.5, 50}, {0.505, 51}, {0.9, 90},
		{0.99, 99}, {0.999, 100}, {1, 100},
	} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	s := h.Summary()
	want := Summary{Count: 100, Min: 1, Mean: 50, P50: 50, P99: 99, P999: 100, Max: 100}
	if s != want {
		t.Fatalf("Summary = %+v, want %+v", s, want)
	}
}

func TestHistogramKnownDistribution(t *testing.T) {
	// 990 fast values and 10 slow ones: p99 is the last fast value, p99.9
	// a slow one; both are exact when the values are bucket bounds.
	h := NewHistogram()
	for range 990 {
		h.Record(200)
	}
	for range 10 {
		h.RecordDuration(8 * time.Millisecond)
	}
	s := h.Summary()
	if s.P50 != 200 || s.P99 != 200 || s.P999 != 8*time.Millisecond || s.Max != 8*time.Millisecond || s.Min != 200 {
		t.Fatalf("Summary = %+v", s)
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Summary() != (Summary{}) {
		t.Fatal("empty histogram is not zero")
	}
	h.Record(-5)
	if s := h.Summary(); s.Count != 1 || s.Max != 0 || s.Min != 0 {
		t.Fatalf("negative value: %+v", s)
	}
}

func TestHistogramRelativeError(t *testing.T) {
	// Against the exact percentiles of random values over nine decades:
	// the reported value is never below the exact one and at most one
	// bucket width (1/2^histogramPrecisionBits) above it.
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	vals := make([]int64, 20000)
	for i := range vals {
		vals[i] = int64(math.Exp(rng.Float64() * math.Log(1e10)))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/histogramSubBuckets {
			t.Errorf("Quantile(%v) = %d, exact %d", q, got, exact)
		}
	}
	if h.Quantile(1) != vals[len(vals)-1] || h.Quantile(0) != vals[0] {
		t.Error("min or max not exact")
	}
}

func TestBucketBounds(t *testing.T) {
	// Every bucket's range maps back to it, ranges tile the int64 line,
	// and the last bucket holds MaxInt64.
	prevHi := int64(-1)
	for b := range histogramBuckets {
		lo, hi := bucketRange(b)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d: [%d, %d] after %d", b, lo, hi, prevHi)
		}
		if bucketOf(lo) != b || bucketOf(hi) != b {
			t.Fatalf("bucket %d: bounds map to %d and %d", b, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
	}
	if prevHi != math.MaxInt64 {
		t.Fatalf("last bucket ends at %d", prevHi)
	}
}

func TestHistogramConcurrentAndMerge(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for v := range int64(1000) {
				h.Record(v + int64(g)*1000)
			}
		})
	}
	wg.Wait()
	if s := h.Summary(); s.Count != 4000 || s.Min != 0 || s.Max != 3999 {
		t.Fatalf("concurrent: %+v", s)
	}
	o := NewHistogram()
	o.Record(1 << 40)
	h.Merge(o)
	h.Merge(NewHistogram())
	if s := h.Summary(); s.Count != 4001 || s.Max != 1<<40 || s.Min != 0 {
		t.Fatalf("merged: %+v", s)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	var v int64
	for b.Loop() {
		v += 7919
		h.Record(v & (1<<30 - 1))
	}
}
