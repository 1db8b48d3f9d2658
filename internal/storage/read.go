package storage

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// Read returns whole batches starting at the batch that holds offset (or,
// in a compacted log where offset fell in a gap, the next batch), at
// most maxBytes of them (but at least one whole batch if the first is larger,
// as Kafka does), none at or beyond maxOffset (the high watermark). An empty
// Slice means there is nothing yet. A Slice never spans two segments.
//
// Read copies no record bytes: it reads a few batch headers (to find batch
// boundaries, at most about an index interval's worth at each end) and
// returns a file range. Bytes that came from disk rather than from this
// process's appends are CRC-checked once, the first time they are served
// (see verifyRange): a corrupt batch is reported as ErrCorruptSegment and
// never served; the batches before it in the range are.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64) (Slice, error) {
	if l.closed.Load() {
		return Slice{}, ErrClosed
	}
	start, end := l.logStartOffset.Load(), l.logEndOffset.Load()
	if offset < start || offset > end {
		return Slice{}, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, start, end)
	}
	if offset == end || offset >= maxOffset {
		return Slice{}, nil
	}
	// A segment can be deleted between loading the list and reading it.
	// Retention or truncation: the offset is gone. A cleaner swap: the
	// offset lives on in the cleaned segment, so look again (a swap is
	// rare, so a couple of attempts always suffice).
	for attempt := 0; ; attempt++ {
		sl, deleted, err := l.readSegments(offset, maxBytes, maxOffset)
		if err == nil {
			return sl, nil
		}
		if l.closed.Load() {
			return Slice{}, ErrClosed
		}
		if deleted == nil {
			return Slice{}, err
		}
		if offset < l.logStartOffset.Load() || attempt == 2 {
			return Slice{}, fmt.Errorf("%w: segment %d deleted while reading: %v", ErrOffsetOutOfRange, deleted.baseOffset, err)
		}
	}
}

// readSegments reads from the current segment list. On error, deleted is
// the segment that failed if it was deleted meanwhile.
func (l *Log) readSegments(offset int64, maxBytes int32, maxOffset int64) (Slice, *segment, error) {
	segs := l.segs()
	// The batch holding offset, or after a gap left by compaction the one
	// after it, is in the last segment starting at or before offset or
	// in a later one.
	i := sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > offset }) - 1
	for i = max(i, 0); i < len(segs); i++ {
		sl, found, err := l.readSegment(segs[i], offset, int64(maxBytes), maxOffset)
		if err != nil {
			if segs[i].deleted.Load() {
				return Slice{}, segs[i], err
			}
			return Slice{}, nil, err
		}
		if found {
			return sl, nil, nil
		}
	}
	return Slice{}, nil, nil
}

// readSegment reads from one segment; found is false when no batch in it
// reaches offset (the caller tries the next segment).
func (l *Log) readSegment(s *segment, offset, maxBytes, maxOffset int64) (Slice, bool, error) {
	f, err := s.openFile()
	if err != nil {
		return Slice{}, false, err
	}
	if err := s.loadIndexes(int64(l.config().IndexIntervalBytes)); err != nil {
		return Slice{}, false, err
	}
	// Order matters: size, then logEndOffset (see Log).
	size := s.size.Load()
	leo := l.logEndOffset.Load()
	entries := s.index.view()
	c := newCursor(f, size)
	defer c.release()

	start, h, ok, err := c.seek(lookupOffset(entries, offset-s.baseOffset, size), offset)
	if err != nil || !ok {
		return Slice{}, false, err
	}
	if h.LastOffset() >= maxOffset {
		// The high watermark is inside this batch: nothing to serve yet.
		return Slice{}, true, nil
	}
	end := size
	if maxOffset < leo {
		p := max(lookupOffset(entries, maxOffset-s.baseOffset, size), start)
		cut, _, ok, err := c.seek(p, maxOffset)
		if err != nil {
			return Slice{}, false, err
		}
		if ok {
			end = cut
		}
	}
	if first := start + int64(h.Size()); end-start > maxBytes {
		if first >= start+maxBytes {
			end = first // at least one whole batch
		} else {
			// The last batch boundary within maxBytes: from the last
			// index entry before it, walk headers forward.
			limit := start + maxBytes
			p := max(lookupPosition(entries, limit), start)
			for p < end {
				h, err := c.header(p)
				if err != nil {
					return Slice{}, false, err
				}
				if p+int64(h.Size()) > limit {
					break
				}
				p += int64(h.Size())
			}
			end = p
		}
	}
	end, err = s.verifyRange(c, start, end)
	if err != nil {
		return Slice{}, false, err
	}
	return Slice{File: f, Pos: start, Size: end - start}, true, nil
}

// verifyState remembers which bytes of a segment are known good: every
// byte at or after trustedFrom (written by this process, which checked the
// batches before writing them) and the spans already CRC-checked. Spans
// are whole batches, sorted and disjoint; there are at most maxVerifiedSpans
// of them (forgetting one only costs a second check).
type verifyState struct {
	sync.Mutex
	trustedFrom atomic.Int64 // stored under the mutex, loaded without it
	spans       []span
}

type span struct{ from, to int64 }

const maxVerifiedSpans = 16

// verifyRange makes sure the batches in [start, end) (batch boundaries)
// check out, CRC-checking the parts not known good. It returns the end of
// the good prefix: end itself, or the start of the first corrupt batch. A
// corrupt first batch is ErrCorruptSegment.
func (s *segment) verifyRange(c *cursor, start, end int64) (int64, error) {
	if start >= s.verify.trustedFrom.Load() {
		return end, nil // the common case: bytes this process appended
	}
	s.verify.Lock()
	defer s.verify.Unlock()
	pos := start
	for pos < end && pos < s.verify.trustedFrom.Load() {
		if sp, ok := s.verify.covering(pos); ok {
			pos = sp.to
			continue
		}
		h, err := c.validate(pos)
		if err != nil {
			if isCorrupt(err) && pos > start {
				return pos, nil // serve the good batches before it
			}
			return 0, err
		}
		s.verify.add(span{pos, pos + int64(h.Size())})
		pos += int64(h.Size())
	}
	return end, nil
}

func (v *verifyState) covering(pos int64) (span, bool) {
	i := sort.Search(len(v.spans), func(i int) bool { return v.spans[i].to > pos })
	if i < len(v.spans) && v.spans[i].from <= pos {
		return v.spans[i], true
	}
	return span{}, false
}

// add inserts sp, merging it with the spans it touches.
func (v *verifyState) add(sp span) {
	i := sort.Search(len(v.spans), func(i int) bool { return v.spans[i].to >= sp.from })
	j := i
	for j < len(v.spans) && v.spans[j].from <= sp.to {
		sp.from, sp.to = min(sp.from, v.spans[j].from), max(sp.to, v.spans[j].to)
		j++
	}
	v.spans = append(v.spans[:i], append([]span{sp}, v.spans[j:]...)...)
	if len(v.spans) > maxVerifiedSpans {
		v.spans = v.spans[1:]
	}
}

// cut forgets everything at or after pos (truncation): bytes written there
// later come from this process.
func (v *verifyState) cut(pos int64) {
	v.Lock()
	defer v.Unlock()
	v.trustedFrom.Store(min(v.trustedFrom.Load(), pos))
	kept := v.spans[:0]
	for _, sp := range v.spans {
		if sp.from < pos {
			sp.to = min(sp.to, pos)
			kept = append(kept, sp)
		}
	}
	v.spans = kept
}

// WriteTo copies the slice's bytes to w with positioned reads of File
// (the shared file offset is never used). It implements io.WriterTo; a
// connection that wants sendfile should use the positioned form of the
// system call with File's descriptor, Pos and Size.
func (sl Slice) WriteTo(w io.Writer) (int64, error) {
	if sl.Size == 0 {
		return 0, nil
	}
	if sl.File == nil {
		return 0, errors.New("storage: empty slice with a size")
	}
	buf := cursorBuffers.Get().(*[]byte)
	defer cursorBuffers.Put(buf)
	var n int64
	for n < sl.Size {
		chunk := (*buf)[:min(int64(len(*buf)), sl.Size-n)]
		if err := readFullAt(sl.File, chunk, sl.Pos+n); err != nil {
			return n, err
		}
		m, err := w.Write(chunk)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
