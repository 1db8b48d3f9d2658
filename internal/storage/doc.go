// Package storage is the durable commit log of one partition: a directory
// of segments, each a .log file of v2 batches exactly as they came off the
// wire with offsets assigned in place, a sparse .index (offset -> position)
// and a .timeindex (timestamp -> offset), plus a leader-epoch checkpoint.
//
// # Contract
//
// Open(dir, cfg) opens one partition's log; Append writes validated batches
// and returns once they are as durable as the flush policy says (default:
// fsynced, with group commit); Read returns a file range (Slice) of whole
// batches for sendfile, never copying record bytes; TruncateTo,
// TruncateFullyAndStartAt and DeleteRecordsBefore move the ends;
// OffsetForTimestamp, MaxTimestamp and EndOffsetForEpoch answer ListOffsets
// and OffsetForLeaderEpoch; ApplyRetention deletes old segments
// (retention.go) and Clean compacts by key (cleaner.go, swap.go), both
// called by broker-wide goroutines, never one per log. One writer at a
// time; readers never wait for it. Manager opens every partition under a directory and runs the single
// flush.ms ticker. After kill -9 at any instant, Open yields exactly a
// prefix of what was appended, containing every acknowledged batch.
//
// # On-disk layout
//
// A partition directory:
//
//	00000000000000000000.log        segment: batches, back to back
//	00000000000000000000.index      its offset index
//	00000000000000000000.timeindex  its time index
//	00000000000000004211.log        next segment: first batch has offset 4211
//	...
//	leader-epoch-checkpoint         epoch -> start offset
//	log-start-offset-checkpoint     present once DeleteRecordsBefore or retention ran
//	cleaner-offset-checkpoint       present once compaction ran: firstDirtyOffset
//	.clean-shutdown                 present only between Close and the next write
//
// and, only while the cleaner swaps segments in (see swap.go; Open
// finishes or discards them):
//
//	00000000000000000000.log.cleaned      a cleaned segment being written
//	00000000000000000000.index.cleaned    (and .timeindex.cleaned) its indexes
//	00000000000000000000.00000000000000004211.swap
//	                                      committed: replaces segments [0, 4211)
//
// Segment file names are the base offset, 20 digits, zero-padded. A .log
// holds whole v2 batches (layout in package record), the first one starting
// at the base offset, each next one at the offset where the previous ended
// (except in compacted logs: below the cleaner checkpoint batches may start
// later, leaving gaps, and a reader asking for an offset in a gap gets the
// next batch):
//
//	pos 0                         pos p1                    size
//	+-----------------------------+-------------------------+-- ... --+
//	| batch: baseOffset=B ...     | batch: baseOffset=B+n0  |         |
//	|   8 baseOffset  (set here)  |                         |         |
//	|   4 batchLength             |                         |         |
//	|   4 partitionLeaderEpoch    |                         |         |
//	|     (set here)              |                         |         |
//	|   1 magic=2, 4 crc, ...     |                         |         |
//	+-----------------------------+-------------------------+-- ... --+
//
// .index: 8-byte entries, big-endian, one per index.interval.bytes of
// batches (the first batch has none: position 0 is implied):
//
//	+----------------------+----------------------+
//	| relativeOffset u32   | position u32         |   baseOffset of the batch
//	+----------------------+----------------------+   at position, minus B
//
// .timeindex: 12-byte entries, big-endian, added with offset entries when
// the segment's largest timestamp grew, and a final one at roll or Close:
//
//	+--------------------------------------+----------------------+
//	| timestamp i64 (largest so far)       | relativeOffset u32   |
//	+--------------------------------------+----------------------+
//
// leader-epoch-checkpoint (Kafka's text format; written to a temporary
// file, fsynced, renamed):
//
//	0            version
//	2            number of entries
//	0 0          epoch startOffset
//	3 1500
//
// log-start-offset-checkpoint: the same format, one entry: "0\n1\n<offset>\n".
//
// .clean-shutdown: the same format, one entry of three numbers:
// "<logEndOffset> <active segment base> <active segment .log size>". Open
// trusts the files (reads no segment) only if it parses and the active
// segment has exactly that size; the first write after Open removes it
// (and fsyncs the directory) before touching any file.
//
// # Durability and recovery
//
// The invariants that make recovery short and exact, each enforced where
// its comment says:
//
//   - Only the active segment can hold unsynced bytes: a roll fsyncs the old
//     segment and its indexes first (rollLocked).
//   - Index entries reach the index files only for fsynced batches
//     (flushLocked), so recovery scanning from the last entry on disk
//     sees every byte a crash may have torn (recovery.go).
//   - A new leader epoch is in the checkpoint before its first batch
//     (assignEpochsLocked), and follower batches must continue the log
//     exactly (checkBatchesLocked) unless the cleaner checkpoint was moved
//     past their gap first, so recovery can check the two header fields
//     the CRC does not cover.
//   - A deleted segment's .log descriptor stays open for
//     file.delete.delay.ms (retention.go), so a reader that loaded it is
//     served its old bytes, never another file's.
//   - Cleaned segments replace old ones through a .swap file, the commit
//     point, renamed into place under writeMu (swap.go): after a crash the
//     log is the one before or after each swap.
//   - Bytes read from disk are CRC-checked once before they are first
//     served (verifyRange); a bad batch is ErrCorruptSegment, not data.
package storage
