package binread

import (
	"encoding/binary"
	"testing"
)

func TestReader(t *testing.T) {
	var b []byte
	b = append(b, 7, 1)
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -5)
	b = binary.AppendVarint(b, 1<<40)
	b = binary.AppendUvarint(b, 2)
	b = append(b, "hi"...)
	b = append(b, 0xAA, 0xBB)
	b = binary.AppendUvarint(b, 1)
	b = append(b, 9)
	d := New(b)
	if d.Byte() != 7 || !d.Bool() || d.Uvarint() != 300 || d.Varint32() != -5 || d.Varint() != 1<<40 ||
		d.Text() != "hi" || string(d.Fixed(2)) != "\xAA\xBB" || d.Count(1) != 1 || string(d.Rest()) != "\x09" || d.Bad() || d.Len() != 0 {
		t.Fatal("round trip failed")
	}
}

func TestReaderFailures(t *testing.T) {
	for name, read := range map[string]func(*Reader){
		"byte":           func(d *Reader) { d.Byte() },
		"bool":           func(d *Reader) { d.Bool() },
		"uvarint":        func(d *Reader) { d.Uvarint() },
		"varint32 range": func(d *Reader) { d.Varint32() },
		"count":          func(d *Reader) { d.Count(4) },
		"bytes":          func(d *Reader) { d.Bytes() },
		"fixed":          func(d *Reader) { d.Fixed(3) },
	} {
		input := []byte{2}
		if name == "varint32 range" {
			input = binary.AppendVarint(nil, 1<<40)
		}
		if name == "bool" {
			input = []byte{2}
		}
		if name == "byte" || name == "uvarint" {
			input = nil
		}
		if name == "bytes" || name == "count" {
			input = []byte{5, 0}
		}
		d := New(input)
		read(&d)
		if !d.Bad() {
			t.Errorf("%s: no failure on %x", name, input)
		}
		if d.Byte() != 0 || d.Len() != 0 {
			t.Errorf("%s: reads go on after a failure", name)
		}
	}
}
