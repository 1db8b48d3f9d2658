package perf

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogramPrecisionBits sets the relative precision of a Histogram:
// every value at or above 2^histogramPrecisionBits lands in a bucket whose
// width is at most 1/2^histogramPrecisionBits of the value (under 0.8% at
// 7 bits), and every value below it has a bucket of its own, so small
// values are exact.
const histogramPrecisionBits = 7

const (
	// histogramSubBuckets is the number of buckets per power of two.
	histogramSubBuckets = 1 << histogramPrecisionBits
	// histogramBuckets covers every non-negative int64: the largest value
	// has bits.Len64 = 63, so its shift is 63-histogramPrecisionBits-1 and
	// its bucket index stays below (shift+2)*histogramSubBuckets.
	histogramBuckets = (64 - histogramPrecisionBits) * histogramSubBuckets
)

// Histogram counts non-negative int64 values (latencies in nanoseconds)
// in log-linear buckets, like HdrHistogram: a fixed 58 KiB whatever the
// number or range of the values, with a relative error bounded by
// histogramPrecisionBits. Count, min, max and sum are kept exactly.
//
// Record is safe for concurrent use without a lock (produce promises of
// different partitions run on different goroutines); reading while
// recording gives a snapshot that may be torn between fields, so readers
// call Summary after the recording goroutines are done.
type Histogram struct {
	counts [histogramBuckets]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Uint64 // saturates instead of wrapping; see Record
	min    atomic.Int64  // math.MaxInt64 while empty
	max    atomic.Int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf returns the bucket index of v >= 0. Values below
// 2*histogramSubBuckets map to themselves; above, the top
// histogramPrecisionBits+1 bits of v select the bucket within its power of
// two.
func bucketOf(v int64) int {
	u := uint64(v)
	if u < 2*histogramSubBuckets {
		return int(u)
	}
	shift := bits.Len64(u) - histogramPrecisionBits - 1
	return shift*histogramSubBuckets + int(u>>uint(shift))
}

// bucketRange returns the smallest and largest value that map to bucket b.
func bucketRange(b int) (lo, hi int64) {
	if b < 2*histogramSubBuckets {
		return int64(b), int64(b)
	}
	shift := b/histogramSubBuckets - 1
	top := uint64(b%histogramSubBuckets + histogramSubBuckets)
	lo = int64(top << uint(shift))
	hi = int64((top+1)<<uint(shift) - 1)
	return lo, hi
}

// Record adds one value; negative values count as 0 (a clock that stepped
// back must not corrupt the histogram).
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.count.Add(1)
	if s := h.sum.Add(uint64(v)); s < uint64(v) {
		h.sum.Store(math.MaxUint64) // wrapped: saturate, the mean is meaningless anyway
	}
	for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
}

// RecordDuration adds d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds every value of o into h.
func (h *Histogram) Merge(o *Histogram) {
	n := o.count.Load()
	if n == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.count.Add(n)
	h.sum.Add(o.sum.Load())
	if m := o.min.Load(); m < h.min.Load() {
		h.min.Store(m)
	}
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Quantile returns the value at quantile q in [0, 1]: the smallest
// recorded value v such that at least q of all values are <= v, rounded
// up to the top of its bucket and never above the exact maximum. It is
// exact for values below 2*histogramSubBuckets. An empty histogram
// returns 0.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min.Load()
	}
	if q >= 1 {
		return h.max.Load()
	}
	// rank is the 1-based position of the wanted value in sorted order.
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(max(hi, h.min.Load()), h.max.Load())
		}
	}
	return h.max.Load()
}

// Summary is the latency digest printed in results.
type Summary struct {
	Count               uint64
	Min, Mean, P50, P99 time.Duration
	P999, Max           time.Duration
}

// Summary digests the histogram as durations (values in nanoseconds).
func (h *Histogram) Summary() Summary {
	n := h.count.Load()
	if n == 0 {
		return Summary{}
	}
	return Summary{
		Count: n,
		Min:   time.Duration(h.min.Load()),
		Mean:  time.Duration(h.sum.Load() / n),
		P50:   time.Duration(h.Quantile(0.50)),
		P99:   time.Duration(h.Quantile(0.99)),
		P999:  time.Duration(h.Quantile(0.999)),
		Max:   time.Duration(h.max.Load()),
	}
}

// String prints the summary in milliseconds, as kafka-producer-perf-test
// does.
func (s Summary) String() string {
	return fmt.Sprintf("%s ms avg latency, %s ms max latency, %s ms 50th, %s ms 99th, %s ms 99.9th",
		ms(s.Mean), ms(s.Max), ms(s.P50), ms(s.P99), ms(s.P999))
}

// ms formats d in milliseconds with two decimals (three below 1 ms, where
// the interesting latencies live).
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	if f < 1 {
		return fmt.Sprintf("%.3f", f)
	}
	return fmt.Sprintf("%.2f", f)
}
