package partition

// Producer-state snapshots: the producer table as of one log offset, so
// that Open does not rebuild it by scanning the whole log. A snapshot is
// written at every clean Close (at the log end offset) and, while the
// partition runs, each time about a segment's worth of bytes was appended
// since the last one, so that after a crash only the batches after the
// newest snapshot are scanned.
//
// File name: <offset>.snapshot, the offset zero-padded to 20 digits, in the
// partition's directory. The two newest are kept: if the newest turns out
// to be unusable (beyond the recovered log end after a crash in page-cache
// mode, or corrupt), the older one still saves a full scan.
//
// Layout, big-endian:
//
//	offset size field
//	     0    4 magic "GPST"
//	     4    2 version (1)
//	     6    8 offset: the log end offset the state is exact at
//	    14    4 producer count
//	    18    … producers, each:
//	              8 producer id, 2 epoch, 8 last append (broker ms),
//	              1 batch count (1..5), then per batch, oldest first:
//	              4 first sequence, 4 last sequence, 8 first offset,
//	              8 last offset, 8 max timestamp
//	   end-4  4 CRC32C (Castagnoli) of every byte before it
//
// It is written to a temporary file, fsynced, renamed into place and the
// directory fsynced, so a crash leaves either the old set or the new one.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gregor-log/gregor/internal/fsutil"
)

const (
	snapshotSuffix      = ".snapshot"
	snapshotVersion     = 1
	snapshotHeaderSize  = 18
	snapshotEntrySize   = 19 // before its batches
	snapshotBatchSize   = 32
	snapshotsKept       = 2
	snapshotMaxFileSize = 64 << 20 // far above DefaultMaxProducers' worth; bounds a read of a corrupt file
	// snapshotMinIntervalBytes keeps tiny test segment sizes from making a
	// snapshot per append.
	snapshotMinIntervalBytes = 1 << 20
	// snapshotDefaultIntervalBytes applies when the segment size is unset.
	snapshotDefaultIntervalBytes = 1 << 30
)

var (
	snapshotMagic = [4]byte{'G', 'P', 'S', 'T'}
	castagnoli    = crc32.MakeTable(crc32.Castagnoli)
	// errCorruptSnapshot marks a snapshot file that does not decode; it is
	// skipped (the log is scanned instead), never trusted.
	errCorruptSnapshot = errors.New("partition: corrupt producer-state snapshot")
)

// encodeSnapshot appends the snapshot of t at offset to dst.
func encodeSnapshot(dst []byte, offset int64, t *producerTable) []byte {
	start := len(dst)
	dst = append(dst, snapshotMagic[:]...)
	dst = binary.BigEndian.AppendUint16(dst, snapshotVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(t.entries)))
	// Sorted, so equal states give equal files (tests, debugging).
	pids := make([]int64, 0, len(t.entries))
	for pid := range t.entries {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for _, pid := range pids {
		e := t.entries[pid]
		dst = binary.BigEndian.AppendUint64(dst, uint64(pid))
		dst = binary.BigEndian.AppendUint16(dst, uint16(e.Epoch))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.LastAppendMs))
		dst = append(dst, e.count)
		for i := 0; i < int(e.count); i++ {
			b := e.batch(i)
			dst = binary.BigEndian.AppendUint32(dst, uint32(b.FirstSequence))
			dst = binary.BigEndian.AppendUint32(dst, uint32(b.LastSequence))
			dst = binary.BigEndian.AppendUint64(dst, uint64(b.FirstOffset))
			dst = binary.BigEndian.AppendUint64(dst, uint64(b.LastOffset))
			dst = binary.BigEndian.AppendUint64(dst, uint64(b.MaxTimestamp))
		}
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeSnapshot reads a snapshot into t (which should be empty) and
// returns its offset. Any inconsistency is errCorruptSnapshot; it never
// panics, whatever the bytes.
func decodeSnapshot(b []byte, t *producerTable) (int64, error) {
	if len(b) < snapshotHeaderSize+4 {
		return 0, fmt.Errorf("%w: %d bytes", errCorruptSnapshot, len(b))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return 0, fmt.Errorf("%w: checksum mismatch", errCorruptSnapshot)
	}
	if [4]byte(body[0:4]) != snapshotMagic {
		return 0, fmt.Errorf("%w: bad magic", errCorruptSnapshot)
	}
	if v := binary.BigEndian.Uint16(body[4:]); v != snapshotVersion {
		return 0, fmt.Errorf("%w: version %d", errCorruptSnapshot, v)
	}
	offset := int64(binary.BigEndian.Uint64(body[6:]))
	count := binary.BigEndian.Uint32(body[14:])
	if offset < 0 {
		return 0, fmt.Errorf("%w: offset %d", errCorruptSnapshot, offset)
	}
	rest := body[snapshotHeaderSize:]
	// Each producer takes at least one entry plus one batch: a count the
	// bytes cannot hold is refused before any work.
	if uint64(count)*(snapshotEntrySize+snapshotBatchSize) > uint64(len(rest)) {
		return 0, fmt.Errorf("%w: %d producers in %d bytes", errCorruptSnapshot, count, len(rest))
	}
	prevPID := int64(-1)
	for range count {
		if len(rest) < snapshotEntrySize {
			return 0, fmt.Errorf("%w: truncated producer", errCorruptSnapshot)
		}
		pid := int64(binary.BigEndian.Uint64(rest))
		var e producerEntry
		e.Epoch = int16(binary.BigEndian.Uint16(rest[8:]))
		e.LastAppendMs = int64(binary.BigEndian.Uint64(rest[10:]))
		n := int(rest[18])
		rest = rest[snapshotEntrySize:]
		// Producers are written in ascending id order; anything else was not
		// written by encodeSnapshot.
		if pid <= prevPID || e.Epoch < 0 || n < 1 || n > maxBatchesPerProducer || len(rest) < n*snapshotBatchSize {
			return 0, fmt.Errorf("%w: producer %d", errCorruptSnapshot, pid)
		}
		for i := range n {
			bm := batchMetadata{
				FirstSequence: int32(binary.BigEndian.Uint32(rest)),
				LastSequence:  int32(binary.BigEndian.Uint32(rest[4:])),
				FirstOffset:   int64(binary.BigEndian.Uint64(rest[8:])),
				LastOffset:    int64(binary.BigEndian.Uint64(rest[16:])),
				MaxTimestamp:  int64(binary.BigEndian.Uint64(rest[24:])),
			}
			rest = rest[snapshotBatchSize:]
			if bm.FirstOffset < 0 || bm.LastOffset < bm.FirstOffset || bm.LastOffset >= offset {
				return 0, fmt.Errorf("%w: producer %d batch %d offsets %d..%d", errCorruptSnapshot, pid, i, bm.FirstOffset, bm.LastOffset)
			}
			*e.batch(int(e.count)) = bm
			e.count++
		}
		t.store(pid, e, e.LastAppendMs)
		prevPID = pid
	}
	if len(rest) != 0 {
		return 0, fmt.Errorf("%w: %d trailing bytes", errCorruptSnapshot, len(rest))
	}
	return offset, nil
}

func snapshotName(offset int64) string { return fmt.Sprintf("%020d%s", offset, snapshotSuffix) }

// listSnapshots returns the offsets of the snapshot files in dir, ascending,
// and removes leftovers of interrupted writes.
func listSnapshots(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var offsets []int64
	for _, ent := range ents {
		name := ent.Name()
		if strings.HasSuffix(name, snapshotSuffix+".tmp") {
			_ = os.Remove(filepath.Join(dir, name)) // never renamed: never complete
			continue
		}
		base, ok := strings.CutSuffix(name, snapshotSuffix)
		if !ok {
			continue
		}
		off, err := strconv.ParseInt(base, 10, 64)
		if err != nil || off < 0 {
			continue // not ours
		}
		offsets = append(offsets, off)
	}
	slices.Sort(offsets)
	return offsets, nil
}

// readSnapshot loads one snapshot file into a fresh table configured like t.
func readSnapshot(dir string, offset int64, like *producerTable) (*producerTable, error) {
	path := filepath.Join(dir, snapshotName(offset))
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > snapshotMaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes", errCorruptSnapshot, fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := newProducerTable(like.maxProducers, like.expirationMs)
	got, err := decodeSnapshot(b, t)
	if err != nil {
		return nil, err
	}
	if got != offset {
		return nil, fmt.Errorf("%w: file %s holds offset %d", errCorruptSnapshot, filepath.Base(path), got)
	}
	return t, nil
}

// writeSnapshotLocked writes the producer state as of offset (the log end
// offset) durably and prunes older snapshots. p.appendMu must be held.
func (p *Partition) writeSnapshotLocked(offset int64) error {
	p.producers.removeExpired(p.now().UnixMilli())
	data := encodeSnapshot(nil, offset, p.producers)
	final := filepath.Join(p.dir, snapshotName(offset))
	tmp := final + ".tmp"
	if err := writeFileSync(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing producer-state snapshot: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing producer-state snapshot: %w", err)
	}
	if err := fsutil.SyncDir(p.dir); err != nil {
		return fmt.Errorf("writing producer-state snapshot: %w", err)
	}
	p.bytesSinceSnapshot.Store(0)
	offsets, err := listSnapshots(p.dir)
	if err != nil {
		return nil // the new snapshot is in place; pruning can wait
	}
	for _, off := range offsets {
		if off > offset {
			// Left over from a log that was longer before a crash or a
			// truncation: it describes offsets the log no longer has.
			_ = os.Remove(filepath.Join(p.dir, snapshotName(off)))
		}
	}
	kept := 0
	for i := len(offsets) - 1; i >= 0; i-- {
		if offsets[i] > offset {
			continue
		}
		if kept++; kept > snapshotsKept {
			_ = os.Remove(filepath.Join(p.dir, snapshotName(offsets[i])))
		}
	}
	return nil
}

// maybeSnapshotLocked writes a snapshot once about a segment's worth of
// bytes was appended since the last one, bounding how much of the log a
// restart after a crash scans. It runs under the append lock (an fsync
// once per segment's worth of data), and only when no idempotent append is
// in flight: then every idempotent batch below the log end offset is in
// the producer table, so the state is exact at that offset (plain batches
// change no state). A failure is not the produce's failure: the next Open
// scans further back instead.
func (p *Partition) maybeSnapshotLocked() {
	if p.bytesSinceSnapshot.Load() < p.snapshotInterval() || p.inFlightAppends > 0 || p.isClosed() {
		return
	}
	if err := p.writeSnapshotLocked(p.Log.LogEndOffset()); err != nil {
		p.bytesSinceSnapshot.Store(0) // try again a segment later, not on every append
	}
}

// snapshotInterval is how many appended bytes call for a new snapshot:
// about a segment's worth.
func (p *Partition) snapshotInterval() int64 {
	interval := p.config().Storage.SegmentBytes
	if interval <= 0 {
		interval = snapshotDefaultIntervalBytes
	}
	return max(interval, snapshotMinIntervalBytes)
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
