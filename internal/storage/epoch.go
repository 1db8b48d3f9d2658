package storage

import (
	"path/filepath"
	"sync/atomic"

	"github.com/gregor-log/gregor/internal/fsutil"
)

// epochEntry says that leader epoch epoch wrote its first batch at
// startOffset (Kafka's EpochEntry).
type epochEntry struct {
	epoch       int32
	startOffset int64
}

// epochCache is the leader-epoch checkpoint in memory (Kafka's
// LeaderEpochFileCache): epochs and start offsets both strictly increase.
//
// The writer (holding Log.writeMu) replaces the slice, never edits a
// published one, so EndOffsetForEpoch reads it lock-free. Every change is
// written to the checkpoint file (fsynced, atomically renamed) before the
// log bytes that depend on it: a new epoch is on disk before its first
// batch. Recovery relies on that to check each batch's partitionLeaderEpoch
// (see epochAt).
type epochCache struct {
	path    string
	entries atomic.Pointer[[]epochEntry]
}

func (c *epochCache) load(dir string) error {
	c.path = filepath.Join(dir, epochCheckpointName)
	lines, err := readCheckpoint(c.path, 2)
	if err != nil {
		return err
	}
	entries := make([]epochEntry, 0, len(lines))
	for _, l := range lines {
		e := epochEntry{epoch: int32(l[0]), startOffset: l[1]}
		if int64(e.epoch) != l[0] || e.epoch < 0 || e.startOffset < 0 {
			continue
		}
		// Keep the invariant even if the file was edited by hand.
		if n := len(entries); n > 0 && (e.epoch <= entries[n-1].epoch || e.startOffset < entries[n-1].startOffset) {
			continue
		}
		entries = append(entries, e)
	}
	c.entries.Store(&entries)
	return nil
}

func (c *epochCache) list() []epochEntry {
	if p := c.entries.Load(); p != nil {
		return *p
	}
	return nil
}

// latest is the largest epoch, -1 when none.
func (c *epochCache) latest() int32 {
	l := c.list()
	if len(l) == 0 {
		return -1
	}
	return l[len(l)-1].epoch
}

func (c *epochCache) persist(entries []epochEntry) error {
	lines := make([][]int64, len(entries))
	for i, e := range entries {
		lines[i] = []int64{int64(e.epoch), e.startOffset}
	}
	if err := fsutil.WriteFileAtomic(c.path, formatCheckpoint(lines)); err != nil {
		return err
	}
	c.entries.Store(&entries)
	return nil
}

// assign records that epoch starts at startOffset, if epoch is newer than
// every known one. Writer only.
func (c *epochCache) assign(epoch int32, startOffset int64) error {
	old := c.list()
	if epoch < 0 || (len(old) > 0 && epoch <= old[len(old)-1].epoch) {
		return nil
	}
	entries := append(append(make([]epochEntry, 0, len(old)+1), old...), epochEntry{epoch, startOffset})
	return c.persist(entries)
}

// truncateFromEnd drops the entries that start at or after offset
// (TruncateTo, recovery). Writer only.
func (c *epochCache) truncateFromEnd(offset int64) error {
	old := c.list()
	n := len(old)
	for n > 0 && old[n-1].startOffset >= offset {
		n--
	}
	if n == len(old) {
		return nil
	}
	return c.persist(append([]epochEntry(nil), old[:n]...))
}

// truncateFromStart drops the entries that end before offset and moves the
// start of the one in effect at offset up to it (DeleteRecordsBefore).
func (c *epochCache) truncateFromStart(offset int64) error {
	old := c.list()
	i := 0
	for i+1 < len(old) && old[i+1].startOffset <= offset {
		i++
	}
	if len(old) == 0 || old[i].startOffset >= offset {
		return nil
	}
	entries := append([]epochEntry(nil), old[i:]...)
	entries[0].startOffset = offset
	return c.persist(entries)
}

// clear drops every entry (TruncateFullyAndStartAt).
func (c *epochCache) clear() error {
	if len(c.list()) == 0 {
		return nil
	}
	return c.persist([]epochEntry{})
}

// epochAt is the check recovery applies to a batch starting at offset:
// ok reports whether partitionLeaderEpoch epoch is possible there. With no
// entries anything goes (the checkpoint was never written or was lost:
// recovery then learns epochs from the batches, as Kafka does). Below the
// first entry (its start was moved by DeleteRecordsBefore) any epoch up to
// the first one is possible.
func epochAt(entries []epochEntry, offset int64, epoch int32) bool {
	if len(entries) == 0 {
		return true
	}
	if offset < entries[0].startOffset {
		return epoch <= entries[0].epoch
	}
	i := len(entries) - 1
	for entries[i].startOffset > offset {
		i--
	}
	return entries[i].epoch == epoch
}

// endOffsetFor answers OffsetForLeaderEpoch (KIP-101/279): the largest epoch
// <= epoch and where the next larger epoch starts, or logEndOffset when it
// is the latest. (-1, -1) when no epoch <= epoch is known.
func endOffsetFor(entries []epochEntry, epoch int32, logEndOffset int64) (int32, int64) {
	i := len(entries) - 1
	for i >= 0 && entries[i].epoch > epoch {
		i--
	}
	if i < 0 {
		return -1, -1
	}
	if i == len(entries)-1 {
		return entries[i].epoch, logEndOffset
	}
	return entries[i].epoch, entries[i+1].startOffset
}
