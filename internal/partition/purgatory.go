package partition

import "context"

// Waiter is the purgatory's ticket: a request parked on several partitions
// registers one Waiter with each (Watch) and is signalled on C when any of
// them moves its high watermark or log end offset. C has room for one
// signal; further signals while one is pending are dropped, so a slow
// waiter never blocks an append.
type Waiter struct {
	C chan struct{}
}

// NewWaiter returns a Waiter ready to Watch partitions.
func NewWaiter() *Waiter { return &Waiter{C: make(chan struct{}, 1)} }

// signal wakes the waiter without ever blocking.
func (w *Waiter) signal() {
	select {
	case w.C <- struct{}{}:
	default:
	}
}

// Watch registers w to be signalled by this partition; Unwatch removes it.
// Every Watch must be paired with an Unwatch. Watching a closed partition
// signals w at once, so a request never parks on a partition that will not
// move again.
//
// The waiter set is bounded by the number of parked requests, which the
// connection limits bound.
func (p *Partition) Watch(w *Waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		w.signal()
		return
	}
	p.mu.waiters[w] = struct{}{}
}

// Unwatch removes w; it is a no-op if w is not registered.
func (p *Partition) Unwatch(w *Waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.mu.waiters, w)
}

// notifyLocked wakes every watcher: the high watermark or the log end moved,
// or the partition closed. p.mu must be held.
func (p *Partition) notifyLocked() {
	for w := range p.mu.waiters {
		w.signal()
	}
}

// advanceHighWatermark raises the high watermark to hw (never lowers it)
// and wakes the watchers. On a single node the log end moved at the same
// time, so one wake-up covers both.
func (p *Partition) advanceHighWatermark(hw int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hw > p.highWatermark.Load() {
		p.setHighWatermarkLocked(hw)
	}
	p.notifyLocked()
}

// waitHighWatermark parks until the high watermark reaches target (acks=all:
// every ISR member has the data), the partition closes or stops being the
// leader, or ctx ends. The
// fast path, taken whenever the data is already committed, allocates
// nothing.
func (p *Partition) waitHighWatermark(ctx context.Context, target int64) error {
	if p.highWatermark.Load() >= target {
		return nil
	}
	w := NewWaiter()
	p.Watch(w)
	defer p.Unwatch(w)
	for {
		if p.highWatermark.Load() >= target {
			return nil
		}
		if _, err := p.leaderEpochForAppend(); err != nil {
			return err // closed, or leadership moved away
		}
		select {
		case <-w.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
