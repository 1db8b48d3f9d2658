package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/gregor-log/gregor/internal/fsutil"
	"github.com/gregor-log/gregor/internal/record"
)

// Key-based compaction (cleanup.policy=compact), Kafka's log cleaner.
//
// The log splits at the cleaner checkpoint (cleaner-offset-checkpoint,
// "firstDirtyOffset"): below it every segment was cleaned at least once;
// from it up to the first uncleanable offset lies the dirty part. The
// first uncleanable offset is the base of the first segment that is the
// active one, reaches the high watermark, or is younger than
// min.compaction.lag.ms. A log is worth cleaning when dirty bytes /
// (clean + dirty bytes) reaches min.cleanable.dirty.ratio, or when its
// oldest dirty record is older than max.compaction.lag.ms.
//
// A pass (Clean):
//
//  1. Key map: every keyed record of the dirty part is read and the map
//     records, per key (a 128-bit hash of it), the offset of its last
//     record. The map is bounded (CleanOptions.MaxKeys): when it fills,
//     the pass ends at that segment and the rest waits for the next pass.
//  2. Every segment from the log start to the end of the mapped part is
//     rewritten, in groups of consecutive segments that fit one segment,
//     keeping a record unless the map holds a later offset for its key, it
//     has no key, or it is a tombstone whose delete horizon has passed.
//     Offsets never change: a batch that loses records keeps its base
//     offset, its LastOffsetDelta, its producer id, epoch and base
//     sequence (producer state stays right), and its codec (decompress,
//     filter, recompress). A batch that keeps every record is copied as
//     is. An emptied batch is dropped, unless it is the last batch of an
//     idempotent producer, whose sequence state it carries (Kafka does
//     the same): it stays with no records.
//  3. Each group is swapped in atomically (swap.go) and the checkpoint
//     moves to the end of the mapped part.
//
// Tombstones. A tombstone (null value) must stay readable for
// delete.retention.ms after the cleaner first made it the last record of
// its key in the clean part, so that a consumer that read the old value
// sees the deletion too. Gregor measures that from the moment the segment
// holding it was first cleaned: a cleaned segment's file modification time
// is set to the time of that first cleaning (the time of the pass for a
// group with any dirty input, else the latest of its inputs' times, so a
// later merge never makes a tombstone look older than it is). A tombstone
// is dropped when its segment was already clean before the pass and that
// time is delete.retention.ms in the past. (Kafka's legacy rule used the
// last clean segment's modification time; this one is simpler to reason
// about and survives restarts without extra state.)
//
// Gaps. A cleaned segment has holes between batches and may start after
// its base offset; readers seek to the batch holding or following an
// offset, so gaps need no special case. Recovery only scans the active
// segment, which is never cleaned; if truncation makes a cleaned segment
// active again, recovery accepts gaps below the cleaner checkpoint (see
// scanActive).
//
// Concurrency. A pass reads closed segments without any lock (they are
// immutable), writes new files beside them, and takes writeMu only for
// each swap: a handful of renames and a directory fsync. Appends and
// fetches go on meanwhile; readers that loaded the old segments keep
// their descriptors (retired, see retention.go) and read the old, valid
// bytes. A swap whose segments changed meanwhile (retention, truncation)
// is abandoned.

const (
	cleanerCheckpointName = "cleaner-offset-checkpoint"
	// DefaultCleanerMaxKeys bounds the key map of one pass when
	// CleanOptions.MaxKeys is zero (about 48 MB of map).
	DefaultCleanerMaxKeys = 1 << 20
	// maxTrackedProducers bounds the map of each idempotent producer's
	// last batch; beyond it every emptied idempotent batch is kept.
	maxTrackedProducers = 1 << 16
	// cleanerIOChunk is the read and write unit of a pass.
	cleanerIOChunk = 1 << 20
	// cleanerMaxDecompressedBytes bounds one batch's records in memory.
	// The produce path refuses batches that inflate beyond the same
	// bound, so only a batch from elsewhere (bad bytes on disk) exceeds
	// it; it is left as it is, never parsed.
	cleanerMaxDecompressedBytes = 128 << 20
)

// errSwapAbandoned: the segments of a group changed during its cleaning.
var errSwapAbandoned = errors.New("storage: segments changed during cleaning")

// CleanOptions parameterises one cleaning pass.
type CleanOptions struct {
	// UpTo is the high watermark: no segment holding an offset at or
	// above it is cleaned.
	UpTo int64
	// Throttle is the I/O budget shared by the cleaner threads (nil: none).
	Throttle *Throttle
	// MaxKeys bounds the key map (0: DefaultCleanerMaxKeys).
	MaxKeys int
}

// CleanStats describes a pass.
type CleanStats struct {
	FirstDirtyOffset int64 // where the dirty part began
	EndOffset        int64 // the new cleaner checkpoint
	SegmentsIn       int
	SegmentsOut      int
	BytesRead        int64
	BytesWritten     int64
	RecordsRead      int64 // records of the rewritten segments
	RecordsKept      int64
}

// CleanNeed is how much a log needs cleaning (the cleaner threads pick the
// dirtiest log first).
type CleanNeed struct {
	DirtyRatio float64 // dirty bytes / cleanable bytes
	// Due is true when the log should be cleaned now: compaction is on
	// and the ratio reached min.cleanable.dirty.ratio, or a dirty record
	// is older than max.compaction.lag.ms.
	Due bool
}

// cleanRange is the cleanable part of a log at one instant.
type cleanRange struct {
	segs       []*segment // snapshot
	dirty      int        // index of the first dirty segment
	end        int        // index of the first uncleanable segment
	firstDirty int64
	cleanBytes int64
	dirtyBytes int64
}

// CleanerCheckpoint is the first offset not yet cleaned (firstDirtyOffset).
func (l *Log) CleanerCheckpoint() int64 { return l.cleanerCheckpoint.Load() }

// CleaningNeed reports whether the log should be cleaned now, given the
// high watermark upTo. A log without CleanupCompact never is.
func (l *Log) CleaningNeed(now time.Time, upTo int64) (CleanNeed, error) {
	cfg := l.config()
	if !cfg.CleanupCompact || l.closed.Load() {
		return CleanNeed{}, nil
	}
	r, err := l.cleanableRange(now, upTo)
	if err != nil || r.end <= r.dirty {
		return CleanNeed{}, err
	}
	need := CleanNeed{DirtyRatio: float64(r.dirtyBytes) / float64(max(r.cleanBytes+r.dirtyBytes, 1))}
	need.Due = r.dirtyBytes > 0 && need.DirtyRatio >= cfg.MinCleanableDirtyRatio
	if !need.Due && cfg.MaxCompactionLagMs > 0 {
		first, err := l.firstTimestamp(r.segs[r.dirty])
		if err != nil {
			return CleanNeed{}, err
		}
		need.Due = first >= 0 && now.UnixMilli()-first > cfg.MaxCompactionLagMs.Milliseconds()
	}
	return need, nil
}

// cleanableRange finds the clean and dirty parts of the current segments.
func (l *Log) cleanableRange(now time.Time, upTo int64) (cleanRange, error) {
	cfg := l.config()
	segs := l.segs()
	r := cleanRange{segs: segs}
	r.firstDirty = max(l.cleanerCheckpoint.Load(), l.logStartOffset.Load())
	r.dirty = max(sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > r.firstDirty })-1, 0)
	r.end = r.dirty
	for r.end < len(segs)-1 {
		s := segs[r.end]
		if segs[r.end+1].baseOffset > upTo {
			break
		}
		if cfg.MinCompactionLagMs > 0 {
			ts, err := l.segmentTimestamp(s)
			if err != nil {
				return r, err
			}
			if now.UnixMilli()-ts < cfg.MinCompactionLagMs.Milliseconds() {
				break
			}
		}
		r.end++
	}
	for i, s := range segs[:r.end] {
		sz, err := s.sizeOnDisk()
		if err != nil {
			return r, err
		}
		if i < r.dirty {
			r.cleanBytes += sz
		} else {
			r.dirtyBytes += sz
		}
	}
	return r, nil
}

// firstTimestamp is the base timestamp of the segment's first batch (-1
// if it has none).
func (l *Log) firstTimestamp(s *segment) (int64, error) {
	f, err := s.openFile()
	if err != nil {
		return 0, err
	}
	size := s.size.Load()
	if size <= 0 {
		return -1, nil
	}
	c := newCursor(f, size)
	defer c.release()
	h, err := c.header(0)
	if err != nil {
		return 0, err
	}
	return h.BaseTimestamp, nil
}

// Clean runs one cleaning pass if the log has a dirty part (whether it is
// due is the caller's choice, see CleaningNeed). It never touches the
// active segment and holds writeMu only to swap cleaned segments in.
func (l *Log) Clean(ctx context.Context, now time.Time, opts CleanOptions) (CleanStats, error) {
	return l.clean(ctx, now, opts, nil)
}

// cleanerHook stops a pass at a named step, as a crash there would (the
// crash tests). step returns nil to go on.
type cleanerHook interface {
	step(name string) error
}

func (l *Log) clean(ctx context.Context, now time.Time, opts CleanOptions, hook cleanerHook) (CleanStats, error) {
	var st CleanStats
	if l.closed.Load() {
		return st, ErrClosed
	}
	r, err := l.cleanableRange(now, opts.UpTo)
	if err != nil || r.end <= r.dirty {
		return st, err
	}
	p := newCleanPass(l, now, opts, hook)
	st.FirstDirtyOffset = r.firstDirty
	// 1. The key map over the dirty segments.
	end := r.dirty
	for end < r.end {
		if err := p.mapSegment(ctx, r.segs[end]); err != nil {
			return st, err
		}
		end++
		if len(p.keys) >= p.maxKeys {
			break
		}
	}
	endOffset := r.segs[end].baseOffset
	// Producers' last batches over the clean part too (headers only).
	for _, s := range r.segs[:r.dirty] {
		if err := p.mapProducers(s); err != nil {
			return st, err
		}
	}
	// 2 and 3. Rewrite and swap, group by group.
	for i := 0; i < end; {
		j := l.groupEnd(r.segs, i, end)
		if err := p.cleanGroup(ctx, r.segs[i:j], r.segs[j], r.firstDirty, &st); err != nil {
			return st, err
		}
		i = j
	}
	if err := l.setCleanerCheckpoint(endOffset, false); err != nil {
		return st, err
	}
	st.EndOffset = endOffset
	return st, nil
}

// groupEnd returns j such that segs[i:j] (j <= end, j > i) is the next
// group to rewrite as one segment: at most segment.bytes in all, with
// every offset within the uint32 range of its index.
func (l *Log) groupEnd(segs []*segment, i, end int) int {
	cfg := l.config()
	base := segs[i].baseOffset
	size, _ := segs[i].sizeOnDisk()
	j := i + 1
	for j < end {
		sz, _ := segs[j].sizeOnDisk()
		if size+sz > cfg.SegmentBytes || segs[j+1].baseOffset-1-base > math.MaxUint32 {
			break
		}
		size += sz
		j++
	}
	return j
}

// setCleanerCheckpoint persists and publishes the cleaner checkpoint;
// lower moves it down only (truncation).
func (l *Log) setCleanerCheckpoint(offset int64, lower bool) error {
	cur := l.cleanerCheckpoint.Load()
	if offset == cur || (lower && offset > cur) {
		return nil
	}
	path := filepath.Join(l.dir, cleanerCheckpointName)
	if err := fsutil.WriteFileAtomic(path, formatCheckpoint([][]int64{{offset}})); err != nil {
		return err
	}
	l.cleanerCheckpoint.Store(offset)
	return nil
}

// loadCleanerCheckpoint reads the checkpoint (0 when missing or bad: a
// bad one only costs a full pass).
func (l *Log) loadCleanerCheckpoint() {
	lines, err := readCheckpoint(filepath.Join(l.dir, cleanerCheckpointName), 1)
	if err == nil && len(lines) == 1 && lines[0][0] >= 0 {
		l.cleanerCheckpoint.Store(lines[0][0])
	}
}

// cleanPass is the state of one pass.
type cleanPass struct {
	l       *Log
	now     time.Time
	opts    CleanOptions
	hook    cleanerHook
	maxKeys int
	seeds   [2]maphash.Seed
	// keys maps a key's hash to the offset of its last record in the
	// dirty part. Bounded by maxKeys plus one segment's records.
	keys map[[2]uint64]int64
	// lastBatch maps an idempotent producer to the base offset of its
	// last batch; producersOverflow: too many to track.
	lastBatch         map[int64]int64
	producersOverflow bool

	it      record.RecordIter
	builder record.Builder
	kept    []record.Record
	in      chunkReader
	out     []byte
}

func newCleanPass(l *Log, now time.Time, opts CleanOptions, hook cleanerHook) *cleanPass {
	p := &cleanPass{l: l, now: now, opts: opts, hook: hook, maxKeys: opts.MaxKeys,
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		keys:  map[[2]uint64]int64{}, lastBatch: map[int64]int64{}}
	if p.maxKeys <= 0 {
		p.maxKeys = DefaultCleanerMaxKeys
	}
	return p
}

func (p *cleanPass) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(p.seeds[0], key), maphash.Bytes(p.seeds[1], key)}
}

func (p *cleanPass) step(name string) error {
	if p.hook == nil {
		return nil
	}
	return p.hook.step(name)
}

// noteProducer remembers h as its producer's latest batch so far.
func (p *cleanPass) noteProducer(h *record.Header) {
	if h.ProducerID < 0 || p.producersOverflow {
		return
	}
	last, ok := p.lastBatch[h.ProducerID]
	if !ok && len(p.lastBatch) >= maxTrackedProducers {
		p.producersOverflow = true
		return
	}
	if !ok || h.BaseOffset > last { // segments are not visited in order
		p.lastBatch[h.ProducerID] = h.BaseOffset
	}
}

// mapSegment adds the keys of a dirty segment to the key map.
func (p *cleanPass) mapSegment(ctx context.Context, s *segment) error {
	return p.eachBatch(ctx, s, func(h record.Header, batch []byte) error {
		p.noteProducer(&h)
		if h.Control() {
			return nil
		}
		if err := p.it.Reset(batch, cleanerMaxDecompressedBytes); err != nil {
			if errors.Is(err, record.ErrTooLarge) {
				return nil // kept as is by retain
			}
			return p.corrupt(s, h, err)
		}
		for r, ok := p.it.Next(); ok; r, ok = p.it.Next() {
			if r.Key != nil {
				p.keys[p.hash(r.Key)] = r.Offset
			}
		}
		if err := p.it.Err(); err != nil {
			return p.corrupt(s, h, err)
		}
		return nil
	})
}

// mapProducers notes the producers of a clean segment (headers only).
func (p *cleanPass) mapProducers(s *segment) error {
	f, err := s.openFile()
	if err != nil {
		return err
	}
	size := s.size.Load()
	c := newCursor(f, size)
	defer c.release()
	for pos := int64(0); pos < size; {
		h, err := c.header(pos)
		if err != nil {
			return err
		}
		p.noteProducer(&h)
		pos += int64(h.Size())
	}
	return nil
}

func (p *cleanPass) corrupt(s *segment, h record.Header, err error) error {
	return fmt.Errorf("%w: segment %d, batch at offset %d: %v", ErrCorruptSegment, s.baseOffset, h.BaseOffset, err)
}

// eachBatch calls fn with every batch of s, CRC-checked, in order. The
// batch bytes are valid until fn returns.
func (p *cleanPass) eachBatch(ctx context.Context, s *segment, fn func(h record.Header, batch []byte) error) error {
	f, err := s.openFile()
	if err != nil {
		return err
	}
	if err := s.loadIndexes(int64(p.l.config().IndexIntervalBytes)); err != nil {
		return err
	}
	size := s.size.Load()
	p.in.reset(f, size)
	for pos := int64(0); pos < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		head, err := p.in.read(pos, record.HeaderSize)
		if err != nil {
			return p.ioOrCorrupt(s, pos, err)
		}
		h, err := record.ReadHeader(head)
		if err != nil {
			return fmt.Errorf("%w: segment %d at position %d: %v", ErrCorruptSegment, s.baseOffset, pos, err)
		}
		batch, err := p.in.read(pos, h.Size())
		if err != nil {
			return p.ioOrCorrupt(s, pos, err)
		}
		if _, err := record.Validate(batch); err != nil {
			return p.corrupt(s, h, err)
		}
		if err := p.opts.Throttle.Wait(ctx, len(batch)); err != nil {
			return err
		}
		if err := fn(h, batch); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	return nil
}

func (p *cleanPass) ioOrCorrupt(s *segment, pos int64, err error) error {
	if errors.Is(err, errPastEnd) {
		return fmt.Errorf("%w: segment %d: batch at position %d runs past the end", ErrCorruptSegment, s.baseOffset, pos)
	}
	return err
}

// retain decides what of one batch survives cleaning and appends that to
// p.out: the batch unchanged, a rewrite of it, or nothing. It returns the
// records kept. tombstonesExpired says whether the batch's segment passed
// its delete horizon.
//
// This is the seam for transactions. TODO(transactions): control batches
// (commit and abort markers) are kept unchanged for now. With
// transactions, the records of aborted transactions must be dropped here
// (Kafka tracks them with the aborted-transaction index), and a marker
// may go once no data of its transaction is left and delete.retention.ms
// has passed since (Kafka's two-phase marker removal).
func (p *cleanPass) retain(s *segment, h record.Header, batch []byte, tombstonesExpired bool) (int, error) {
	if h.Control() {
		p.out = append(p.out, batch...)
		return int(h.RecordCount), nil
	}
	if err := p.it.Reset(batch, cleanerMaxDecompressedBytes); err != nil {
		if errors.Is(err, record.ErrTooLarge) {
			p.out = append(p.out, batch...)
			return int(h.RecordCount), nil
		}
		return 0, p.corrupt(s, h, err)
	}
	p.kept = p.kept[:0]
	for r, ok := p.it.Next(); ok; r, ok = p.it.Next() {
		if p.keepRecord(&r, tombstonesExpired) {
			p.kept = append(p.kept, r)
		}
	}
	if err := p.it.Err(); err != nil {
		return 0, p.corrupt(s, h, err)
	}
	switch {
	case len(p.kept) == 0 && !p.keepEmpty(&h):
		// Also an empty batch kept by an earlier pass whose producer
		// has written since.
		return 0, nil
	case len(p.kept) == int(h.RecordCount):
		p.out = append(p.out, batch...)
		return len(p.kept), nil
	}
	b := &p.builder
	b.BaseOffset = h.BaseOffset
	b.Codec = h.Codec()
	if len(p.kept) == 0 {
		// Nothing to compress: some clients cannot decode a compressed
		// empty records block (a lone xerial header, for one).
		b.Codec = record.CodecNone
	}
	b.Reset()
	b.PartitionLeaderEpoch = h.PartitionLeaderEpoch
	b.ProducerID, b.ProducerEpoch, b.BaseSequence = h.ProducerID, h.ProducerEpoch, h.BaseSequence
	b.Transactional = h.Transactional()
	b.LastOffsetDelta = h.LastOffsetDelta
	if h.LogAppendTime() {
		b.LogAppendTime = h.MaxTimestamp
	}
	for _, r := range p.kept {
		b.AddRecord(r)
	}
	out, err := b.AppendTo(p.out)
	if err != nil {
		return 0, err
	}
	p.out = out
	return len(p.kept), nil
}

// keepRecord is the per-record rule of compaction.
func (p *cleanPass) keepRecord(r *record.Record, tombstonesExpired bool) bool {
	if r.Key == nil {
		return false // a compacted log has no use for it (Kafka drops it too)
	}
	if last, ok := p.keys[p.hash(r.Key)]; ok && r.Offset < last {
		return false // a later record of the key exists
	}
	return r.Value != nil || !tombstonesExpired
}

// keepEmpty: an emptied batch stays (with no records) when it is the last
// batch of an idempotent producer.
func (p *cleanPass) keepEmpty(h *record.Header) bool {
	if h.ProducerID < 0 {
		return false
	}
	return p.producersOverflow || p.lastBatch[h.ProducerID] == h.BaseOffset
}

// Throttle is a byte-rate budget shared by cleaner threads
// (log.cleaner.io.max.bytes.per.second): each Wait reserves its bytes on
// a shared virtual clock and sleeps until the clock allows them.
type Throttle struct {
	bytesPerSecond float64
	mu             sync.Mutex
	next           time.Time // when the budget is next free; guarded by mu
}

// NewThrottle returns a budget of bytesPerSecond (nil, no limit, if <= 0).
func NewThrottle(bytesPerSecond int64) *Throttle {
	if bytesPerSecond <= 0 || bytesPerSecond == math.MaxInt64 {
		return nil
	}
	return &Throttle{bytesPerSecond: float64(bytesPerSecond)}
}

// Wait takes n bytes from the budget, sleeping as needed. A nil Throttle
// never waits.
func (t *Throttle) Wait(ctx context.Context, n int) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	now := time.Now()
	if t.next.Before(now) {
		t.next = now
	}
	t.next = t.next.Add(time.Duration(float64(n) / t.bytesPerSecond * float64(time.Second)))
	wait := t.next.Sub(now)
	t.mu.Unlock()
	if wait < time.Millisecond {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// errPastEnd: a read beyond the segment's size.
var errPastEnd = errors.New("storage: read past the end of the segment")

// chunkReader reads a segment sequentially in large chunks, handing out
// byte ranges that stay valid until the next read.
type chunkReader struct {
	f     *os.File
	size  int64
	buf   []byte
	start int64 // file position of buf[0]
}

func (c *chunkReader) reset(f *os.File, size int64) {
	c.f, c.size, c.start = f, size, 0
	c.buf = c.buf[:0]
}

// read returns the n bytes at pos.
func (c *chunkReader) read(pos int64, n int) ([]byte, error) {
	if pos+int64(n) > c.size {
		return nil, errPastEnd
	}
	if pos >= c.start && pos+int64(n) <= c.start+int64(len(c.buf)) {
		return c.buf[pos-c.start : pos-c.start+int64(n)], nil
	}
	want := int(min(max(int64(n), cleanerIOChunk), c.size-pos))
	if cap(c.buf) < want {
		c.buf = make([]byte, want)
	}
	c.buf = c.buf[:want]
	if err := readFullAt(c.f, c.buf, pos); err != nil {
		c.buf = c.buf[:0]
		return nil, err
	}
	c.start = pos
	return c.buf[:n], nil
}
