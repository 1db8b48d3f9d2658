package record

import (
	"fmt"
)

// Record is one record of a batch, with its offset and timestamp resolved
// against the batch header. Key, Value and the headers alias the batch (for an
// uncompressed batch) or the iterator's decompression buffer; copy them to
// keep them past the iterator's next Reset.
type Record struct {
	Offset         int64 // BaseOffset + OffsetDelta
	Timestamp      int64 // BaseTimestamp + TimestampDelta, or MaxTimestamp under LogAppendTime
	TimestampDelta int64
	OffsetDelta    int32
	Attributes     int8   // unused by Kafka so far; kept as read
	Key            []byte // nil for a null key
	Value          []byte // nil for a null value (a tombstone)

	headerCount int
	headers     []byte // the encoded headers, already checked by the iterator
}

// RecordHeader is one header of a record. Kafka's header keys are strings
// and never null; the value may be null (nil).
type RecordHeader struct {
	Key   []byte
	Value []byte
}

// HeaderCount is the number of headers the record carries.
func (r *Record) HeaderCount() int { return r.headerCount }

// Headers returns an iterator over the record's headers. It does not allocate.
func (r *Record) Headers() HeaderIter {
	return HeaderIter{rest: r.headers, left: r.headerCount}
}

// AppendHeaders appends the record's headers to dst.
func (r *Record) AppendHeaders(dst []RecordHeader) []RecordHeader {
	it := r.Headers()
	for h, ok := it.Next(); ok; h, ok = it.Next() {
		dst = append(dst, h)
	}
	return dst
}

// HeaderIter walks the headers of one record.
type HeaderIter struct {
	rest []byte
	left int
}

// Next returns the next header, or false after the last one.
func (it *HeaderIter) Next() (RecordHeader, bool) {
	if it.left <= 0 {
		return RecordHeader{}, false
	}
	it.left--
	var h RecordHeader
	var ok bool
	h, it.rest, ok = readHeader(it.rest)
	if !ok {
		// The iterator checked every header before handing out the
		// record, so this is a bug, not bad input.
		panic("record: header iterator over unchecked bytes")
	}
	return h, true
}

// readHeader decodes one record header from the front of b.
func readHeader(b []byte) (h RecordHeader, rest []byte, ok bool) {
	klen, n := readVarint(b)
	if n <= 0 || klen < 0 || int(klen) > len(b)-n {
		return h, nil, false
	}
	b = b[n:]
	h.Key, b = b[:klen:klen], b[klen:]
	h.Value, b, ok = readBytes(b)
	return h, b, ok
}

// readBytes decodes a varint-length-prefixed byte string, -1 meaning null.
func readBytes(b []byte) (s, rest []byte, ok bool) {
	l, n := readVarint(b)
	if n <= 0 || l < -1 || int(l) > len(b)-n {
		return nil, nil, false
	}
	b = b[n:]
	if l == -1 {
		return nil, b, true
	}
	return b[:l:l], b[l:], true
}

// RecordIter walks the records of one batch, checking as it goes that they
// parse, that each lies within its stated length, that offset deltas rise
// and stay within lastOffsetDelta, and, at the end, that the batch holds
// exactly recordCount records and nothing after them. Any failure is a
// wrapped ErrCorrupt from Err, never a panic.
//
// The zero value is ready for Reset. For an uncompressed batch, iteration
// does not allocate. For a compressed one, Reset decompresses the records
// block into a buffer the iterator keeps and reuses on the next Reset.
//
// RecordIter does not check the batch CRC; call Validate first for bytes
// that have not been validated.
type RecordIter struct {
	h         Header
	rest      []byte // records not yet read
	buf       []byte // decompression buffer, reused across Resets
	read      int32  // records read so far
	lastDelta int32  // offsetDelta of the previous record, -1 before the first
	err       error
}

// Reset points the iterator at batch, which must be exactly one whole batch,
// decompressing its records block if needed with at most maxDecompressed
// bytes of output (<= 0 means MaxBatchSize). The error, also kept for Err,
// is ErrShort, ErrUnsupportedMagic, or a wrapped ErrCorrupt or ErrTooLarge.
func (it *RecordIter) Reset(batch []byte, maxDecompressed int) error {
	*it = RecordIter{buf: it.buf, lastDelta: -1}
	h, err := ReadHeader(batch)
	if err == nil && len(batch) != h.Size() {
		if len(batch) < h.Size() {
			err = ErrShort
		} else {
			err = fmt.Errorf("%w: %d bytes after the batch", ErrCorrupt, len(batch)-h.Size())
		}
	}
	if err != nil {
		it.err = err
		return err
	}
	it.h = h
	raw := batch[HeaderSize:]
	if h.Codec() == CodecNone {
		it.rest = raw
		return nil
	}
	out, err := decompressAppend(h.Codec(), it.buf, raw, maxDecompressed)
	if err != nil {
		it.err = err
		return err
	}
	if cap(out) > cap(it.buf) {
		it.buf = out[:0]
	}
	it.rest = out
	return nil
}

// Header is the header of the batch being iterated.
func (it *RecordIter) Header() Header { return it.h }

// Err is the first error met, or nil if iteration ended cleanly.
func (it *RecordIter) Err() error { return it.err }

// Next returns the next record, or false at the end of the batch or on
// error (see Err).
func (it *RecordIter) Next() (Record, bool) {
	if it.err != nil {
		return Record{}, false
	}
	if it.read == it.h.RecordCount {
		if len(it.rest) != 0 {
			it.fail("%d bytes after the last of %d records", len(it.rest), it.read)
		}
		return Record{}, false
	}
	if len(it.rest) == 0 {
		it.fail("recordCount is %d, found %d records", it.h.RecordCount, it.read)
		return Record{}, false
	}
	var r Record
	if err := it.parse(&r); err != "" {
		it.fail("record %d: %s", it.read, err)
		return Record{}, false
	}
	it.read++
	return r, true
}

func (it *RecordIter) fail(format string, args ...any) {
	it.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// parse reads one record from it.rest. It reports failure with a constant
// string so that the success path builds no error values.
func (it *RecordIter) parse(r *Record) string {
	length, n := readVarint(it.rest)
	if n <= 0 || length < 0 || int(length) > len(it.rest)-n {
		return "bad record length"
	}
	b := it.rest[n : n+int(length)]
	it.rest = it.rest[n+int(length):]

	if len(b) < 1 {
		return "empty record"
	}
	r.Attributes = int8(b[0])
	b = b[1:]
	if r.TimestampDelta, n = readVarlong(b); n <= 0 {
		return "bad timestampDelta"
	}
	b = b[n:]
	if r.OffsetDelta, n = readVarint(b); n <= 0 {
		return "bad offsetDelta"
	}
	b = b[n:]
	if r.OffsetDelta <= it.lastDelta || r.OffsetDelta > it.h.LastOffsetDelta {
		return "offsetDelta out of order or past lastOffsetDelta"
	}
	it.lastDelta = r.OffsetDelta
	var ok bool
	if r.Key, b, ok = readBytes(b); !ok {
		return "bad key"
	}
	if r.Value, b, ok = readBytes(b); !ok {
		return "bad value"
	}
	count, n := readVarint(b)
	// Each header takes at least two bytes, which bounds count by the
	// bytes left before any loop runs.
	if n <= 0 || count < 0 || int(count) > (len(b)-n)/2 {
		return "bad header count"
	}
	b = b[n:]
	r.headers = b
	for range count {
		if _, b, ok = readHeader(b); !ok {
			return "bad header"
		}
	}
	if len(b) != 0 {
		return "bytes left inside the record"
	}
	r.headerCount = int(count)

	r.Offset = it.h.BaseOffset + int64(r.OffsetDelta)
	if it.h.LogAppendTime() {
		r.Timestamp = it.h.MaxTimestamp
	} else {
		r.Timestamp = it.h.BaseTimestamp + r.TimestampDelta
	}
	return ""
}

// Records parses every record of batch (one whole batch) into a slice; see
// RecordIter for the checks and for what the slices alias. maxDecompressed
// bounds the decompressed size of a compressed batch (<= 0: MaxBatchSize).
func Records(batch []byte, maxDecompressed int) ([]Record, error) {
	var it RecordIter
	if err := it.Reset(batch, maxDecompressed); err != nil {
		return nil, err
	}
	// recordCount is untrusted: never reserve more than the bytes could
	// hold. The smallest record takes 7 bytes.
	recs := make([]Record, 0, min(int(it.h.RecordCount), len(it.rest)/7+1))
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		recs = append(recs, r)
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}
