package record

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// payload is compressible but not trivially so.
func payload(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	words := []string{"kafka", "gregor", "offset", "partition", "leader", "epoch", "\x00\x01", "record"}
	var b []byte
	for len(b) < n {
		if rng.IntN(8) == 0 {
			b = append(b, byte(rng.Uint32()))
			continue
		}
		b = append(b, words[rng.IntN(len(words))]...)
	}
	return b[:n]
}

func TestCodecRoundTrip(t *testing.T) {
	for _, codec := range allCodecs {
		for _, n := range []int{0, 1, 100, 32 << 10, 32<<10 + 1, 300 << 10} {
			t.Run(fmt.Sprintf("%s/%d", codec, n), func(t *testing.T) {
				src := payload(n, uint64(n))
				prefix := []byte("prefix")
				enc, err := Compress(codec, bytes.Clone(prefix), src)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(enc, prefix) {
					t.Fatal("Compress did not append")
				}
				dec, err := Decompress(codec, enc[len(prefix):], n)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(dec, src) {
					t.Fatal("round trip differs")
				}
				if n > 1 {
					if _, err := Decompress(codec, enc[len(prefix):], n-1); !errors.Is(err, ErrTooLarge) {
						t.Fatalf("limit n-1: %v", err)
					}
				}
			})
		}
	}
}

func TestCodecUnknown(t *testing.T) {
	for _, c := range []Codec{5, 6, 7, -1} {
		if _, err := Decompress(c, []byte{1, 2, 3}, 100); !errors.Is(err, ErrUnsupportedCodec) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decompress codec %d: %v", c, err)
		}
		if _, err := Compress(c, nil, []byte{1}); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("Compress codec %d: %v", c, err)
		}
		if c.Valid() || c.String() != "unknown" {
			t.Errorf("codec %d valid", c)
		}
	}
}

func TestCodecGarbage(t *testing.T) {
	inputs := [][]byte{{1}, []byte("definitely not compressed data at all"), bytes.Repeat([]byte{0xff}, 100)}
	for _, codec := range allCodecs[1:] {
		for i, in := range inputs {
			_, err := Decompress(codec, in, 1<<20)
			if err == nil {
				t.Errorf("%s input %d: no error", codec, i)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s input %d: %v is not ErrCorrupt", codec, i, err)
			}
		}
	}
}

var (
	bombsOnce sync.Once
	bombSet   map[Codec][]byte
)

// bombs are small inputs that decompress to 64 MiB of zeros, written with
// the libraries directly, 64 times the limit the tests use.
func bombs() map[Codec][]byte {
	bombsOnce.Do(func() { bombSet = makeBombs(64 << 20) })
	return bombSet
}

func makeBombs(size int) map[Codec][]byte {
	zeros := make([]byte, 1<<20)
	out := map[Codec][]byte{}

	var gz bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	for range size / len(zeros) {
		gw.Write(zeros)
	}
	gw.Close()
	out[CodecGzip] = gz.Bytes()

	var lz bytes.Buffer
	lw := lz4.NewWriter(&lz)
	for range size / len(zeros) {
		lw.Write(zeros)
	}
	lw.Close()
	out[CodecLZ4] = lz.Bytes()

	// zstd streamed, so the frame does not state its size.
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs, zstd.WithEncoderConcurrency(1))
	for range size / len(zeros) {
		zw.Write(zeros)
	}
	zw.Close()
	out[CodecZstd] = zs.Bytes()

	// Raw snappy states its size; xerial is many blocks, each honest,
	// adding up to the bomb.
	block := snappy.Encode(nil, zeros[:xerialBlockSize])
	x := append([]byte{}, xerialMagic...)
	x = append(x, 0, 0, 0, 1, 0, 0, 0, 1)
	for range size / xerialBlockSize {
		x = append(x, byte(len(block)>>24), byte(len(block)>>16), byte(len(block)>>8), byte(len(block)))
		x = append(x, block...)
	}
	out[CodecSnappy] = x
	return out
}

func TestDecompressionBombs(t *testing.T) {
	for codec, bomb := range bombs() {
		t.Run(codec.String(), func(t *testing.T) {
			_, err := Decompress(codec, bomb, 1<<20)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v, want ErrTooLarge", err)
			}
		})
	}
	// A raw snappy block claiming a huge size is refused before any
	// allocation.
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0}
	if _, err := Decompress(CodecSnappy, huge, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("raw snappy size claim: %v", err)
	}
	// A zstd frame stating a size over the limit is refused from its header.
	enc, _ := zstd.NewWriter(nil)
	big := enc.EncodeAll(make([]byte, 2<<20), nil)
	if _, err := Decompress(CodecZstd, big, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("zstd with content size: %v", err)
	}
}

// TestDecompressionBombMemory checks that refusing a bomb costs memory on
// the order of the limit, not of what the bomb expands to.
func TestDecompressionBombMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation measurement")
	}
	const limit = 1 << 20
	for codec, bomb := range bombs() {
		Decompress(codec, bomb, limit) // warm pools
		const runs = 5
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if _, err := Decompress(codec, bomb, limit); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%s: %v", codec, err)
			}
		}
		runtime.ReadMemStats(&after)
		allocated := (after.TotalAlloc - before.TotalAlloc) / runs
		t.Logf("%s: %d bytes allocated per refused bomb", codec, allocated)
		// Growing the output by doubling costs about twice the limit, and zstd
		// may retry a few times; 64 MiB is what an unbounded decoder spends.
		if allocated > 8*limit {
			t.Errorf("%s: %d bytes allocated per refused bomb, limit %d", codec, allocated, limit)
		}
	}
}

// TestZstdLargeWindow: the Java producer streams zstd, so its frames declare
// a window (2 MiB at the default level) larger than many a batch limit and
// do not state their size. Such a batch must decode within a small limit.
func TestZstdLargeWindow(t *testing.T) {
	src := payload(10<<10, 3)
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithWindowSize(8<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	// Two writes with a flush between keep the encoder from seeing the
	// whole input at once, as a streaming producer's encoder does.
	zw.Write(src[:5000])
	zw.Flush()
	zw.Write(src[5000:])
	zw.Close()
	var fh zstd.Header
	if err := fh.Decode(buf.Bytes()); err != nil || fh.HasFCS || fh.WindowSize < 8<<20 || fh.SingleSegment {
		t.Fatalf("frame header %+v %v", fh, err)
	}
	got, err := Decompress(CodecZstd, buf.Bytes(), 64<<10)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("Decompress: %v", err)
	}
}

// TestSnappyShapes reads the snappy shapes clients write: raw blocks
// (librdkafka, Sarama) and xerial framing (Java, franz-go), as written by an
// independent implementation.
func TestSnappyShapes(t *testing.T) {
	src := payload(100<<10, 9)
	for name, enc := range map[string][]byte{
		"raw":          snappy.Encode(nil, src),
		"xerial":       xerial.Encode(nil, src),
		"xerialBetter": xerial.EncodeBetter(nil, src),
		"xerialEmpty":  xerial.Encode(nil, nil),
	} {
		t.Run(name, func(t *testing.T) {
			want := src
			if name == "xerialEmpty" {
				want = nil
			}
			got, err := Decompress(CodecSnappy, enc, len(src))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Decompress: %v", err)
			}
		})
	}
	// Ours is read by the independent xerial decoder.
	ours, _ := Compress(CodecSnappy, nil, src)
	if got, err := xerial.Decode(ours); err != nil || !bytes.Equal(got, src) {
		t.Fatalf("xerial.Decode of ours: %v", err)
	}
	// S2's extensions are not snappy: no Kafka client could read them.
	s2enc := s2.Encode(nil, bytes.Repeat([]byte("abcdefgh"), 1000))
	if _, err := snappy.DecodeStrict(nil, s2enc); err == nil {
		t.Skip("this S2 output happens to be plain snappy")
	}
	if _, err := Decompress(CodecSnappy, s2enc, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Errorf("S2 block: %v", err)
	}
	// Broken framing.
	for name, bad := range map[string][]byte{
		"short length": append(xerial.Encode(nil, src[:100]), 0, 0),
		"length past end": func() []byte {
			b := xerial.Encode(nil, src[:100])
			b[xerialHeaderSize] = 0x7f
			return b
		}(),
	} {
		if _, err := Decompress(CodecSnappy, bad, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestLZ4Shapes reads LZ4 frames as other writers make them: every block
// size, with and without block and content checksums, concatenated frames.
func TestLZ4Shapes(t *testing.T) {
	src := payload(700<<10, 4)
	for _, bs := range []lz4.BlockSize{lz4.Block64Kb, lz4.Block256Kb, lz4.Block1Mb, lz4.Block4Mb} {
		for _, sums := range []bool{false, true} {
			var buf bytes.Buffer
			w := lz4.NewWriter(&buf)
			w.Apply(lz4.BlockSizeOption(bs), lz4.BlockChecksumOption(sums), lz4.ChecksumOption(sums))
			w.Write(src)
			w.Close()
			got, err := Decompress(CodecLZ4, buf.Bytes(), len(src))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("%v checksums %v: %v", bs, sums, err)
			}
		}
	}
	a, _ := Compress(CodecLZ4, nil, src[:1000])
	b, _ := Compress(CodecLZ4, nil, src[1000:3000])
	got, err := Decompress(CodecLZ4, append(a, b...), len(src))
	if err != nil || !bytes.Equal(got, src[:3000]) {
		t.Fatalf("two frames: %v", err)
	}
}

func TestGzipMultiMember(t *testing.T) {
	a, _ := Compress(CodecGzip, nil, []byte("hello "))
	b, _ := Compress(CodecGzip, nil, []byte("world"))
	got, err := Decompress(CodecGzip, append(a, b...), 100)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := Decompress(CodecGzip, append(a, 'x'), 100); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing garbage: %v", err)
	}
}

// TestCodecsAgainstFranzGo cross-checks with franz-go's own compressor and
// decompressor, which its producer and consumer use: ours reads theirs,
// theirs reads ours.
func TestCodecsAgainstFranzGo(t *testing.T) {
	kcodecs := map[Codec]kgo.CompressionCodec{
		CodecGzip:   kgo.GzipCompression(),
		CodecSnappy: kgo.SnappyCompression(),
		CodecLZ4:    kgo.Lz4Compression(),
		CodecZstd:   kgo.ZstdCompression(),
	}
	dec := kgo.DefaultDecompressor()
	for codec, kc := range kcodecs {
		comp, err := kgo.DefaultCompressor(kc)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 5000, 200 << 10} {
			src := payload(n, uint64(n)+7)
			theirs, used := comp.Compress(new(bytes.Buffer), src)
			if int8(used) != int8(codec) {
				t.Fatalf("%s: franz-go used codec %d", codec, used)
			}
			got, err := Decompress(codec, theirs, n)
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("%s/%d: reading franz-go's: %v", codec, n, err)
			}
			ours, err := Compress(codec, nil, src)
			if err != nil {
				t.Fatal(err)
			}
			got, err = dec.Decompress(ours, kgo.CompressionCodecType(codec))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("%s/%d: franz-go reading ours: %v", codec, n, err)
			}
		}
	}
}

func TestCodecConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				codec := allCodecs[(g+i)%len(allCodecs)]
				src := payload(1000+i*500, uint64(g*100+i))
				enc, err := Compress(codec, nil, src)
				if err != nil {
					t.Error(err)
					return
				}
				dec, err := Decompress(codec, enc, len(src))
				if err != nil || !bytes.Equal(dec, src) {
					t.Errorf("%s: %v", codec, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
