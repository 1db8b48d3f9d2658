package record

import (
	"fmt"
	"testing"
)

// benchBatch builds a batch of about size bytes of uncompressed records:
// 100-byte values with 16-byte keys and one header, like a typical producer.
func benchBatch(b *testing.B, codec Codec, size int) ([]byte, int) {
	bl := NewBuilder(0, codec)
	raw := 0
	for i := 0; raw < size-HeaderSize; i++ {
		key := fmt.Appendf(nil, "key-%012d", i)
		value := payload(100, uint64(i))
		bl.Add(1_700_000_000_000+int64(i), key, value, RecordHeader{Key: []byte("trace"), Value: []byte("abc")})
		raw = len(bl.records)
	}
	batch, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	return batch, raw
}

func BenchmarkRecordIter16KiB(b *testing.B) {
	batch, raw := benchBatch(b, CodecNone, 16<<10)
	var it RecordIter
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		if err := it.Reset(batch, 0); err != nil {
			b.Fatal(err)
		}
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			n += len(r.Value)
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
	}
	_ = n
}

func BenchmarkValidate16KiB(b *testing.B) {
	batch, _ := benchBatch(b, CodecNone, 16<<10)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckProduce16KiB(b *testing.B) {
	for _, codec := range allCodecs {
		b.Run(codec.String(), func(b *testing.B) {
			batch, raw := benchBatch(b, codec, 16<<10)
			h, err := Validate(batch)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(raw))
			b.ReportAllocs()
			for b.Loop() {
				if err := CheckProduce(batch, h, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecompress reports MB/s of decompressed output.
func BenchmarkDecompress(b *testing.B) {
	for _, size := range []int{16 << 10, 1 << 20} {
		for _, codec := range allCodecs[1:] {
			b.Run(fmt.Sprintf("%s/%dKiB", codec, size>>10), func(b *testing.B) {
				src := payload(size, 1)
				enc, err := Compress(codec, nil, src)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ReportMetric(float64(len(src))/float64(len(enc)), "ratio")
				for b.Loop() {
					if _, err := Decompress(codec, enc, size); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkCompress(b *testing.B) {
	for _, codec := range allCodecs[1:] {
		b.Run(fmt.Sprintf("%s/16KiB", codec), func(b *testing.B) {
			src := payload(16<<10, 1)
			dst := make([]byte, 0, 32<<10)
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compress(codec, dst[:0], src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBuild16KiB(b *testing.B) {
	bl := NewBuilder(0, CodecNone)
	value := payload(100, 1)
	key := []byte("key-000000000000")
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		bl.Reset()
		for i := range 120 {
			bl.Add(int64(i), key, value)
		}
		var err error
		if dst, err = bl.AppendTo(dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
}
