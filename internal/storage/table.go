package storage

import "sync/atomic"

// entryTable is the in-memory copy of one index file: fixed-size entries,
// appended by the log's single writer and read lock-free by any number of
// readers.
//
// Publication rule (why readers need no lock): the writer stores buf before
// n whenever both change, and never rewrites an entry a reader may already
// see. Growth and truncation copy into a fresh buffer instead. A reader
// loads n, then buf, and uses min(n, len(buf)/size) entries; every entry in
// that range was complete before it became visible.
type entryTable struct {
	size int                    // bytes per entry; immutable
	buf  atomic.Pointer[[]byte] // nil until loaded; len(*buf) is a multiple of size
	n    atomic.Int64           // entries in use
}

// view returns the visible entries as one byte slice (read-only).
func (t *entryTable) view() []byte {
	n := t.n.Load()
	p := t.buf.Load()
	if p == nil {
		return nil
	}
	b := *p
	if limit := int(n) * t.size; limit < len(b) {
		b = b[:limit]
	}
	return b
}

// count is the number of visible entries.
func (t *entryTable) count() int { return len(t.view()) / t.size }

// set replaces the content with a copy of entries (whole entries only).
// Writer only, or before the table is shared.
func (t *entryTable) set(entries []byte) {
	n := len(entries) / t.size
	b := make([]byte, n*t.size)
	copy(b, entries)
	t.buf.Store(&b)
	t.n.Store(int64(n))
}

// truncate keeps the first k entries. Writer only.
func (t *entryTable) truncate(k int) {
	if k >= t.count() {
		return
	}
	t.set(t.view()[:k*t.size])
}

// next returns the slot for a new entry; the caller fills it and calls
// commit. Writer only. Growth doubles, so appends cost no allocation once
// the segment's index has reached its working size.
func (t *entryTable) next() []byte {
	n := int(t.n.Load())
	var b []byte
	if p := t.buf.Load(); p != nil {
		b = *p
	}
	if (n+1)*t.size > len(b) {
		c := 2 * len(b)
		if c < 64*t.size {
			c = 64 * t.size
		}
		nb := make([]byte, c)
		copy(nb, b[:n*t.size])
		t.buf.Store(&nb)
		b = nb
	}
	return b[n*t.size : (n+1)*t.size]
}

// commit publishes the entry filled through next.
func (t *entryTable) commit() { t.n.Add(1) }
