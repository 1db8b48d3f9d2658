package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every decoder of bytes from the network or disk is fuzzed here. The seeds
// are valid builder output, so the fuzzer starts from the real format.

func seedBatches(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, codec := range allCodecs {
		seeds = append(seeds, buildBatch(tb, codec, sampleRecords(5), nil))
	}
	b := NewBuilder(3, CodecNone)
	b.AddControl(1, false, 2)
	ctl, _ := b.Build()
	empty, _ := NewBuilder(0, CodecNone).Build()
	return append(seeds, ctl, empty)
}

// errKnown reports whether err is one of the package's documented errors.
func errKnown(err error) bool {
	return errors.Is(err, ErrShort) || errors.Is(err, ErrCorrupt) ||
		errors.Is(err, ErrUnsupportedMagic) || errors.Is(err, ErrTooLarge)
}

func FuzzReadHeader(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadHeader(b)
		if err != nil {
			if !errKnown(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(b) < HeaderSize || h.Size() < HeaderSize || h.Size() > MaxBatchSize+LogOverhead {
			t.Fatalf("accepted header %+v for %d bytes", h, len(b))
		}
		// NextBatch agrees with ReadHeader.
		_, batch, rest, err := NextBatch(b)
		if err == nil && (len(batch) != h.Size() || len(batch)+len(rest) != len(b)) {
			t.Fatalf("NextBatch split %d+%d of %d", len(batch), len(rest), len(b))
		}
	})
}

func FuzzValidate(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Validate(b)
		if err != nil {
			if !errKnown(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if h.Size() != len(b) || ComputeCRC(b) != h.CRC {
			t.Fatalf("accepted %+v for %d bytes", h, len(b))
		}
		// BatchIter sees the same single batch.
		it := Batches(b)
		if !it.Next() || it.Next() || it.Err() != nil {
			t.Fatalf("BatchIter: %v", it.Err())
		}
	})
}

// FuzzRecords feeds batch bytes of every codec to the record iterator and
// CheckProduce. The CRC is fixed up first so that the fuzzer's mutations
// reach the records rather than dying at the checksum. Where the records
// parse, kmsg's decoder must agree with ours (uncompressed batches).
func FuzzRecords(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= HeaderSize {
			binary.BigEndian.PutUint32(b[posCRC:], ComputeCRC(b))
		}
		h, err := Validate(b)
		if err != nil {
			return
		}
		const limit = 64 << 10
		recs, err := Records(b, limit)
		if err != nil {
			if !errKnown(err) {
				t.Fatalf("unexpected error %v", err)
			}
		} else {
			if len(recs) != int(h.RecordCount) {
				t.Fatalf("%d records, recordCount %d", len(recs), h.RecordCount)
			}
			for i, r := range recs {
				if r.OffsetDelta > h.LastOffsetDelta || (i > 0 && r.OffsetDelta <= recs[i-1].OffsetDelta) {
					t.Fatalf("record %d offsetDelta %d", i, r.OffsetDelta)
				}
				if got := len(r.AppendHeaders(nil)); got != r.HeaderCount() {
					t.Fatalf("record %d: %d headers, count %d", i, got, r.HeaderCount())
				}
			}
			if h.Codec() == CodecNone {
				compareWithKmsg(t, b[HeaderSize:], recs)
			}
		}
		cerr := CheckProduce(b, h, limit)
		if cerr != nil && !errKnown(cerr) {
			t.Fatalf("CheckProduce: unexpected error %v", cerr)
		}
		if err != nil && cerr == nil {
			t.Fatalf("CheckProduce accepted what Records refused: %v", err)
		}
	})
}

// compareWithKmsg decodes an uncompressed records block with kmsg and checks
// it matches what our iterator produced.
func compareWithKmsg(t *testing.T, raw []byte, recs []Record) {
	for i, r := range recs {
		l, n := binary.Varint(raw)
		if n <= 0 || l < 0 || int(l) > len(raw)-n {
			t.Fatalf("record %d: kmsg-side length unreadable", i)
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(raw[:n+int(l)]); err != nil {
			t.Fatalf("record %d: we accept, kmsg says %v", i, err)
		}
		raw = raw[n+int(l):]
		if kr.OffsetDelta != r.OffsetDelta || kr.TimestampDelta64 != r.TimestampDelta ||
			!sameBytes(kr.Key, r.Key) || !sameBytes(kr.Value, r.Value) || len(kr.Headers) != r.HeaderCount() {
			t.Fatalf("record %d: kmsg %+v, ours %+v", i, kr, r)
		}
		hs := r.AppendHeaders(nil)
		for j, h := range kr.Headers {
			if h.Key != string(hs[j].Key) || !sameBytes(h.Value, hs[j].Value) {
				t.Fatalf("record %d header %d differs", i, j)
			}
		}
	}
}

func fuzzDecompress(f *testing.F, codec Codec) {
	for _, n := range []int{0, 1, 100, 5000, 70000} {
		enc, err := Compress(codec, nil, payload(n, uint64(n)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	if codec == CodecSnappy {
		f.Add(snappyRawSeed())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 16 << 10
		out, err := Decompress(codec, b, limit)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
		// What decodes re-encodes and decodes to the same bytes.
		enc, err := Compress(codec, nil, out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decompress(codec, enc, limit)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

// snappyRawSeed is one raw snappy block, the other shape clients write.
func snappyRawSeed() []byte { return snappy.Encode(nil, payload(3000, 5)) }

func FuzzDecompressGzip(f *testing.F)   { fuzzDecompress(f, CodecGzip) }
func FuzzDecompressSnappy(f *testing.F) { fuzzDecompress(f, CodecSnappy) }
func FuzzDecompressLZ4(f *testing.F)    { fuzzDecompress(f, CodecLZ4) }
func FuzzDecompressZstd(f *testing.F)   { fuzzDecompress(f, CodecZstd) }
