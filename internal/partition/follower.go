package partition

// This file is the follower's side of replication: appending the leader's
// batches at the leader's offsets, taking the leader's high watermark, and
// truncating a divergent suffix (KIP-101/279). The fetcher
// (internal/replication) is the only caller, one goroutine per partition at
// a time, so follower appends need no concurrency of their own: they hold
// the append lock throughout, which also keeps the producer state exactly
// in step with the log across truncations.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
)

// BecomeFollower makes this replica a follower of leader at epoch:
// produces are refused with ErrNotLeader and parked acks=all produces give
// up. A call older than the current leader epoch is ignored
// (ErrStaleLeaderEpoch). The high watermark stays until the first fetch
// brings the leader's. The caller then adds the partition to the fetcher
// for leader, which truncates as needed before fetching.
func (p *Partition) BecomeFollower(epoch, leader int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.mu.closed:
		return ErrClosed
	case epoch < p.mu.leaderEpoch:
		return fmt.Errorf("%w: %d, current %d", ErrStaleLeaderEpoch, epoch, p.mu.leaderEpoch)
	}
	r := p.replicationLocked()
	r.leaderID = leader
	r.replicas, r.isr, r.pendingISR, r.followers = nil, nil, nil, nil
	p.mu.leader, p.mu.leaderEpoch = false, epoch
	p.notifyLocked()
	return nil
}

// Leader is the partition's leader as this replica knows it: this broker
// on a leader (-1 on a single node that was never given an id), the
// leader it follows on a follower.
func (p *Partition) Leader() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.mu.replication; r != nil {
		if p.mu.leader {
			return r.localID
		}
		return r.leaderID
	}
	return -1
}

// LatestLeaderEpoch is the newest leader epoch in the log (-1: none): the
// follower's LastFetchedEpoch, and the epoch it asks OffsetForLeaderEpoch
// about.
func (p *Partition) LatestLeaderEpoch() int32 {
	epoch, _ := p.Log.EndOffsetForEpoch(math.MaxInt32)
	return epoch
}

// EndOffsetForEpoch is the log's answer for epoch: the largest epoch <=
// epoch it holds and where that epoch ends ((-1, -1): none).
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return p.Log.EndOffsetForEpoch(epoch)
}

// AppendAsFollower appends batches fetched from the leader, at the
// leader's offsets and epochs (they must start at the log end offset:
// storage.ErrUnexpectedOffset otherwise, and the follower must truncate
// first), and returns once they are durable under the flush policy, so the
// next fetch reports only durable data. Batches with a bad CRC or framing
// are refused whole (record.ErrCorrupt). The producer state follows the
// batches as a leader append would. Then the high watermark becomes the
// leader's, capped by this log's end.
//
// Empty batches only update the high watermark.
func (p *Partition) AppendAsFollower(batches []byte, leaderHighWatermark int64) (storage.AppendResult, error) {
	if err := p.followerCheck(); err != nil {
		return storage.AppendResult{}, err
	}
	var res storage.AppendResult
	if len(batches) > 0 {
		if err := validateFollowerBatches(batches); err != nil {
			return res, err
		}
		var err error
		if res, err = p.appendFollowerBatches(batches); err != nil {
			return res, err
		}
	}
	p.followLeaderHighWatermark(leaderHighWatermark)
	return res, nil
}

func (p *Partition) followerCheck() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.mu.closed:
		return ErrClosed
	case p.mu.leader:
		return ErrNotFollower
	}
	return nil
}

// validateFollowerBatches checks the framing and CRC of every batch: the
// bytes came over the network, and the log stores them as they are.
func validateFollowerBatches(batches []byte) error {
	for off, i := 0, 0; off < len(batches); i++ {
		h, err := record.ReadHeader(batches[off:])
		if err == nil && h.Size() > len(batches)-off {
			err = record.ErrShort
		}
		if err == nil {
			_, err = record.Validate(batches[off : off+h.Size()])
		}
		if err != nil {
			return fmt.Errorf("%w: fetched batch %d: %w", record.ErrCorrupt, i, err)
		}
		off += h.Size()
	}
	return nil
}

func (p *Partition) appendFollowerBatches(batches []byte) (storage.AppendResult, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	for p.inFlightAppends > 0 {
		p.appendDone.Wait() // a leader append that raced with BecomeFollower
	}
	res, err := p.Log.Append(batches, storage.AppendOptions{AssignOffsets: false})
	if err != nil {
		return res, err
	}
	nowMs := p.now().UnixMilli()
	for off := 0; off < len(batches); {
		h, _ := record.ReadHeader(batches[off:]) // validated
		if h.Idempotent() {
			p.producers.replay(h.ProducerID, h.ProducerEpoch, batchMetadata{
				FirstSequence: h.BaseSequence, LastSequence: h.LastSequence(),
				FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp,
			}, nowMs)
		}
		off += h.Size()
	}
	p.bytesSinceSnapshot.Add(int64(len(batches)))
	p.maybeSnapshotLocked()
	return res, nil
}

// followLeaderHighWatermark sets a follower's high watermark to the
// leader's, bounded by its own log: Kafka's follower takes it as it is,
// even when it is lower than before (a new leader may restart from a lower
// one).
func (p *Partition) followLeaderHighWatermark(leaderHighWatermark int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.leader {
		return
	}
	hw := min(leaderHighWatermark, p.Log.LogEndOffset())
	hw = max(hw, p.Log.LogStartOffset())
	p.setHighWatermarkLocked(hw)
	p.notifyLocked()
}

// TruncateTo removes every record at or after offset (a divergent suffix,
// KIP-101/279) and rebuilds the producer state to match: the newest
// snapshot at or below the new log end, then the batches after it. The
// high watermark comes down to the new log end if it was above. Followers
// only (ErrNotFollower on the leader).
func (p *Partition) TruncateTo(offset int64) error {
	if err := p.followerCheck(); err != nil {
		return err
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	for p.inFlightAppends > 0 {
		p.appendDone.Wait()
	}
	if offset >= p.Log.LogEndOffset() {
		return nil
	}
	if err := p.Log.TruncateTo(offset); err != nil {
		return fmt.Errorf("partition %s-%d: truncating to %d: %w", p.Topic, p.Index, offset, err)
	}
	p.producers = newProducerTable(p.producers.maxProducers, p.producers.expirationMs)
	if err := p.restoreProducers(); err != nil {
		return fmt.Errorf("partition %s-%d: rebuilding producer state after truncation: %w", p.Topic, p.Index, err)
	}
	p.bytesSinceSnapshot.Store(0)
	p.lowerHighWatermarkTo(p.Log.LogEndOffset())
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset (the
// leader's log start moved past this follower's log end), dropping every
// producer-state snapshot: none describes the new log. Followers only.
func (p *Partition) TruncateFullyAndStartAt(offset int64) error {
	if err := p.followerCheck(); err != nil {
		return err
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	for p.inFlightAppends > 0 {
		p.appendDone.Wait()
	}
	if err := p.Log.TruncateFullyAndStartAt(offset); err != nil {
		return fmt.Errorf("partition %s-%d: restarting the log at %d: %w", p.Topic, p.Index, offset, err)
	}
	offsets, err := listSnapshots(p.dir)
	if err == nil {
		for _, off := range offsets {
			_ = os.Remove(filepath.Join(p.dir, snapshotName(off)))
		}
	}
	p.producers = newProducerTable(p.producers.maxProducers, p.producers.expirationMs)
	p.bytesSinceSnapshot.Store(0)
	p.mu.Lock()
	p.setHighWatermarkLocked(offset)
	p.notifyLocked()
	p.mu.Unlock()
	return nil
}

// lowerHighWatermarkTo caps the high watermark at end.
func (p *Partition) lowerHighWatermarkTo(end int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.highWatermark.Load() > end {
		p.setHighWatermarkLocked(end)
	}
	p.notifyLocked()
}
