package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverAndOrder(t *testing.T) {
	prev := -1
	for _, ns := range []int64{0, 1, 31, 32, 33, 63, 64, 65, 1000, 1 << 20, 1<<40 - 1, 1 << 40, 1 << 62} {
		b := bucketOf(ns)
		if b < prev || b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", ns, b, prev)
		}
		prev = b
		if ns < 1<<histMaxExp && bucketUpper(b) < ns {
			t.Fatalf("bucketUpper(%d) = %d < %d", b, bucketUpper(b), ns)
		}
	}
	for i := 1; i < histBuckets; i++ {
		if bucketUpper(i) <= bucketUpper(i-1) {
			t.Fatalf("bucket %d upper %d not above %d", i, bucketUpper(i), bucketUpper(i-1))
		}
		if bucketOf(bucketUpper(i)) != i {
			t.Fatalf("bucketOf(upper(%d)) = %d", i, bucketOf(bucketUpper(i)))
		}
	}
}

func TestQuantileWithinPrecision(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	var all []int64
	for range 100000 {
		ns := int64(r.ExpFloat64() * 1e6) // around 1 ms
		all = append(all, ns)
		h.Record(time.Duration(ns))
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := int64(h.Quantile(q))
		if got < exact || float64(got) > float64(exact)*(1+1.0/histSubBuckets)+1 {
			t.Errorf("q%v: got %d, exact %d", q, got, exact)
		}
	}
	if h.Max() != time.Duration(all[len(all)-1]) || h.Count() != int64(len(all)) {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	var merged Histogram
	merged.Merge(&h)
	merged.Merge(&h)
	if merged.Count() != 2*h.Count() || merged.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("merge: count %d, p50 %v vs %v", merged.Count(), merged.Quantile(0.5), h.Quantile(0.5))
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 {
		t.Error("empty histogram quantile")
	}
}
