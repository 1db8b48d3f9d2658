package perf

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// pacer hands out send permits at a fixed rate on an absolute schedule:
// permit n (from 0) is due at start + n/rate. A sender that wakes late
// sends the permits already due back to back, so timer overshoot and
// scheduling hiccups do not lower the average rate, and several senders
// share one pacer through the atomic permit counter.
//
// The schedule is pure arithmetic (dueAt, allowedBy) so tests count
// permits instead of measuring time; only Wait touches the clock.
type pacer struct {
	start    time.Time
	interval float64 // nanoseconds between permits; 0 = unlimited
	issued   atomic.Int64
}

// newPacer returns a pacer of rate permits per second starting at start;
// rate <= 0 means unlimited.
func newPacer(rate float64, start time.Time) *pacer {
	p := &pacer{start: start}
	if rate > 0 {
		p.interval = float64(time.Second) / rate
	}
	return p
}

// dueAt returns when permit n is due, as an offset from start.
func (p *pacer) dueAt(n int64) time.Duration {
	if p.interval == 0 {
		return 0
	}
	d := float64(n) * p.interval
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// allowedBy returns how many permits are due at offset elapsed from start
// (permit 0 is due at once). Unlimited pacers return math.MaxInt64.
func (p *pacer) allowedBy(elapsed time.Duration) int64 {
	if p.interval == 0 {
		return math.MaxInt64
	}
	if elapsed < 0 {
		return 0
	}
	return int64(float64(elapsed)/p.interval) + 1
}

// take claims the next permit and returns its due time.
func (p *pacer) take() time.Time {
	n := p.issued.Add(1) - 1
	return p.start.Add(p.dueAt(n))
}

// Wait claims the next permit and blocks until it is due or ctx ends.
func (p *pacer) Wait(ctx context.Context) error {
	if p.interval == 0 {
		return ctx.Err()
	}
	d := time.Until(p.take())
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
