package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// testRecord is what a test adds to a Builder and expects back.
type testRecord struct {
	ts      int64
	key     []byte
	value   []byte
	headers []RecordHeader
}

func sampleRecords(n int) []testRecord {
	recs := make([]testRecord, n)
	for i := range recs {
		r := testRecord{ts: 1_700_000_000_000 + int64(i)*7 - int64(i%3)*20}
		switch i % 4 {
		case 0:
			r.key = fmt.Appendf(nil, "key-%d", i)
			r.value = bytes.Repeat([]byte{byte('a' + i%26)}, 10+i%50)
		case 1: // null key, headers, one with a null value
			r.value = fmt.Appendf(nil, "value-%d", i)
			r.headers = []RecordHeader{{Key: []byte("h1"), Value: []byte("v1")}, {Key: []byte("h2")}}
		case 2: // tombstone
			r.key = fmt.Appendf(nil, "key-%d", i)
		case 3: // empty, not null
			r.key, r.value = []byte{}, []byte{}
			r.headers = []RecordHeader{{Key: []byte{}, Value: []byte{}}}
		}
		recs[i] = r
	}
	return recs
}

func buildBatch(t testing.TB, codec Codec, recs []testRecord, setup func(*Builder)) []byte {
	t.Helper()
	b := NewBuilder(100, codec)
	if setup != nil {
		setup(b)
	}
	for _, r := range recs {
		b.Add(r.ts, r.key, r.value, r.headers...)
	}
	batch, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return batch
}

func checkRecords(t testing.TB, h Header, got []Record, want []testRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.Offset != h.BaseOffset+int64(i) || r.OffsetDelta != int32(i) {
			t.Errorf("record %d: offset %d delta %d", i, r.Offset, r.OffsetDelta)
		}
		wantTS := w.ts
		if h.LogAppendTime() {
			wantTS = h.MaxTimestamp
		}
		if r.Timestamp != wantTS {
			t.Errorf("record %d: timestamp %d, want %d", i, r.Timestamp, wantTS)
		}
		if !sameBytes(r.Key, w.key) || !sameBytes(r.Value, w.value) {
			t.Errorf("record %d: key %q value %q, want %q %q", i, r.Key, r.Value, w.key, w.value)
		}
		hs := r.AppendHeaders(nil)
		if len(hs) != len(w.headers) || r.HeaderCount() != len(w.headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(hs), len(w.headers))
		}
		for j := range hs {
			if !bytes.Equal(hs[j].Key, w.headers[j].Key) || !sameBytes(hs[j].Value, w.headers[j].Value) {
				t.Errorf("record %d header %d: %q=%q", i, j, hs[j].Key, hs[j].Value)
			}
		}
	}
}

// sameBytes is bytes.Equal that also tells null from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestBuilderRoundTrip(t *testing.T) {
	for _, codec := range allCodecs {
		for _, n := range []int{1, 2, 37, 3000} {
			t.Run(fmt.Sprintf("%s/%d", codec, n), func(t *testing.T) {
				want := sampleRecords(n)
				batch := buildBatch(t, codec, want, nil)
				h, err := Validate(batch)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if h.Codec() != codec || h.RecordCount != int32(n) || h.LastOffsetDelta != int32(n-1) ||
					h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 || h.BaseOffset != 100 {
					t.Fatalf("header %+v", h)
				}
				if h.BaseTimestamp != want[0].ts {
					t.Errorf("baseTimestamp %d, want %d", h.BaseTimestamp, want[0].ts)
				}
				var maxTS int64
				for _, r := range want {
					maxTS = max(maxTS, r.ts)
				}
				if h.MaxTimestamp != maxTS {
					t.Errorf("maxTimestamp %d, want %d", h.MaxTimestamp, maxTS)
				}
				recs, err := Records(batch, 1<<24)
				if err != nil {
					t.Fatalf("Records: %v", err)
				}
				checkRecords(t, h, recs, want)
				if err := CheckProduce(batch, h, 1<<24); err != nil {
					t.Fatalf("CheckProduce: %v", err)
				}
			})
		}
	}
}

func TestBuilderFlags(t *testing.T) {
	want := sampleRecords(3)
	batch := buildBatch(t, CodecLZ4, want, func(b *Builder) {
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = 42, 3, 1000
		b.Transactional = true
		b.LogAppendTime = 1_800_000_000_000
		b.PartitionLeaderEpoch = 9
	})
	h, err := Validate(batch)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Transactional() || h.Control() || !h.LogAppendTime() || !h.Idempotent() ||
		h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 1000 || h.LastSequence() != 1002 ||
		h.MaxTimestamp != 1_800_000_000_000 || h.PartitionLeaderEpoch != 9 {
		t.Fatalf("header %+v", h)
	}
	recs, err := Records(batch, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, h, recs, want)
}

func TestBuilderControl(t *testing.T) {
	b := NewBuilder(7, CodecNone)
	b.ProducerID, b.ProducerEpoch = 5, 1
	b.AddControl(1234, true, 17)
	batch, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(batch)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Control() || !h.Transactional() || h.RecordCount != 1 {
		t.Fatalf("header %+v", h)
	}
	recs, err := Records(batch, 0)
	if err != nil {
		t.Fatal(err)
	}
	if k := recs[0].Key; !bytes.Equal(k, []byte{0, 0, 0, 1}) {
		t.Errorf("control key %x", k)
	}
	if v := recs[0].Value; !bytes.Equal(v, []byte{0, 0, 0, 0, 0, 17}) {
		t.Errorf("control value %x", v)
	}
	if err := CheckProduce(batch, h, 0); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("CheckProduce of a control batch: %v", err)
	}
}

// TestBuilderRewrite is the compaction rewrite: keep some records of a batch,
// with their offsets, timestamps and headers, and the original offset range.
func TestBuilderRewrite(t *testing.T) {
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			orig := sampleRecords(20)
			src := buildBatch(t, codec, orig, nil)
			recs, err := Records(src, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := NewBuilder(100, codec)
			b.LastOffsetDelta = 19
			var kept []Record
			for i, r := range recs {
				if i%3 == 1 {
					b.AddRecord(r)
					kept = append(kept, r)
				}
			}
			out, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			h, err := Validate(out)
			if err != nil {
				t.Fatal(err)
			}
			if h.LastOffsetDelta != 19 || h.RecordCount != int32(len(kept)) {
				t.Fatalf("header %+v", h)
			}
			got, err := Records(out, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range got {
				k := kept[i]
				if r.Offset != k.Offset || r.Timestamp != k.Timestamp || !sameBytes(r.Key, k.Key) ||
					!sameBytes(r.Value, k.Value) || fmt.Sprint(r.AppendHeaders(nil)) != fmt.Sprint(k.AppendHeaders(nil)) {
					t.Errorf("record %d: %+v, want %+v", i, r, k)
				}
			}
			// Offset gaps are fine on disk but not from a producer.
			if err := CheckProduce(out, h, 0); !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("CheckProduce of a compacted batch: %v", err)
			}
		})
	}
}

func TestBuilderEmpty(t *testing.T) {
	b := NewBuilder(50, CodecZstd)
	b.LastOffsetDelta = 4
	batch, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(batch)
	if err != nil {
		t.Fatal(err)
	}
	if h.RecordCount != 0 || h.LastOffsetDelta != 4 || h.BaseTimestamp != -1 || h.MaxTimestamp != -1 {
		t.Fatalf("header %+v", h)
	}
	recs, err := Records(batch, 0)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Records: %v, %d", err, len(recs))
	}
	if err := CheckProduce(batch, h, 0); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("CheckProduce of an empty batch: %v", err)
	}
}

func TestBuilderAddRecordOutOfOrderPanics(t *testing.T) {
	b := NewBuilder(0, CodecNone)
	b.Add(1, nil, []byte("x"))
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	b.AddRecord(Record{OffsetDelta: 0})
}

func TestBuilderReset(t *testing.T) {
	b := NewBuilder(10, CodecGzip)
	b.ProducerID = 3
	b.Add(1, nil, []byte("a"))
	b.Reset()
	b.Add(5, nil, []byte("b"))
	batch, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := Validate(batch)
	if h.ProducerID != -1 || h.RecordCount != 1 || h.BaseOffset != 10 || h.Codec() != CodecGzip || h.BaseTimestamp != 5 {
		t.Fatalf("header %+v", h)
	}
}

func TestNextBatchAndBatchIter(t *testing.T) {
	var buf []byte
	var sizes []int
	for i, codec := range allCodecs {
		batch := buildBatch(t, codec, sampleRecords(i+1), func(b *Builder) { b.BaseOffset = int64(i * 10) })
		buf = append(buf, batch...)
		sizes = append(sizes, len(batch))
	}

	rest := buf
	for i := range allCodecs {
		h, batch, r, err := NextBatch(rest)
		if err != nil || len(batch) != sizes[i] || h.BaseOffset != int64(i*10) {
			t.Fatalf("NextBatch %d: %v, %d bytes, %+v", i, err, len(batch), h)
		}
		rest = r
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left", len(rest))
	}

	it := Batches(buf)
	n := 0
	for it.Next() {
		if len(it.Batch()) != sizes[n] || it.Header().Codec() != allCodecs[n] {
			t.Fatalf("batch %d", n)
		}
		n++
	}
	if it.Err() != nil || n != len(allCodecs) {
		t.Fatalf("BatchIter: %v after %d", it.Err(), n)
	}

	// A torn tail stops with ErrShort at the start of the torn batch.
	torn := buf[:len(buf)-3]
	it = Batches(torn)
	for it.Next() {
	}
	if !errors.Is(it.Err(), ErrShort) || it.Pos() != len(buf)-sizes[len(sizes)-1] {
		t.Fatalf("torn: %v at %d", it.Err(), it.Pos())
	}

	// A flipped byte in the third batch stops there with ErrCorrupt.
	bad := bytes.Clone(buf)
	third := sizes[0] + sizes[1]
	bad[third+HeaderSize+2] ^= 0xff
	it = Batches(bad)
	n = 0
	for it.Next() {
		n++
	}
	if !errors.Is(it.Err(), ErrCorrupt) || it.Pos() != third || n != 2 {
		t.Fatalf("corrupt: %v at %d after %d", it.Err(), it.Pos(), n)
	}
}

// rawBatch assembles an uncompressed batch around a hand-written records
// block, with the header fields a test wants and a correct CRC.
func rawBatch(count, lastOffsetDelta int32, records []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[posLength:], uint32(len(b)-LogOverhead))
	b[posMagic] = 2
	binary.BigEndian.PutUint32(b[posLastOffsetDelta:], uint32(lastOffsetDelta))
	binary.BigEndian.PutUint64(b[posProducerID:], ^uint64(0))
	binary.BigEndian.PutUint32(b[posRecordCount:], uint32(count))
	binary.BigEndian.PutUint32(b[posCRC:], ComputeCRC(b))
	return b
}

// rec encodes one record body and its length prefix from raw field bytes.
func rec(fields ...[]byte) []byte {
	body := bytes.Join(fields, nil)
	return append(appendVarint(nil, int32(len(body))), body...)
}

func vi(v int32) []byte { return appendVarint(nil, v) }

func TestRecordIterCorrupt(t *testing.T) {
	attrs := []byte{0}
	ts := vi(0)
	good := func(delta int32) []byte { return rec(attrs, ts, vi(delta), vi(-1), vi(1), []byte("v"), vi(0)) }
	tests := []struct {
		name    string
		count   int32
		last    int32
		records []byte
	}{
		{"fewer records than recordCount", 2, 1, good(0)},
		{"more records than recordCount", 1, 1, cat(good(0), good(1))},
		{"trailing bytes", 1, 0, cat(good(0), []byte{0})},
		{"offsetDelta past lastOffsetDelta", 1, 0, good(1)},
		{"offsetDelta repeats", 2, 1, cat(good(0), good(0))},
		{"offsetDelta negative", 1, 0, good(-1)},
		{"record length past end", 1, 0, good(0)[:5]},
		{"negative record length", 1, 0, vi(-5)},
		{"empty record", 1, 0, vi(0)},
		{"key length below -1", 1, 0, rec(attrs, ts, vi(0), vi(-2), vi(-1), vi(0))},
		{"key past record", 1, 0, rec(attrs, ts, vi(0), vi(10), []byte("k"))},
		{"value past record", 1, 0, rec(attrs, ts, vi(0), vi(-1), vi(3), []byte("v"))},
		{"missing header count", 1, 0, rec(attrs, ts, vi(0), vi(-1), vi(-1))},
		{"negative header count", 1, 0, rec(attrs, ts, vi(0), vi(-1), vi(-1), vi(-1))},
		{"huge header count", 1, 0, rec(attrs, ts, vi(0), vi(-1), vi(-1), vi(1<<30), []byte{0, 0})},
		{"null header key", 1, 0, rec(attrs, ts, vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1))},
		{"header value past record", 1, 0, rec(attrs, ts, vi(0), vi(-1), vi(-1), vi(1), vi(0), vi(4))},
		{"bytes left in record", 1, 0, rec(attrs, ts, vi(0), vi(-1), vi(-1), vi(0), []byte{1})},
		{"varint too long", 1, 0, rec(attrs, ts, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, vi(-1), vi(-1), vi(0))},
		{"varint over 32 bits", 1, 0, rec(attrs, ts, []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, vi(-1), vi(-1), vi(0))},
		{"varlong overflow", 1, 0, rec(attrs, bytes.Repeat([]byte{0xff}, 11), vi(0), vi(-1), vi(-1), vi(0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch := rawBatch(tt.count, tt.last, tt.records)
			if _, err := Validate(batch); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			_, err := Records(batch, 0)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Records: %v, want ErrCorrupt", err)
			}
		})
	}
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestRecordIterAcceptsGapsAndEmptyBatch(t *testing.T) {
	g := func(delta int32) []byte { return rec([]byte{0}, vi(0), vi(delta), vi(-1), vi(-1), vi(0)) }
	batch := rawBatch(2, 9, cat(g(3), g(9)))
	recs, err := Records(batch, 0)
	if err != nil || len(recs) != 2 || recs[0].OffsetDelta != 3 || recs[1].OffsetDelta != 9 {
		t.Fatalf("%v %+v", err, recs)
	}
	h, _ := Validate(batch)
	if err := CheckProduce(batch, h, 0); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("CheckProduce: %v", err)
	}
}

func TestRecordIterBatchBounds(t *testing.T) {
	batch := buildBatch(t, CodecNone, sampleRecords(3), nil)
	var it RecordIter
	if err := it.Reset(batch[:len(batch)-1], 0); !errors.Is(err, ErrShort) {
		t.Errorf("short: %v", err)
	}
	if err := it.Reset(append(bytes.Clone(batch), 0), 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("long: %v", err)
	}
	if _, ok := it.Next(); ok {
		t.Error("Next after a failed Reset")
	}
	old := bytes.Clone(batch)
	old[posMagic] = 1
	if err := it.Reset(old, 0); !errors.Is(err, ErrUnsupportedMagic) {
		t.Errorf("magic 1: %v", err)
	}
}

func TestRecordIterReuse(t *testing.T) {
	var it RecordIter
	for _, codec := range append(allCodecs, allCodecs...) {
		want := sampleRecords(50)
		batch := buildBatch(t, codec, want, nil)
		if err := it.Reset(batch, 0); err != nil {
			t.Fatal(err)
		}
		var got []Record
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			got = append(got, r)
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
		checkRecords(t, it.Header(), got, want)
	}
}

func TestCheckProduce(t *testing.T) {
	good := buildBatch(t, CodecSnappy, sampleRecords(10), nil)
	h, err := Validate(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckProduce(good, h, 0); err != nil {
		t.Fatalf("good batch: %v", err)
	}
	if err := CheckProduce(good, h, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit 100: %v", err)
	}
	mismatch := h
	mismatch.RecordCount = 11
	if err := CheckProduce(good, mismatch, 0); !errors.Is(err, ErrInvalidRecord) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("count mismatch: %v", err)
	}
	// recordCount and lastOffsetDelta agree but the records are fewer.
	short := buildBatch(t, CodecNone, sampleRecords(2), nil)
	binary.BigEndian.PutUint32(short[posRecordCount:], 3)
	binary.BigEndian.PutUint32(short[posLastOffsetDelta:], 2)
	binary.BigEndian.PutUint32(short[posCRC:], ComputeCRC(short))
	h, err = Validate(short)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckProduce(short, h, 0); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalidRecord) {
		t.Errorf("missing record: %v", err)
	}
	// A compressed block that is not what the codec says.
	garbled := buildBatch(t, CodecGzip, sampleRecords(2), nil)
	garbled[HeaderSize+15] ^= 0x55
	binary.BigEndian.PutUint32(garbled[posCRC:], ComputeCRC(garbled))
	h, _ = Validate(garbled)
	if err := CheckProduce(garbled, h, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbled gzip: %v", err)
	}
	// Codec 6 does not exist.
	unknown := buildBatch(t, CodecNone, sampleRecords(2), nil)
	binary.BigEndian.PutUint16(unknown[posAttributes:], 6)
	binary.BigEndian.PutUint32(unknown[posCRC:], ComputeCRC(unknown))
	h, _ = Validate(unknown)
	if err := CheckProduce(unknown, h, 0); !errors.Is(err, ErrUnsupportedCodec) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("codec 6: %v", err)
	}
}

func TestValidateAndHeaderErrors(t *testing.T) {
	batch := buildBatch(t, CodecNone, sampleRecords(3), nil)
	tests := []struct {
		name string
		mut  func([]byte) []byte
		want error
	}{
		{"ok", func(b []byte) []byte { return b }, nil},
		{"short header", func(b []byte) []byte { return b[:10] }, ErrShort},
		{"short body", func(b []byte) []byte { return b[:len(b)-1] }, ErrShort},
		{"extra bytes", func(b []byte) []byte { return append(b, 1) }, ErrCorrupt},
		{"magic 1", func(b []byte) []byte { b[posMagic] = 1; return b }, ErrUnsupportedMagic},
		{"crc", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrCorrupt},
		{"length too small", func(b []byte) []byte { binary.BigEndian.PutUint32(b[posLength:], 10); return b }, ErrCorrupt},
		{"length negative", func(b []byte) []byte { binary.BigEndian.PutUint32(b[posLength:], 1<<31); return b }, ErrCorrupt},
		{"negative recordCount", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[posRecordCount:], 1<<31)
			return b
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate(tt.mut(bytes.Clone(batch)))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetFieldsKeepCRC(t *testing.T) {
	batch := buildBatch(t, CodecNone, sampleRecords(3), nil)
	SetBaseOffset(batch, 12345)
	SetPartitionLeaderEpoch(batch, 6)
	h, err := Validate(batch)
	if err != nil || h.BaseOffset != 12345 || h.PartitionLeaderEpoch != 6 {
		t.Fatalf("%v %+v", err, h)
	}
	SetLogAppendTime(batch, 99)
	h, err = Validate(batch)
	if err != nil || !h.LogAppendTime() || h.MaxTimestamp != 99 {
		t.Fatalf("%v %+v", err, h)
	}
	recs, _ := Records(batch, 0)
	if recs[2].Timestamp != 99 || recs[2].Offset != 12347 {
		t.Fatalf("%+v", recs[2])
	}
}

func TestNoAllocs(t *testing.T) {
	batch := buildBatch(t, CodecNone, sampleRecords(100), nil)
	var it RecordIter
	var sink int
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := Validate(batch); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := NextBatch(batch); err != nil {
			t.Fatal(err)
		}
		bi := Batches(batch)
		for bi.Next() {
		}
		if err := it.Reset(batch, 0); err != nil {
			t.Fatal(err)
		}
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			hi := r.Headers()
			for h, ok := hi.Next(); ok; h, ok = hi.Next() {
				sink += len(h.Key)
			}
			sink += len(r.Value)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per run", allocs)
	}
	_ = sink
}
