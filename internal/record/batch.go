package record

// NextBatch splits the first batch off b, which holds batches back to back
// (a produce request's records field, a range of a segment file). It reads
// the header and checks the batch fits, but not its CRC; see Validate and
// BatchIter. The error is ErrShort if b ends inside the first batch,
// ErrUnsupportedMagic, or a wrapped ErrCorrupt. It does not allocate.
func NextBatch(b []byte) (h Header, batch, rest []byte, err error) {
	h, err = ReadHeader(b)
	if err != nil {
		return h, nil, b, err
	}
	if len(b) < h.Size() {
		return h, nil, b, ErrShort
	}
	return h, b[:h.Size():h.Size()], b[h.Size():], nil
}

// BatchIter walks the batches of a buffer holding batches back to back and
// validates each one (header and CRC) before handing it out:
//
//	it := record.Batches(buf)
//	for it.Next() {
//		h, batch := it.Header(), it.Batch()
//		…
//	}
//	if err := it.Err(); err != nil { … it.Pos() is where the bad batch starts }
//
// Iteration stops at the first batch that does not validate. A buffer that
// ends inside a batch stops with ErrShort: a fetch response may end so, and
// on disk it is a torn write. It does not allocate on the success path.
type BatchIter struct {
	buf   []byte
	pos   int // start of the current batch
	next  int // start of the next batch
	h     Header
	batch []byte
	err   error
}

// Batches returns an iterator over the batches in buf.
func Batches(buf []byte) BatchIter { return BatchIter{buf: buf} }

// Next advances to the next batch and reports whether there is one.
func (it *BatchIter) Next() bool {
	if it.err != nil || it.next >= len(it.buf) {
		it.batch = nil
		return false
	}
	it.pos = it.next
	h, batch, _, err := NextBatch(it.buf[it.pos:])
	if err == nil {
		h, err = Validate(batch)
	}
	if err != nil {
		it.err = err
		it.batch = nil
		return false
	}
	it.h, it.batch = h, batch
	it.next = it.pos + len(batch)
	return true
}

// Header is the current batch's header.
func (it *BatchIter) Header() Header { return it.h }

// Batch is the current batch's bytes, aliasing the buffer.
func (it *BatchIter) Batch() []byte { return it.batch }

// Pos is the byte position in the buffer of the current batch or, after a
// failure, of the batch that failed: everything before it is valid.
func (it *BatchIter) Pos() int { return it.pos }

// Err is the error that stopped iteration, nil at a clean end of buffer.
func (it *BatchIter) Err() error { return it.err }
