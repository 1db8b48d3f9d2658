package partition

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
)

// scanChunkBytes is how much of the log one Read covers while rebuilding
// producer state; only batch headers are read from it.
const scanChunkBytes = 1 << 20

// restoreProducers rebuilds the producer table at Open: the newest
// snapshot at or below the log end offset, then every batch after it.
// Without a usable snapshot the whole log from its start offset is scanned;
// snapshots are written at each clean close and every segment's worth of
// appends, so that happens only for a log whose snapshots were lost.
func (p *Partition) restoreProducers() error {
	nowMs := p.now().UnixMilli()
	leo, lso := p.Log.LogEndOffset(), p.Log.LogStartOffset()
	offsets, err := listSnapshots(p.dir)
	if err != nil {
		return err
	}
	from := lso
	for i := len(offsets) - 1; i >= 0; i-- {
		off := offsets[i]
		if off > leo {
			// The log lost its tail (a crash before the data reached the
			// disk): this snapshot describes batches that no longer exist.
			_ = os.Remove(filepath.Join(p.dir, snapshotName(off)))
			continue
		}
		t, err := readSnapshot(p.dir, off, p.producers)
		if err != nil {
			continue // corrupt or unreadable: fall back to an older one
		}
		p.producers = t
		from = max(off, lso)
		break
	}
	p.producers.removeBefore(lso)
	return p.replayLog(from, leo, nowMs)
}

// replayLog applies the headers of the batches in [from, leo) to the
// producer table. Only the 61-byte headers are read.
func (p *Partition) replayLog(from, leo, nowMs int64) error {
	var hdr [record.HeaderSize]byte
	for off := from; off < leo; {
		s, err := p.Log.Read(off, scanChunkBytes, leo)
		if err != nil {
			return err
		}
		if s.Size == 0 {
			return nil
		}
		before := off
		for pos, end := s.Pos, s.Pos+s.Size; pos < end; {
			if _, err := s.File.ReadAt(hdr[:], pos); err != nil {
				return fmt.Errorf("reading batch header at position %d: %w", pos, err)
			}
			h, err := record.ReadHeader(hdr[:])
			if err != nil {
				return fmt.Errorf("%w: batch at position %d: %w", storage.ErrCorruptSegment, pos, err)
			}
			// The first batch may start before from (Read returns the batch
			// holding from); it was counted already.
			if h.Idempotent() && h.NextOffset() > from {
				p.producers.replay(h.ProducerID, h.ProducerEpoch, batchMetadata{
					FirstSequence: h.BaseSequence, LastSequence: h.LastSequence(),
					FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp,
				}, nowMs)
			}
			pos += int64(h.Size())
			off = max(off, h.NextOffset())
		}
		if off <= before {
			return fmt.Errorf("%w: no progress reading offset %d", storage.ErrCorruptSegment, before)
		}
	}
	return nil
}
