package binread

import "encoding/binary"

// Reader reads fields from a byte slice, front to back.
type Reader struct {
	b   []byte
	bad bool
}

// New returns a Reader over b.
func New(b []byte) Reader { return Reader{b: b} }

// Fail marks the input corrupt: Bad reports true from now on and every
// later read returns a zero value. Callers use it for values that decode
// but are not allowed (an unknown enum, a negative length).
func (d *Reader) Fail() { d.bad, d.b = true, nil }

// Bad reports whether any read so far failed.
func (d *Reader) Bad() bool { return d.bad }

// Len is how many bytes are left.
func (d *Reader) Len() int { return len(d.b) }

// Byte reads one byte.
func (d *Reader) Byte() byte {
	if len(d.b) < 1 {
		d.Fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Bool reads a byte that must be 0 or 1.
func (d *Reader) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail()
	return false
}

// Uvarint reads an unsigned varint.
func (d *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a zig-zag varint.
func (d *Reader) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint32 reads a zig-zag varint that must fit an int32.
func (d *Reader) Varint32() int32 {
	v := d.Varint()
	if v != int64(int32(v)) {
		d.Fail()
		return 0
	}
	return int32(v)
}

// Count reads a list length whose elements take at least minSize bytes
// each (minSize >= 1): a length the remaining bytes cannot hold is corrupt,
// so a caller may allocate for the count it gets.
func (d *Reader) Count(minSize int) int {
	n := d.Uvarint()
	if n > uint64(len(d.b)/max(minSize, 1)) {
		d.Fail()
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed byte slice. It aliases the input (capacity
// capped, so an append cannot overwrite what follows).
func (d *Reader) Bytes() []byte {
	n := d.Uvarint()
	if n > uint64(len(d.b)) {
		d.Fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// Text reads a length-prefixed string.
func (d *Reader) Text() string { return string(d.Bytes()) }

// Fixed reads exactly n bytes, aliasing the input.
func (d *Reader) Fixed(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.Fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// Rest returns every byte left.
func (d *Reader) Rest() []byte {
	v := d.b
	d.b = d.b[len(d.b):]
	return v
}
