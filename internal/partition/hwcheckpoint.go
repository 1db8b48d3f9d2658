package partition

// The high-watermark checkpoint: where a replicated partition's high
// watermark starts after a restart.
//
// Why. After a restart a replica knows where its log ends, not how much of
// it was committed. Starting the high watermark at the log end would let a
// restarted replica that becomes leader (or a follower before the leader's
// first fetch answer) hand consumers records that no ISR ever held: the
// unreplicated tail of a leader that crashed, later truncated away when
// another replica leads. Kafka keeps the high watermark in a checkpoint
// file (replication-offset-checkpoint) and starts from it; so does this.
//
// Invariant: a checkpoint never holds more than a high watermark this
// replica had, so every record below it was committed when it was written,
// and the ISR protocol never truncates a committed record (a new leader
// comes from the ISR, which holds them all). Hence
//
//	high watermark at start = max(min(checkpoint, log end), log start)
//
// exposes only committed records. Any checkpoint ever written is safe, not
// only the latest: a lost, stale or unreadable one only makes the start
// more conservative (a missing or corrupt one counts as the log start),
// and the high watermark then moves by the normal rules, from the ISR's
// fetches on a leader, from the leader's fetch answers on a follower.
//
// Which partitions. Only replicas driven by the cluster metadata: the
// first SetLocalReplicaID after Open is the signal (a clustered broker
// calls it before any role and before the partition is served). A single
// node never calls it, keeps no checkpoint and starts at the log end as
// before: its log is the truth, everything durable in it was acknowledged
// or may be exposed, and no other replica can disagree.
//
// Where. One file per partition, in its directory next to the
// producer-state snapshots, rather than Kafka's one file per log
// directory: the partition directory stays the whole of a replica's state
// (deleting or moving it needs no shared file rewritten), and no component
// above the partition has to gather every partition's high watermark. The
// price is one small write per busy partition per interval, skipped while
// the high watermark does not move.
//
// When. On a timer armed by the first change of the high watermark after
// a write (Kafka's replica.high.watermark.checkpoint.interval.ms, 5 s
// unless Config says otherwise) and at a clean Close. The write runs on the
// timer's goroutine with neither p.mu nor appendMu held: produces and
// fetches never wait for it. checkpointMu orders the writes, so Close's
// write is the last and Delete never races one.
//
// Layout of the file "high-watermark.checkpoint", big-endian, 18 bytes:
//
//	offset size field
//	     0    4 magic "GPHW"
//	     4    2 version (1)
//	     6    8 high watermark
//	    14    4 CRC32C (Castagnoli) of the 14 bytes before it
//
// The timer's writes use fsutil.ReplaceFile (a temporary file renamed
// into place, no fsync): by the invariant above a checkpoint lost or torn
// by a power loss is safe, and the CRC detects a torn one, so a busy
// broker does not pay two fsyncs per partition per interval. The write at
// a clean Close is fsynced (fsutil.WriteFileAtomic): it is the one a
// planned restart starts from.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gregor-log/gregor/internal/fsutil"
)

const (
	checkpointFileName = "high-watermark.checkpoint"
	checkpointVersion  = 1
	checkpointSize     = 18
	// DefaultCheckpointInterval is Kafka's default
	// replica.high.watermark.checkpoint.interval.ms.
	DefaultCheckpointInterval = 5 * time.Second
)

var (
	checkpointMagic = [4]byte{'G', 'P', 'H', 'W'}
	// errCorruptCheckpoint marks a checkpoint file that does not decode:
	// it counts as no checkpoint, never as a high watermark.
	errCorruptCheckpoint = errors.New("partition: corrupt high-watermark checkpoint")
)

func encodeCheckpoint(highWatermark int64) []byte {
	b := make([]byte, 0, checkpointSize)
	b = append(b, checkpointMagic[:]...)
	b = binary.BigEndian.AppendUint16(b, checkpointVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(highWatermark))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeCheckpoint returns the high watermark a checkpoint holds, or
// errCorruptCheckpoint. It never panics, whatever the bytes.
func decodeCheckpoint(b []byte) (int64, error) {
	if len(b) != checkpointSize {
		return 0, fmt.Errorf("%w: %d bytes", errCorruptCheckpoint, len(b))
	}
	if crc32.Checksum(b[:14], castagnoli) != binary.BigEndian.Uint32(b[14:]) {
		return 0, fmt.Errorf("%w: checksum mismatch", errCorruptCheckpoint)
	}
	if [4]byte(b[0:4]) != checkpointMagic {
		return 0, fmt.Errorf("%w: bad magic", errCorruptCheckpoint)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != checkpointVersion {
		return 0, fmt.Errorf("%w: version %d", errCorruptCheckpoint, v)
	}
	hw := int64(binary.BigEndian.Uint64(b[6:]))
	if hw < 0 {
		return 0, fmt.Errorf("%w: high watermark %d", errCorruptCheckpoint, hw)
	}
	return hw, nil
}

// readCheckpoint returns the checkpointed high watermark in dir, -1 when
// there is none. An unreadable or corrupt file is logged and counts as
// none. Leftovers of an interrupted write are removed.
func readCheckpoint(dir, topic string, index int32) int64 {
	path := filepath.Join(dir, checkpointFileName)
	_ = os.Remove(path + ".tmp") // WriteFileAtomic's, never renamed: never complete
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	var b []byte
	if err == nil {
		// One byte more than a checkpoint: a longer file is corrupt, and
		// is never read whole.
		b, err = io.ReadAll(io.LimitReader(f, checkpointSize+1))
		f.Close()
	}
	hw := int64(-1)
	if err == nil {
		hw, err = decodeCheckpoint(b)
	}
	if err != nil {
		slog.Warn("partition: ignoring the high-watermark checkpoint; the high watermark starts at the log start",
			"topic", topic, "partition", index, "err", err)
		return -1
	}
	return hw
}

// replicatedLocked is the first SetLocalReplicaID: from now on the
// partition keeps a checkpoint, and its high watermark starts from the one
// Open found rather than from the log end. p.mu must be held.
func (p *Partition) replicatedLocked() {
	if p.mu.replicated {
		return
	}
	p.mu.replicated = true
	hw := max(min(p.openCheckpoint, p.Log.LogEndOffset()), p.Log.LogStartOffset())
	if hw < p.highWatermark.Load() {
		p.highWatermark.Store(hw)
	}
}

// setHighWatermarkLocked is the one way the high watermark changes after
// Open; on a replicated partition it arms the checkpoint timer unless it
// is armed already. p.mu must be held.
func (p *Partition) setHighWatermarkLocked(hw int64) {
	if p.highWatermark.Swap(hw) == hw {
		return // followers hear the same one on every fetch answer
	}
	if p.mu.replicated && !p.mu.closed && p.mu.checkpointTimer == nil {
		interval := p.mu.cfg.HighWatermarkCheckpointInterval
		if interval <= 0 {
			interval = DefaultCheckpointInterval
		}
		p.mu.checkpointTimer = time.AfterFunc(interval, p.checkpointFromTimer)
	}
}

// checkpointFromTimer writes the current high watermark, on the timer's
// goroutine. A failure is logged: the previous checkpoint stays, which is
// safe (see the invariant above), and the next change tries again.
func (p *Partition) checkpointFromTimer() {
	p.checkpointMu.Lock()
	defer p.checkpointMu.Unlock()
	p.mu.Lock()
	p.mu.checkpointTimer = nil // a change from now on arms a new one
	closed, hw := p.mu.closed, p.highWatermark.Load()
	p.mu.Unlock()
	if closed {
		return // Close writes the last one; Delete wants none
	}
	if err := p.writeCheckpointLocked(hw, false); err != nil {
		slog.Warn("partition: writing the high-watermark checkpoint", "topic", p.Topic, "partition", p.Index, "err", err)
	}
}

// checkpointOnClose writes the final checkpoint of a replicated
// partition. The partition is closed: the timer will write no more.
func (p *Partition) checkpointOnClose() error {
	p.mu.Lock()
	replicated, hw := p.mu.replicated, p.highWatermark.Load()
	p.mu.Unlock()
	if !replicated {
		return nil
	}
	p.checkpointMu.Lock()
	defer p.checkpointMu.Unlock()
	return p.writeCheckpointLocked(hw, true)
}

// writeCheckpointLocked replaces the checkpoint with hw, fsynced when
// durable, unless it holds hw already (as durably as asked).
// p.checkpointMu must be held.
func (p *Partition) writeCheckpointLocked(hw int64, durable bool) error {
	if hw == p.checkpointed && (p.checkpointDurable || !durable) {
		return nil
	}
	write := fsutil.ReplaceFile
	if durable {
		write = fsutil.WriteFileAtomic
	}
	if err := write(filepath.Join(p.dir, checkpointFileName), encodeCheckpoint(hw)); err != nil {
		return fmt.Errorf("writing high-watermark checkpoint: %w", err)
	}
	p.checkpointed, p.checkpointDurable = hw, durable
	return nil
}
