package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"

	"github.com/gregor-log/gregor/internal/record"
)

// Buffer sizes of the header cursor. Header scans read scanChunkBytes at a
// time (an index interval's worth of small batches in one pread); CRC
// verification streams through the whole buffer.
const (
	cursorBufferBytes = 64 << 10
	scanChunkBytes    = 4 << 10
)

var cursorBuffers = sync.Pool{New: func() any { b := make([]byte, cursorBufferBytes); return &b }}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cursor reads the batch headers of one segment file with positioned reads
// (never the shared file offset), caching one chunk. It never reads at or
// beyond limit, the size the caller may trust.
type cursor struct {
	f     *os.File
	limit int64
	bufp  *[]byte
	start int64 // file position of (*bufp)[0]
	n     int   // valid bytes at (*bufp)[0:]
}

func newCursor(f *os.File, limit int64) *cursor {
	return &cursor{f: f, limit: limit, bufp: cursorBuffers.Get().(*[]byte)}
}

func (c *cursor) release() {
	cursorBuffers.Put(c.bufp)
	c.bufp = nil
}

// corrupt builds the error for bytes that do not form a batch.
func (c *cursor) corrupt(pos int64, why any) error {
	return fmt.Errorf("%w: %s at position %d: %v", ErrCorruptSegment, c.f.Name(), pos, why)
}

// header returns the header of the batch that starts at pos. Bytes that are
// not a sane v2 header, or a batch that runs past limit, are
// ErrCorruptSegment; anything else is an I/O error.
func (c *cursor) header(pos int64) (record.Header, error) {
	if pos < 0 || pos+record.HeaderSize > c.limit {
		return record.Header{}, c.corrupt(pos, "torn batch header")
	}
	if pos < c.start || pos+record.HeaderSize > c.start+int64(c.n) {
		want := min(int64(scanChunkBytes), c.limit-pos)
		buf := (*c.bufp)[:want]
		c.n = 0
		if err := readFullAt(c.f, buf, pos); err != nil {
			return record.Header{}, err
		}
		c.start, c.n = pos, len(buf)
	}
	b := (*c.bufp)[pos-c.start : c.n]
	h, err := record.ReadHeader(b)
	if err != nil {
		return h, c.corrupt(pos, err)
	}
	if pos+int64(h.Size()) > c.limit {
		return h, c.corrupt(pos, "batch runs past the end of the segment")
	}
	return h, nil
}

// seek walks batches from pos (a batch start) to the first one whose last
// offset is >= target. ok is false when no batch before limit qualifies; the
// returned position is then limit.
func (c *cursor) seek(pos int64, target int64) (int64, record.Header, bool, error) {
	for pos < c.limit {
		h, err := c.header(pos)
		if err != nil {
			return pos, h, false, err
		}
		if h.LastOffset() >= target {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return c.limit, record.Header{}, false, nil
}

// validate checks the whole batch at pos: a sane header and a CRC32C that
// matches, streaming the bytes through the buffer (a corrupt length can
// never make it allocate).
func (c *cursor) validate(pos int64) (record.Header, error) {
	h, err := c.header(pos)
	if err != nil {
		return h, err
	}
	const crcStart = 21 // the CRC covers attributes..end; see record's package doc
	crc := uint32(0)
	end := pos + int64(h.Size())
	buf := *c.bufp
	c.n = 0 // the buffer is reused below
	for off := pos + crcStart; off < end; {
		chunk := buf[:min(int64(len(buf)), end-off)]
		if err := readFullAt(c.f, chunk, off); err != nil {
			return h, err
		}
		crc = crc32.Update(crc, castagnoli, chunk)
		off += int64(len(chunk))
	}
	if crc != h.CRC {
		return h, c.corrupt(pos, fmt.Sprintf("crc %08x, header says %08x", crc, h.CRC))
	}
	return h, nil
}

// isCorrupt tells content errors (truncate or report) from I/O errors.
func isCorrupt(err error) bool { return errors.Is(err, ErrCorruptSegment) }
