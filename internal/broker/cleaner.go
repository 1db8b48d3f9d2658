package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/storage"
)

// The log cleaner: log.cleaner.threads workers compact the logs of topics
// with cleanup.policy=compact (or compact,delete), __consumer_offsets
// included. Each worker repeatedly takes the dirtiest log that is due
// (storage.Log.CleaningNeed: min.cleanable.dirty.ratio reached, or a
// dirty record older than max.compaction.lag.ms) and no other worker is
// cleaning, and runs one pass on it (storage.Log.Clean) up to the high
// watermark; when no log is due it sleeps log.cleaner.backoff.ms. All
// workers share one I/O budget (log.cleaner.io.max.bytes.per.second) and
// split log.cleaner.dedupe.buffer.size between their key maps.

// cleanerBytesPerKey is what one key map entry costs, roughly (the hash,
// the offset, and the Go map's overhead).
const cleanerBytesPerKey = 48

type logCleaner struct {
	b        *Broker
	throttle *storage.Throttle
	maxKeys  int
	backoff  time.Duration

	mu         sync.Mutex
	inProgress map[*storage.Log]bool // at most one entry per worker
	// failedUntil: logs whose last pass failed (a corrupt segment, a disk
	// error) rest until then instead of failing every backoff. At most
	// one entry per hosted partition; forgotten once the time passed.
	failedUntil map[*storage.Log]time.Time
}

// cleanerFailureBackoff is how long a log whose pass failed is left alone.
const cleanerFailureBackoff = 10 * time.Minute

// runCleaner runs the cleaner workers until done is closed.
func (b *Broker) runCleaner(done <-chan struct{}) {
	if !b.cfg.LogCleanerEnable {
		return
	}
	threads := max(int(b.cfg.LogCleanerThreads), 1)
	c := &logCleaner{
		b:          b,
		throttle:   storage.NewThrottle(b.cfg.LogCleanerIoMaxBytesPerSecond),
		maxKeys:    max(int(b.cfg.LogCleanerDedupeBufferSize/cleanerBytesPerKey)/threads, 1024),
		backoff:    max(msDuration(b.cfg.LogCleanerBackoffMs), time.Millisecond),
		inProgress: map[*storage.Log]bool{},

		failedUntil: map[*storage.Log]time.Time{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-done
		cancel()
	}()
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() { c.work(ctx) })
	}
	wg.Wait()
	cancel()
}

// work is one cleaner thread.
func (c *logCleaner) work(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		for ctx.Err() == nil {
			topic, p := c.pick(time.Now())
			if p == nil {
				break
			}
			c.clean(ctx, topic, p)
			c.done(p.Log)
		}
		timer.Reset(c.backoff)
	}
}

// pick claims the dirtiest due log no other thread is cleaning.
func (c *logCleaner) pick(now time.Time) (string, *partition.Partition) {
	var bestTopic string
	var best *partition.Partition
	bestRatio := -1.0
	c.b.eachPartition(func(topic string, p *partition.Partition) bool {
		need, err := p.Log.CleaningNeed(now, p.HighWatermark())
		if err != nil {
			if !errors.Is(err, storage.ErrClosed) {
				c.b.log.Error("log cleaner: checking a log", "topic", topic, "partition", p.Index, "err", err)
			}
			return true
		}
		if need.Due && need.DirtyRatio > bestRatio {
			c.mu.Lock()
			busy := c.inProgress[p.Log]
			if until, ok := c.failedUntil[p.Log]; ok {
				if now.Before(until) {
					busy = true
				} else {
					delete(c.failedUntil, p.Log)
				}
			}
			c.mu.Unlock()
			if !busy {
				bestTopic, best, bestRatio = topic, p, need.DirtyRatio
			}
		}
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for l, until := range c.failedUntil { // deleted partitions included
		if !now.Before(until) {
			delete(c.failedUntil, l)
		}
	}
	if best == nil {
		return "", nil
	}
	if c.inProgress[best.Log] { // another thread claimed it meanwhile
		return "", nil
	}
	c.inProgress[best.Log] = true
	return bestTopic, best
}

func (c *logCleaner) done(l *storage.Log) {
	c.mu.Lock()
	delete(c.inProgress, l)
	c.mu.Unlock()
}

// clean runs one pass and logs what it did.
func (c *logCleaner) clean(ctx context.Context, topic string, p *partition.Partition) {
	start := time.Now()
	st, err := p.Log.Clean(ctx, start, storage.CleanOptions{UpTo: p.HighWatermark(), Throttle: c.throttle, MaxKeys: c.maxKeys})
	switch {
	case err == nil:
		secs := max(time.Since(start).Seconds(), 1e-6)
		c.b.log.Info("log cleaned", "topic", topic, "partition", p.Index,
			"first_dirty_offset", st.FirstDirtyOffset, "cleaner_checkpoint", st.EndOffset,
			"segments", st.SegmentsIn, "segments_after", st.SegmentsOut,
			"records", st.RecordsRead, "records_kept", st.RecordsKept,
			"bytes", st.BytesRead, "bytes_after", st.BytesWritten,
			"mb_per_s", float64(st.BytesRead)/secs/1e6)
	case errors.Is(err, storage.ErrClosed), ctx.Err() != nil:
	default:
		c.b.log.Error("log cleaner: cleaning failed; retrying later", "topic", topic, "partition", p.Index,
			"retry_in", cleanerFailureBackoff, "err", err)
		c.mu.Lock()
		c.failedUntil[p.Log] = time.Now().Add(cleanerFailureBackoff)
		c.mu.Unlock()
	}
}
