package partition

// This file is the contract between the partition and its callers: the
// topic registry (Open/Close/Delete/SetConfig), the produce handler
// (Produce) and the fetch-side handlers (Read, offsets, Watch).
//
// Locking: two locks, always taken in this order.
//
//   - appendMu guards the producer table and snapshot writing. An
//     idempotent append checks its sequences under it, marks its producers
//     in flight, releases it for the storage append (and its fsync), and
//     takes it again to update the producer state; a request of a producer
//     in flight waits for that. So check, append and state update are one
//     step per producer (two copies of one batch can never both be
//     written), while appends of different producers, and plain appends,
//     which do not take appendMu at all, share fsyncs in the storage's
//     group commit.
//   - mu guards the small shared state readers need: config, role, leader
//     epoch, closed flag and the waiter set. No I/O happens under mu.
//
// checkpointMu, which orders the high-watermark checkpoint writes, sits
// between them: appendMu, then checkpointMu, then mu.
//
// The high watermark is an atomic written only under mu, so the fetch path
// reads it without a lock.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-log/gregor/internal/storage"
)

// Errors the produce path returns; the broker maps each to its Kafka code.
// Batches that are not valid v2 batches (bad CRC, lengths, records that do
// not parse) fail with record.ErrCorrupt (CORRUPT_MESSAGE).
var (
	ErrMessageTooLarge      = errors.New("partition: batch larger than max.message.bytes") // MESSAGE_TOO_LARGE
	ErrOutOfOrderSequence   = errors.New("partition: out of order sequence number")        // OUT_OF_ORDER_SEQUENCE_NUMBER
	ErrInvalidProducerEpoch = errors.New("partition: producer epoch is fenced")            // INVALID_PRODUCER_EPOCH
	// ErrUnknownProducerID is kept for the protocol mapping but never
	// returned: since KIP-360 an unknown producer is accepted (producers.go).
	ErrUnknownProducerID = errors.New("partition: unknown producer id") // UNKNOWN_PRODUCER_ID
	// ErrInvalidRecord: a well-formed batch the broker refuses: message
	// format v0/v1 (magic != 2), a control batch sent by a client, a record
	// count that disagrees with the offset range, an idempotent batch with a
	// negative sequence or epoch, a null key on a compacted topic, or an
	// empty records field.
	ErrInvalidRecord    = errors.New("partition: invalid record")         // INVALID_RECORD
	ErrInvalidTimestamp = errors.New("partition: timestamp out of range") // INVALID_TIMESTAMP
	// ErrTransactionsDisabled: transactional batches are refused until
	// transactions exist. The broker answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
	// which every client surfaces as a clear, non-retriable error (the same
	// code InitProducerId answers for a transactional id), instead of a
	// retriable code a client would loop on.
	ErrTransactionsDisabled = errors.New("partition: transactional batches not supported") // TRANSACTIONAL_ID_AUTHORIZATION_FAILED
	ErrNotLeader            = errors.New("partition: not the leader")                      // NOT_LEADER_OR_FOLLOWER
	ErrClosed               = errors.New("partition: closed")                              // retriable
)

// Config is one partition's settings: the log's and the topic-level ones the
// produce path enforces.
type Config struct {
	Storage         storage.Config
	MaxMessageBytes int32 // max.message.bytes: largest batch accepted (0: no limit)
	LogAppendTime   bool  // message.timestamp.type=LogAppendTime
	// Compacted is cleanup.policy containing compact: records need keys.
	Compacted bool
	// MessageTimestampBeforeMaxMs and MessageTimestampAfterMaxMs are
	// message.timestamp.before.max.ms and .after.max.ms: how far a batch's
	// timestamps may be behind or ahead of the broker's clock on a
	// CreateTime topic (INVALID_TIMESTAMP beyond). 0 means no limit, as
	// Kafka's default (MaxInt64) does; a Kafka value of 0 is passed as 1.
	MessageTimestampBeforeMaxMs int64
	MessageTimestampAfterMaxMs  int64
	// ProducerIDExpirationMs is producer.id.expiration.ms (0: one day).
	ProducerIDExpirationMs int64
	// MaxProducers bounds the producer-state map (0: DefaultMaxProducers).
	MaxProducers int
	// MinInsyncReplicas is min.insync.replicas: an acks=all produce needs
	// an ISR at least this large (0 or 1: any ISR will do).
	MinInsyncReplicas int
	// HighWatermarkCheckpointInterval is Kafka's
	// replica.high.watermark.checkpoint.interval.ms: how long a change of
	// a replicated partition's high watermark may wait to reach its
	// checkpoint (0: DefaultCheckpointInterval). See hwcheckpoint.go.
	HighWatermarkCheckpointInterval time.Duration
}

// Partition is one replica of one partition on this broker.
type Partition struct {
	Topic string
	Index int32
	Log   *storage.Log

	dir string
	now func() time.Time // the clock; a field so tests can move it

	// highWatermark is written only under mu (after Open, only by
	// setHighWatermarkLocked); read without a lock.
	highWatermark atomic.Int64

	// bytesSinceSnapshot counts appended bytes; reset under appendMu.
	bytesSinceSnapshot atomic.Int64

	appendMu sync.Mutex
	// Guarded by appendMu.
	producers *producerTable
	// inFlight counts, per producer id, its idempotent appends that passed
	// their sequence checks and are writing (appendMu released) but have
	// not yet updated the producer state; inFlightAppends is their total.
	// A request of a producer in flight waits on appendDone. Bounded by the
	// number of concurrent requests.
	inFlight        map[int64]int
	inFlightAppends int
	appendDone      *sync.Cond // L is &appendMu

	// openCheckpoint is the high-watermark checkpoint Open found (-1:
	// none); read once the partition learns it is replicated.
	openCheckpoint int64
	// checkpointMu orders the high-watermark checkpoint writes
	// (hwcheckpoint.go) with each other and with Close and Delete.
	checkpointMu sync.Mutex
	// checkpointed is the high watermark in the checkpoint file (-1:
	// none), and checkpointDurable whether that write was fsynced.
	// Guarded by checkpointMu.
	checkpointed      int64
	checkpointDurable bool

	mu struct {
		sync.Mutex
		cfg         Config
		leader      bool
		leaderEpoch int32
		closed      bool
		waiters     map[*Waiter]struct{}
		// replication is the replica set, ISR and followers' progress
		// (replica.go); nil until the partition is driven by the cluster
		// metadata: a single-node replica, whose ISR is itself.
		replication *replicaState
		// replicated is set by the first SetLocalReplicaID: the high
		// watermark is checkpointed, and started from the checkpoint.
		replicated bool
		// checkpointTimer is armed while a checkpoint write is due.
		checkpointTimer *time.Timer
		// recoveredEnd is the log end offset at Open: all of it is this
		// replica's own durable data when it first leads (BecomeLeader).
		recoveredEnd int64
	}
}

// Open opens the partition's log in dir (created if missing) and restores
// its producer state from the newest usable snapshot plus the batches after
// it. On a single node the replica is the leader at epoch 0, and everything
// in the recovered log is committed: the high watermark starts at the log
// end offset. A replicated partition's high watermark comes down to its
// checkpoint when SetLocalReplicaID says it is one (hwcheckpoint.go).
func Open(dir, topic string, index int32, cfg Config) (*Partition, error) {
	log, err := storage.Open(dir, cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("partition %s-%d: %w", topic, index, err)
	}
	p := &Partition{
		Topic:     topic,
		Index:     index,
		Log:       log,
		dir:       dir,
		now:       time.Now,
		producers: newProducerTable(cfg.MaxProducers, cfg.ProducerIDExpirationMs),
		inFlight:  make(map[int64]int),
	}
	p.appendDone = sync.NewCond(&p.appendMu)
	p.mu.cfg = cfg
	p.mu.leader = true
	p.mu.waiters = make(map[*Waiter]struct{})
	if err := p.restoreProducers(); err != nil {
		return nil, errors.Join(fmt.Errorf("partition %s-%d: restoring producer state: %w", topic, index, err), log.Close())
	}
	p.openCheckpoint = readCheckpoint(dir, topic, index)
	// A checkpoint found at Open needs no rewrite at Close if the high
	// watermark never moved: it is on disk already.
	p.checkpointed, p.checkpointDurable = p.openCheckpoint, p.openCheckpoint >= 0
	p.mu.recoveredEnd = log.LogEndOffset()
	p.highWatermark.Store(p.mu.recoveredEnd)
	return p, nil
}

// Close closes the partition's files; parked requests are woken with
// ErrClosed. A clean close leaves a producer-state snapshot at the log end
// offset, so the next Open does not scan the log, and on a replicated
// partition a high-watermark checkpoint. Close is idempotent.
func (p *Partition) Close() error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !p.markClosed() {
		return nil
	}
	for p.inFlightAppends > 0 {
		p.appendDone.Wait() // their producer state belongs in the snapshot
	}
	// The checkpoint needs nothing from the log: a high watermark above
	// what the log keeps is capped at the log end on the next Open.
	ckptErr := p.checkpointOnClose()
	leo := p.Log.LogEndOffset()
	if err := p.Log.Close(); err != nil {
		return fmt.Errorf("partition %s-%d: %w", p.Topic, p.Index, errors.Join(err, ckptErr))
	}
	if ckptErr != nil {
		return fmt.Errorf("partition %s-%d: %w", p.Topic, p.Index, ckptErr)
	}
	// After the log is flushed and closed, so the snapshot never claims an
	// offset the log could lose.
	if err := p.writeSnapshotLocked(leo); err != nil {
		return fmt.Errorf("partition %s-%d: %w", p.Topic, p.Index, err)
	}
	return nil
}

// Delete closes the partition and removes its data.
func (p *Partition) Delete() error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.markClosed()
	// A checkpoint write in progress finishes before the directory goes.
	p.checkpointMu.Lock()
	defer p.checkpointMu.Unlock()
	return p.Log.Delete()
}

// markClosed flags the partition closed and wakes every waiter; it reports
// whether this call closed it.
func (p *Partition) markClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return false
	}
	p.mu.closed = true
	if t := p.mu.checkpointTimer; t != nil {
		t.Stop() // if it fired already, it sees closed and writes nothing
		p.mu.checkpointTimer = nil
	}
	p.notifyLocked()
	clear(p.mu.waiters)
	return true
}

func (p *Partition) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.closed
}

// SetConfig applies changed topic configs to the open partition and its log.
func (p *Partition) SetConfig(cfg Config) {
	p.Log.SetConfig(cfg.Storage)
	p.appendMu.Lock()
	p.producers.configure(cfg.MaxProducers, cfg.ProducerIDExpirationMs)
	p.appendMu.Unlock()
	p.mu.Lock()
	p.mu.cfg = cfg
	p.mu.Unlock()
}

func (p *Partition) config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.cfg
}

// IsLeader reports whether this replica is the partition's leader.
func (p *Partition) IsLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.leader
}

// leaderEpochForAppend returns the epoch to stamp on appended batches, or
// why this replica may not append.
func (p *Partition) leaderEpochForAppend() (int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.mu.closed:
		return 0, ErrClosed
	case !p.mu.leader:
		return 0, ErrNotLeader
	}
	return p.mu.leaderEpoch, nil
}

// HighWatermark is the offset below which every record is committed:
// consumers read only below it. On a single node it is the end of what the
// log holds durably under the flush policy; with replication, the least
// log end over the ISR (replica.go).
func (p *Partition) HighWatermark() int64 { return p.highWatermark.Load() }

// LastStableOffset is the high watermark until transactions exist.
func (p *Partition) LastStableOffset() int64 { return p.highWatermark.Load() }

// LogStartOffset and LogEndOffset are the log's.
func (p *Partition) LogStartOffset() int64 { return p.Log.LogStartOffset() }
func (p *Partition) LogEndOffset() int64   { return p.Log.LogEndOffset() }

// LeaderEpoch is the partition's current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.leaderEpoch
}

// Read returns whole batches from offset, at most maxBytes (at least one
// batch when the first is larger), none at or beyond upTo (the high
// watermark for consumers, the log end for followers). Errors are the
// storage's: storage.ErrOffsetOutOfRange, storage.ErrClosed, ...
func (p *Partition) Read(offset int64, maxBytes int32, upTo int64) (storage.Slice, error) {
	return p.Log.Read(offset, maxBytes, upTo)
}

// ApplyRetention applies the topic's retention.ms and retention.bytes
// (storage.Log.ApplyRetention: whole closed segments, never at or above
// the high watermark) and returns the number of segments deleted. Then,
// as Kafka does when the log start offset moves, it forgets the producers
// whose batches all lie below the new start: a retry of theirs could not
// be answered with offsets the log still has. It also forgets producers
// idle for producer.id.expiration.ms; Kafka checks those on a timer of
// its own (producer.id.expiration.check.interval.ms), Gregor on each
// retention check, so an idle broker's table shrinks without appends.
// The segments go without appendMu, so produces do not wait for file
// deletions; only the table pruning takes it.
func (p *Partition) ApplyRetention(now time.Time) (int, error) {
	n, err := p.Log.ApplyRetention(now, p.HighWatermark())
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.isClosed() {
		return n, err
	}
	if n > 0 {
		p.producers.removeBefore(p.Log.LogStartOffset())
	}
	p.producers.removeExpired(p.now().UnixMilli())
	return n, err
}

// DeleteRecordsBefore moves the log start offset to offset (-1: the high
// watermark); offsets above the high watermark are out of range
// (storage.ErrOffsetOutOfRange). Moving it backwards is a no-op. Producers
// whose batches are all below the new start are forgotten, as Kafka does.
func (p *Partition) DeleteRecordsBefore(offset int64) (logStartOffset int64, err error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.isClosed() {
		return 0, ErrClosed
	}
	hw := p.highWatermark.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return 0, fmt.Errorf("%w: delete records before %d, high watermark is %d", storage.ErrOffsetOutOfRange, offset, hw)
	}
	if offset > p.Log.LogStartOffset() {
		if err := p.Log.DeleteRecordsBefore(offset); err != nil {
			return 0, err
		}
	}
	lso := p.Log.LogStartOffset()
	p.producers.removeBefore(lso)
	return lso, nil
}
