package partition

// This file is the contract between the partition and its callers: the
// topic registry (Open/Close/Delete/SetConfig), the produce handler
// (Produce) and the fetch-side handlers (Read, offsets, Watch). Bodies are
// placeholders until the data path lands; signatures are what callers code
// against.

import (
	"context"
	"errors"

	"github.com/gregor-log/gregor/internal/storage"
)

// Errors the produce path returns; the broker maps each to its Kafka code.
var (
	ErrMessageTooLarge      = errors.New("partition: batch larger than max.message.bytes") // MESSAGE_TOO_LARGE
	ErrOutOfOrderSequence   = errors.New("partition: out of order sequence number")        // OUT_OF_ORDER_SEQUENCE_NUMBER
	ErrInvalidProducerEpoch = errors.New("partition: producer epoch is fenced")            // INVALID_PRODUCER_EPOCH
	ErrUnknownProducerID    = errors.New("partition: unknown producer id")                 // UNKNOWN_PRODUCER_ID
	ErrInvalidRecord        = errors.New("partition: invalid record")                      // INVALID_RECORD
	ErrInvalidTimestamp     = errors.New("partition: timestamp out of range")              // INVALID_TIMESTAMP
	ErrTransactionsDisabled = errors.New("partition: transactional batches not supported") // TRANSACTIONAL_ID_AUTHORIZATION_FAILED or similar, see Produce
	ErrNotLeader            = errors.New("partition: not the leader")                      // NOT_LEADER_OR_FOLLOWER
	ErrClosed               = errors.New("partition: closed")                              // retriable
)

// Config is one partition's settings: the log's and the topic-level ones the
// produce path enforces.
type Config struct {
	Storage         storage.Config
	MaxMessageBytes int32 // max.message.bytes: largest batch accepted
	LogAppendTime   bool  // message.timestamp.type=LogAppendTime
	// Compacted is cleanup.policy containing compact: records need keys.
	Compacted bool
}

// Partition is one replica of one partition on this broker.
type Partition struct {
	Topic string
	Index int32
	Log   *storage.Log
}

// Open opens the partition's log in dir (created if missing) and restores
// its producer state.
func Open(dir, topic string, index int32, cfg Config) (*Partition, error) {
	return nil, errors.New("partition: not implemented")
}

// Close closes the partition's files; parked requests are woken with ErrClosed.
func (p *Partition) Close() error { return nil }

// Delete closes the partition and removes its data.
func (p *Partition) Delete() error { return nil }

// SetConfig applies changed topic configs to the open partition.
func (p *Partition) SetConfig(cfg Config) {}

// ProduceResult is what a produce to one partition answers.
type ProduceResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
}

// Produce validates and appends the batches of one partition of a produce
// request (the records field: one or more v2 batches). acks 0 and 1 return
// once the leader has the data (durable under the flush policy); acks -1
// also waits until the high watermark covers it (all of the ISR), or until
// ctx ends. A retried idempotent batch that duplicates one of the last five
// of its producer returns the original offsets without writing.
func (p *Partition) Produce(ctx context.Context, batches []byte, acks int16) (ProduceResult, error) {
	return ProduceResult{}, errors.New("partition: not implemented")
}

// HighWatermark is the offset below which every record is committed:
// consumers read only below it.
func (p *Partition) HighWatermark() int64 { return 0 }

// LastStableOffset is the high watermark until transactions exist.
func (p *Partition) LastStableOffset() int64 { return 0 }

// LogStartOffset and LogEndOffset are the log's.
func (p *Partition) LogStartOffset() int64 { return 0 }
func (p *Partition) LogEndOffset() int64   { return 0 }

// LeaderEpoch is the partition's current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return 0 }

// Read returns whole batches from offset, at most maxBytes (at least one
// batch when minOneBatch), none at or beyond upTo (the high watermark for
// consumers, the log end for followers).
func (p *Partition) Read(offset int64, maxBytes int32, upTo int64) (storage.Slice, error) {
	return storage.Slice{}, errors.New("partition: not implemented")
}

// DeleteRecordsBefore moves the log start offset to offset (-1: the high
// watermark); offsets above the high watermark are out of range.
func (p *Partition) DeleteRecordsBefore(offset int64) (logStartOffset int64, err error) {
	return 0, errors.New("partition: not implemented")
}

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

// Watch registers w to be signalled by this partition; Unwatch removes it.
// Every Watch must be paired with an Unwatch.
func (p *Partition) Watch(w *Waiter)   {}
func (p *Partition) Unwatch(w *Waiter) {}
