package storage

import (
	"math"
	"time"
)

// Defaults for zero Config fields (Kafka's, except FlushMessages: Gregor
// fsyncs every append by default, see DESIGN).
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentIndexBytes  = 10 << 20
	DefaultIndexIntervalBytes = 4096
	DefaultFlushMessages      = 1
	// DefaultFileDeleteDelay is Kafka's file.delete.delay.ms default.
	DefaultFileDeleteDelay = time.Minute

	// maxSegmentBytes keeps every position in a uint32 index entry, and
	// matches Kafka's bound (Int.MaxValue).
	maxSegmentBytes = math.MaxInt32
	// minSegmentIndexBytes leaves room for a few entries (Kafka's minimum
	// is one entry; a segment that rolls at every batch is useless).
	minSegmentIndexBytes = 4 * timeEntrySize
)

// normalized returns c with defaults applied and values clamped to what the
// on-disk format can hold.
func (c Config) normalized() Config {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentBytes > maxSegmentBytes {
		c.SegmentBytes = maxSegmentBytes
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = DefaultSegmentIndexBytes
	}
	if c.SegmentIndexBytes < minSegmentIndexBytes {
		c.SegmentIndexBytes = minSegmentIndexBytes
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = DefaultFlushMessages
	}
	if c.SegmentMs < 0 {
		c.SegmentMs = 0
	}
	if c.FlushMs < 0 {
		c.FlushMs = 0
	}
	if c.FileDeleteDelayMs <= 0 {
		c.FileDeleteDelayMs = DefaultFileDeleteDelay
	}
	if c.DeleteRetentionMs < 0 {
		c.DeleteRetentionMs = 0
	}
	if c.MinCompactionLagMs < 0 {
		c.MinCompactionLagMs = 0
	}
	if c.MaxCompactionLagMs < 0 {
		c.MaxCompactionLagMs = 0
	}
	return c
}

// durable reports whether every append waits for its fsync.
func (c *Config) durable() bool { return c.FlushMessages <= 1 }

// flushDue reports whether FlushMs has passed since lastFlush.
func (c *Config) flushDue(now, lastFlush time.Time) bool {
	return c.FlushMs > 0 && now.Sub(lastFlush) >= c.FlushMs
}
