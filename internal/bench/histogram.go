package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets: each power of two of
// nanoseconds is split into histSubBuckets linear buckets, so a quantile
// is within 1/histSubBuckets (about 3%) of the true value, in fixed memory.
// Record is safe for concurrent use.
type Histogram struct {
	counts [histBuckets]atomic.Int64
	total  atomic.Int64
	max    atomic.Int64
}

const (
	histSubBits    = 5
	histSubBuckets = 1 << histSubBits
	// Durations up to 2^40 ns (about 18 minutes) are told apart; longer
	// ones share the last bucket.
	histMaxExp  = 40
	histBuckets = (histMaxExp - histSubBits + 1) * histSubBuckets
)

// bucketOf maps nanoseconds to a bucket index.
func bucketOf(ns int64) int {
	if ns < histSubBuckets {
		return int(max(ns, 0))
	}
	exp := bits.Len64(uint64(ns)) - 1 // ns in [2^exp, 2^(exp+1))
	if exp >= histMaxExp {
		return histBuckets - 1
	}
	sub := int(ns>>(exp-histSubBits)) - histSubBuckets // 0..histSubBuckets-1
	return (exp-histSubBits+1)*histSubBuckets + sub
}

// bucketUpper is the largest duration in bucket i, in nanoseconds.
func bucketUpper(i int) int64 {
	if i < histSubBuckets {
		return int64(i)
	}
	exp := i/histSubBuckets + histSubBits - 1
	sub := int64(i % histSubBuckets)
	width := int64(1) << (exp - histSubBits)
	return (int64(histSubBuckets)+sub)*width + width - 1
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	ns := int64(d)
	h.counts[bucketOf(ns)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// Merge adds other's counts into h.
func (h *Histogram) Merge(other *Histogram) {
	for i := range other.counts {
		if n := other.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	h.total.Add(other.total.Load())
	if m := other.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// Count is the number of recorded durations.
func (h *Histogram) Count() int64 { return h.total.Load() }

// Max is the longest recorded duration.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the duration below which a fraction q (0..1) of the
// recorded durations fall, as the upper bound of its bucket (never more
// than Max); 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := int64(q * float64(total))
	rank = min(max(rank, 1), total)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(bucketUpper(i), h.max.Load()))
		}
	}
	return h.Max()
}
