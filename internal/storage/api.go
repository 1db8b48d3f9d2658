package storage

// This file is the contract between the storage engine and its callers (the
// partition and broker packages): the errors, the configuration and the
// value types. The engine's methods live in the files named after what they
// do (log.go, append.go, read.go, truncate.go, timestamp.go, epoch.go,
// flush.go).

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
	// ErrUnexpectedOffset: a follower append (AssignOffsets false) carried a
	// batch whose baseOffset is below the log end offset, or batches out of
	// order. The follower must truncate (OffsetForLeaderEpoch) first.
	ErrUnexpectedOffset = errors.New("storage: batch offset does not follow the log end offset")
	// ErrBatchTooLarge: one batch is larger than segment.bytes, so no segment
	// can hold it (Kafka's RECORD_BATCH_TOO_LARGE).
	ErrBatchTooLarge = errors.New("storage: batch larger than segment.bytes")
	// ErrStaleLeaderEpoch: an append carries a leader epoch older than the
	// latest one in the log (a deposed leader, or a follower fed batches
	// from before its truncation point). Leader epochs in a log never
	// decrease.
	ErrStaleLeaderEpoch = errors.New("storage: leader epoch older than the log's latest")
	// ErrInvalidBatches: the bytes given to Append are not a sequence of
	// whole v2 batches. The partition validates produce requests first, so
	// this means a caller bug or a corrupt replication response; the log is
	// left untouched.
	ErrInvalidBatches = errors.New("storage: append of malformed batches")
)

// Config holds one log's settings, named after Kafka's topic configs. The
// broker fills it from broker defaults and topic overrides. A zero field
// takes the default noted next to it, so Config{} is a valid configuration.
type Config struct {
	SegmentBytes int64 // segment.bytes (default 1 GiB, at most 2 GiB-1)
	//lint:ignore ST1011 Kafka's name for it (segment.ms)
	SegmentMs          time.Duration // segment.ms (0: never roll by time)
	SegmentIndexBytes  int32         // segment.index.bytes: max size of one index file (default 10 MiB)
	IndexIntervalBytes int32         // index.interval.bytes (default 4096)
	// FlushMessages is flush.messages. Gregor's default is 1: every append is
	// fsynced before it is acknowledged, with group commit. Larger values (or
	// Kafka's default, MaxInt64) leave data in the page cache until that many
	// messages are unflushed or FlushMs passes. 0 means the default, 1.
	FlushMessages int64
	//lint:ignore ST1011 Kafka's name for it (flush.ms)
	FlushMs time.Duration // flush.ms (0 or huge: never by time); see FlushIfDue

	// Retention and compaction (retention.go, cleaner.go). Nothing is
	// deleted or cleaned unless the matching cleanup.policy flag is set,
	// so Config{} keeps every record forever.
	CleanupDelete  bool // cleanup.policy contains delete: ApplyRetention deletes
	CleanupCompact bool // cleanup.policy contains compact: Clean compacts
	//lint:ignore ST1011 Kafka's name for it (retention.ms)
	RetentionMs    time.Duration // retention.ms, taken literally (negative: no time limit)
	RetentionBytes int64         // retention.bytes, taken literally (negative: no size limit)
	//lint:ignore ST1011 Kafka's name for it (file.delete.delay.ms)
	FileDeleteDelayMs time.Duration // file.delete.delay.ms: how long a deleted segment's descriptor stays open for readers (0: 60 s)
	//lint:ignore ST1011 Kafka's name for it (delete.retention.ms)
	DeleteRetentionMs time.Duration // delete.retention.ms: tombstones stay this long after their segment was first cleaned
	//lint:ignore ST1011 Kafka's name for it (min.compaction.lag.ms)
	MinCompactionLagMs time.Duration // min.compaction.lag.ms: younger segments are not cleaned
	//lint:ignore ST1011 Kafka's name for it (max.compaction.lag.ms)
	MaxCompactionLagMs time.Duration // max.compaction.lag.ms: older dirty records force a clean (0: no limit)
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio, taken literally:
	// the log is cleaned when dirty bytes / cleanable bytes reaches it.
	MinCleanableDirtyRatio float64
}

// AppendOptions says how Append treats the batches.
type AppendOptions struct {
	// AssignOffsets is true on the leader: each batch's baseOffset is
	// rewritten to the next offset. Followers append with the leader's
	// offsets, which must not go below the log end offset (a compacted
	// leader may leave gaps, so a larger baseOffset is accepted).
	AssignOffsets bool
	// LeaderEpoch is written into each batch's partitionLeaderEpoch when
	// AssignOffsets is set, and recorded in the leader-epoch checkpoint.
	LeaderEpoch int32
	// LogAppendTime, when non-zero, is written as each batch's max timestamp
	// (message.timestamp.type=LogAppendTime), in Unix milliseconds. Only
	// with AssignOffsets: a follower keeps the leader's bytes.
	LogAppendTime int64
}

// AppendResult describes a successful append.
type AppendResult struct {
	FirstOffset int64 // base offset of the first batch
	LastOffset  int64 // last offset of the last batch
	// MaxTimestamp and OffsetOfMaxTimestamp are over the appended batches.
	// OffsetOfMaxTimestamp is the base offset of the batch holding the
	// largest timestamp (batch precision).
	MaxTimestamp         int64
	OffsetOfMaxTimestamp int64
}

// Slice is a byte range of one segment file that holds whole batches. It is
// what a fetch sends: the broker copies it to the socket with sendfile
// (plaintext) or ReadAt (tests, TLS) without decoding it. The file stays
// valid while the slice is in use even if retention deletes the segment: an
// I/O error then is expected and means "retry from the new start offset".
//
// File is shared by every reader of the segment: use positioned I/O only
// (ReadAt, Slice.WriteTo, sendfile with an explicit offset). Never Seek, Read
// or Close it: its file offset is not yours, and Close belongs to the log.
type Slice struct {
	File *os.File
	Pos  int64 // position of the first byte in File
	Size int64 // number of bytes
}
