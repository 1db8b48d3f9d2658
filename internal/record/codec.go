package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec is a batch compression codec, as numbered in the attributes field.
type Codec int8

// The codecs Kafka defines.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return "unknown"
}

// Valid reports whether c is one of the codecs Kafka defines. The
// attributes field has room for 5, 6 and 7, but no codec uses them.
func (c Codec) Valid() bool { return c >= CodecNone && c <= CodecZstd }

var (
	// ErrTooLarge means the records of a compressed batch decompress to more
	// bytes than the caller allowed: a decompression bomb, or a batch larger
	// than the configured limit. It is a kind of corruption for the produce
	// path (the batch is refused), but callers may tell it apart.
	ErrTooLarge = errors.New("record: decompressed batch exceeds limit")
	// ErrUnsupportedCodec marks a batch whose attributes name a codec Kafka
	// does not define (5, 6 or 7). It wraps ErrCorrupt.
	ErrUnsupportedCodec = fmt.Errorf("%w: unsupported compression codec", ErrCorrupt)
)

// Decompress returns the records block src of a batch compressed with codec,
// decompressed. The output never exceeds limit bytes: a larger output fails
// with a wrapped ErrTooLarge as soon as the limit is crossed, so memory stays
// bounded by limit whatever src claims about its own size. A limit <= 0
// means MaxBatchSize. Malformed input fails with a wrapped ErrCorrupt.
//
// For CodecNone the result is src itself, not a copy. It is safe for
// concurrent use.
func Decompress(codec Codec, src []byte, limit int) ([]byte, error) {
	return decompressAppend(codec, nil, src, limit)
}

// decompressAppend is Decompress writing into dst[:0], so that an iterator
// can reuse its buffer from batch to batch. The result may or may not share
// dst's array.
func decompressAppend(codec Codec, dst, src []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = MaxBatchSize
	}
	dst = dst[:0]
	var out []byte
	var err error
	switch codec {
	case CodecNone:
		if len(src) > limit {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(src), limit)
		}
		return src, nil
	case CodecGzip:
		out, err = gunzip(dst, src, limit)
	case CodecSnappy:
		out, err = unsnappy(dst, src, limit)
	case CodecLZ4:
		out, err = unlz4(dst, src, limit)
	case CodecZstd:
		out, err = unzstd(dst, src, limit)
	default:
		return nil, fmt.Errorf("%w %d", ErrUnsupportedCodec, codec)
	}
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%w (%s, limit %d)", err, codec, limit)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, codec, err)
	}
	return out, nil
}

// Compress appends src, compressed with codec, to dst. Snappy output uses the
// xerial framing the Java client writes, which every client can read. It is
// safe for concurrent use.
func Compress(codec Codec, dst, src []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return gzipAppend(dst, src)
	case CodecSnappy:
		return xerialAppend(dst, src), nil
	case CodecLZ4:
		return lz4Append(dst, src)
	case CodecZstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w %d", ErrUnsupportedCodec, codec)
}

// appendWriter is an io.Writer appending to a slice, so the stream
// compressors can write straight into the caller's dst.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readLimited appends everything r yields to dst, failing with ErrTooLarge
// once more than limit bytes came out. The buffer grows by doubling from a
// guess based on the compressed size, never from anything the stream claims,
// and never past limit+1 bytes.
func readLimited(dst []byte, r io.Reader, limit, srcLen int) ([]byte, error) {
	if cap(dst) == 0 {
		dst = make([]byte, 0, min(limit+1, max(4*srcLen, 512)))
	}
	// A reader that returns neither bytes nor an error 100 times in a row
	// is taken as stuck, as bufio does: whatever a codec library does with
	// odd input, it must not spin us forever. (Real encoders never write
	// runs of empty blocks, the only legitimate way to get there.)
	empty := 0
	for {
		if len(dst) == cap(dst) {
			if len(dst) > limit {
				return nil, ErrTooLarge
			}
			grown := make([]byte, len(dst), min(limit+1, 2*cap(dst)))
			copy(grown, dst)
			dst = grown
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit+1)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return nil, io.ErrNoProgress
		}
	}
}

// gzip: readers and writers are pooled; both carry sizeable tables.

type gzipReader struct {
	src bytes.Reader
	r   gzip.Reader
}

type gzipWriter struct {
	dst appendWriter
	w   *gzip.Writer
}

var (
	gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}
	gzipWriters = sync.Pool{New: func() any {
		gw := new(gzipWriter)
		gw.w = gzip.NewWriter(&gw.dst)
		return gw
	}}
)

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	gr := gzipReaders.Get().(*gzipReader)
	defer gzipReaders.Put(gr)
	gr.src.Reset(src)
	if err := gr.r.Reset(&gr.src); err != nil {
		return nil, err
	}
	out, err := readLimited(dst, &gr.r, limit, len(src))
	gr.src.Reset(nil)
	return out, err
}

func gzipAppend(dst, src []byte) ([]byte, error) {
	gw := gzipWriters.Get().(*gzipWriter)
	defer gzipWriters.Put(gw)
	gw.dst.b = dst
	gw.w.Reset(&gw.dst)
	_, err := gw.w.Write(src)
	if err == nil {
		err = gw.w.Close()
	}
	out := gw.dst.b
	gw.dst.b = nil
	return out, err
}

// lz4: Kafka's LZ4 is the LZ4 frame format (KIP-57 fixed the header checksum
// for magic >= 1, so nothing legacy applies to v2 batches).

type lz4Reader struct {
	src bytes.Reader
	r   *lz4.Reader
}

type lz4Writer struct {
	dst appendWriter
	w   *lz4.Writer
}

var (
	lz4Readers = sync.Pool{New: func() any {
		lr := new(lz4Reader)
		lr.r = lz4.NewReader(&lr.src)
		return lr
	}}
	lz4Writers = sync.Pool{New: func() any {
		lw := new(lz4Writer)
		lw.w = lz4.NewWriter(&lw.dst)
		// 64 KiB blocks, as the Java client writes: a reader then needs
		// 64 KiB of buffer rather than the default 4 MiB.
		if err := lw.w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			panic(err) // a constant option on a fresh writer cannot fail
		}
		return lw
	}}
)

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	lr := lz4Readers.Get().(*lz4Reader)
	defer lz4Readers.Put(lr)
	lr.src.Reset(src)
	lr.r.Reset(&lr.src)
	out, err := readLimited(dst, lr.r, limit, len(src))
	lr.r.Reset(nil)
	lr.src.Reset(nil)
	return out, err
}

func lz4Append(dst, src []byte) ([]byte, error) {
	lw := lz4Writers.Get().(*lz4Writer)
	defer lz4Writers.Put(lw)
	lw.dst.b = dst
	lw.w.Reset(&lw.dst)
	_, err := lw.w.Write(src)
	if err == nil {
		err = lw.w.Close()
	}
	out := lw.dst.b
	lw.dst.b = nil
	return out, err
}

// zstd: one shared decoder and one shared encoder; DecodeAll and EncodeAll
// are safe for concurrent use and keep their own pools of state.
//
// The decoder decodes in memory (DecodeAll), where the output buffer is the
// history window, so a frame declaring a large window costs nothing until
// output is produced. That matters: the Java producer streams, so its frames
// declare the level's full window (2 MiB at the default level) even for a
// small batch, and a decoder that capped the window at the batch limit would
// refuse them. The output is bounded instead by WithDecodeAllCapLimit: the
// decoder never writes past cap(dst). We start from a capacity guess and
// double it up to the limit; the frame content size, when the frame states
// it, is used only if it is within the limit.
//
// A streaming decoder with a capped window was the rejected alternative: it
// allocates the declared window up front and keeps it in the pool.

const zstdMaxWindow = MaxBatchSize

var (
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
)

func zstdDecoder() *zstd.Decoder {
	zstdDecOnce.Do(func() {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxMemory(MaxBatchSize),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
		)
		if err != nil {
			panic(fmt.Sprintf("record: zstd decoder options: %v", err)) // constant options
		}
		zstdDec = d
	})
	return zstdDec
}

func zstdEncoder() *zstd.Encoder {
	zstdEncOnce.Do(func() {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			// A 1 MiB window keeps what a streaming consumer must
			// allocate modest while covering typical batch sizes.
			zstd.WithWindowSize(1<<20),
			// An empty records block still gets a valid frame.
			zstd.WithZeroFrames(true),
		)
		if err != nil {
			panic(fmt.Sprintf("record: zstd encoder options: %v", err)) // constant options
		}
		zstdEnc = e
	})
	return zstdEnc
}

// zstdBlockMax is the most one zstd block can produce. When DecodeAll runs out
// of room it fails either with ErrDecoderSizeExceeded or, from inside a
// block, with a generic error; the latter can only happen with less than a
// block of room left, which is how we tell "needs more room" from "corrupt".
const zstdBlockMax = 128 << 10

func unzstd(dst, src []byte, limit int) ([]byte, error) {
	guess := min(limit, max(8*len(src), 4096))
	var fh zstd.Header
	if fh.Decode(src) == nil && fh.HasFCS {
		if fh.FrameContentSize > uint64(limit) {
			return nil, ErrTooLarge
		}
		// Several frames may follow; the first one's size is a floor.
		guess = max(guess, int(fh.FrameContentSize))
	}
	dec := zstdDecoder()
	for {
		if cap(dst) < guess {
			dst = make([]byte, 0, guess)
		}
		room := min(cap(dst), limit)
		out, err := dec.DecodeAll(src, dst[:0:room])
		if err == nil {
			if len(out) > limit { // cannot happen with the cap limit; cheap to check
				return nil, ErrTooLarge
			}
			return out, nil
		}
		outOfRoom := errors.Is(err, zstd.ErrDecoderSizeExceeded) || room-len(out) < zstdBlockMax
		if !outOfRoom {
			return nil, err
		}
		if room >= limit {
			return nil, ErrTooLarge
		}
		guess = min(limit, 2*room)
		dst = out[:0]
	}
}
