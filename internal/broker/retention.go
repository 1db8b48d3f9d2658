package broker

import (
	"time"

	"github.com/gregor-log/gregor/internal/partition"
)

// Deletion retention: one broker-wide goroutine applies retention.ms and
// retention.bytes to every open partition each
// log.retention.check.interval.ms (no goroutine per partition). The work
// itself is the partition's (partition.ApplyRetention: the storage
// engine's storage.Log.ApplyRetention, then producer-state pruning): whole
// closed segments go, never an offset at or above the high watermark, and
// the log start offset moves (ListOffsets earliest, DeleteRecords and
// Fetch's OFFSET_OUT_OF_RANGE all see it). Compacted-only topics
// (cleanup.policy=compact) are skipped by the engine itself.

// runRetention applies retention until done is closed.
func (b *Broker) runRetention(done <-chan struct{}) {
	interval := max(msDuration(b.cfg.LogRetentionCheckIntervalMs), time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			b.applyRetention(now, done)
		}
	}
}

// applyRetention is one retention pass over every open partition.
func (b *Broker) applyRetention(now time.Time, done <-chan struct{}) {
	b.eachPartition(func(topic string, p *partition.Partition) bool {
		select {
		case <-done:
			return false
		default:
		}
		n, err := p.ApplyRetention(now)
		if err != nil {
			b.log.Error("retention failed", "topic", topic, "partition", p.Index, "err", err)
		} else if n > 0 {
			b.log.Info("retention deleted segments", "topic", topic, "partition", p.Index,
				"segments", n, "log_start_offset", p.Log.LogStartOffset())
		}
		return true
	})
}

// eachPartition calls fn for every open partition of the current registry
// until fn returns false.
func (b *Broker) eachPartition(fn func(topic string, p *partition.Partition) bool) {
	for _, ts := range b.currentRegistry().byName {
		for _, r := range ts.partitions {
			if r.p == nil || r.p.Log == nil {
				continue
			}
			if !fn(ts.name, r.p) {
				return
			}
		}
	}
}
