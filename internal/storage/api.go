package storage

// This file is the contract between the storage engine and its callers (the
// partition and broker packages). The bodies are placeholders until the
// engine lands; the signatures are what callers code against.

import (
	"errors"
	"os"
	"time"
)

var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or above
	// the log end offset (Kafka's OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrCorruptSegment: a closed segment holds bytes that do not check out.
	// It is never served; the caller reports KAFKA_STORAGE_ERROR.
	ErrCorruptSegment = errors.New("storage: corrupt segment")
	// ErrClosed: the log was closed (deleted topic, shutdown).
	ErrClosed = errors.New("storage: log closed")
)

// Config holds one log's settings, named after Kafka's topic configs. The
// broker fills it from broker defaults and topic overrides.
type Config struct {
	SegmentBytes       int64         // segment.bytes
	SegmentMs          time.Duration // segment.ms (0: never roll by time)
	SegmentIndexBytes  int32         // segment.index.bytes: max size of one index file
	IndexIntervalBytes int32         // index.interval.bytes
	// FlushMessages is flush.messages. Gregor's default is 1: every append is
	// fsynced before it is acknowledged, with group commit. Larger values (or
	// Kafka's default, MaxInt64) leave data in the page cache until that many
	// messages are unflushed or FlushMs passes.
	FlushMessages int64
	FlushMs       time.Duration // flush.ms (0 or huge: never by time)
}

// AppendOptions says how Append treats the batches.
type AppendOptions struct {
	// AssignOffsets is true on the leader: each batch's baseOffset is
	// rewritten to the next offset. Followers append with the leader's
	// offsets, which must be contiguous with the log end offset.
	AssignOffsets bool
	// LeaderEpoch is written into each batch's partitionLeaderEpoch when
	// AssignOffsets is set, and recorded in the leader-epoch checkpoint.
	LeaderEpoch int32
	// LogAppendTime, when non-zero, is written as each batch's max timestamp
	// (message.timestamp.type=LogAppendTime), in Unix milliseconds.
	LogAppendTime int64
}

// AppendResult describes a successful append.
type AppendResult struct {
	FirstOffset int64 // base offset of the first batch
	LastOffset  int64 // last offset of the last batch
	// MaxTimestamp and OffsetOfMaxTimestamp are over the appended batches.
	MaxTimestamp         int64
	OffsetOfMaxTimestamp int64
}

// Slice is a byte range of one segment file that holds whole batches. It is
// what a fetch sends: the broker copies it to the socket with sendfile
// (plaintext) or ReadAt (tests, TLS) without decoding it. The file stays
// valid while the slice is in use even if retention deletes the segment: an
// I/O error then is expected and means "retry from the new start offset".
type Slice struct {
	File *os.File
	Pos  int64 // position of the first byte in File
	Size int64 // number of bytes
}

// Placeholder types and methods; replaced by the engine.
type Log struct{}

// Open opens (creating if needed) the partition log in dir, recovering it
// if the last shutdown was not clean.
func Open(dir string, cfg Config) (*Log, error) { return nil, errors.New("storage: not implemented") }

// Append writes whole, already validated batches (concatenated as in a
// produce request). It returns after the data is as durable as the flush
// policy demands. Appends are serialised; reads are never blocked by them.
func (l *Log) Append(batches []byte, opts AppendOptions) (AppendResult, error) {
	return AppendResult{}, errors.New("storage: not implemented")
}

// Read returns whole batches starting at the batch that holds offset, at
// most maxBytes of them (but at least one whole batch if the first is larger,
// as Kafka does), none at or beyond maxOffset (the high watermark). An empty
// Slice means there is nothing yet.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64) (Slice, error) {
	return Slice{}, errors.New("storage: not implemented")
}

func (l *Log) LogStartOffset() int64 { return 0 }
func (l *Log) LogEndOffset() int64   { return 0 }

// TruncateTo removes every batch at or after offset (followers, after
// OffsetForLeaderEpoch). offset is rounded down to a batch boundary.
func (l *Log) TruncateTo(offset int64) error { return nil }

// DeleteRecordsBefore moves the log start offset to offset, deleting whole
// segments that fall below it.
func (l *Log) DeleteRecordsBefore(offset int64) error { return nil }

// OffsetForTimestamp returns the first offset whose timestamp is >= ts, with
// that timestamp; ok is false when there is none (ListOffsets by time).
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	return 0, 0, false, nil
}

// MaxTimestamp returns the largest timestamp in the log and its offset
// (ListOffsets with timestamp -3, KIP-734).
func (l *Log) MaxTimestamp() (timestamp, offset int64, err error) { return -1, -1, nil }

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch <=
// epoch known to the log and the offset where the next epoch starts (or the
// log end offset). (-1, -1) when the log has no epoch <= epoch.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) { return -1, -1 }

// Flush fsyncs everything appended so far.
func (l *Log) Flush() error { return nil }

// Close flushes and closes the log's files.
func (l *Log) Close() error { return nil }

// Delete closes the log and removes its directory (DeleteTopics).
func (l *Log) Delete() error { return nil }
