package record

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/klauspost/compress/snappy"
)

// Kafka's snappy comes in two shapes. The Java client (snappy-java's
// SnappyOutputStream) and franz-go write the xerial framing:
//
//	8 bytes  magic  0x82 "SNAPPY" 0x00
//	4 bytes  version              (1)
//	4 bytes  minimum compatible   (1)
//	then blocks: 4-byte big-endian length, one raw snappy block
//
// librdkafka, Sarama and kafka-go may write one raw snappy block instead.
// We read both and write xerial, which every client reads.

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = 16
	// xerialBlockSize is the uncompressed size of one block, as snappy-java
	// writes by default.
	xerialBlockSize = 32 << 10
)

var errXerialFraming = errors.New("malformed xerial framing")

// unsnappy decodes raw snappy or xerial-framed snappy into dst, refusing
// output beyond limit. A snappy block states its decoded length up front and
// the decoder fails unless the data produces exactly that, so checking the
// stated length against the limit before allocating keeps memory bounded.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < xerialHeaderSize || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return snappyBlock(dst[:0], src, limit)
	}
	// A first pass over the block lengths adds up the stated sizes, so a
	// bomb is refused before any decoding and the output is allocated once.
	total := 0
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		block, next, err := xerialNext(rest)
		if err != nil {
			return nil, err
		}
		n, err := snappy.DecodedLen(block)
		if err != nil {
			return nil, err
		}
		if total += n; total > limit {
			return nil, ErrTooLarge
		}
		rest = next
	}
	out := dst[:0]
	if cap(out) < total {
		out = make([]byte, 0, total)
	}
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		block, next, _ := xerialNext(rest)
		var err error
		if out, err = snappyBlock(out, block, limit-len(out)); err != nil {
			return nil, err
		}
		rest = next
	}
	return out, nil
}

// xerialNext splits the first length-prefixed block off b.
func xerialNext(b []byte) (block, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errXerialFraming
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, errXerialFraming
	}
	return b[4 : 4+n], b[4+n:], nil
}

// snappyBlock appends the decoding of one raw snappy block to dst, refusing
// more than limit bytes of output.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, ErrTooLarge
	}
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	// DecodeStrict, not Decode: Decode also accepts the S2 extensions,
	// which no Kafka client can read, so a batch using them must be refused
	// on produce rather than served to consumers that will choke on it.
	got, err := snappy.DecodeStrict(dst[len(dst):len(dst)+n], block)
	if err != nil {
		return nil, err
	}
	if len(got) != n {
		return nil, errXerialFraming
	}
	return dst[:len(dst)+n], nil
}

// xerialAppend appends src to dst as xerial-framed snappy.
func xerialAppend(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialBlockSize)]
		src = src[len(chunk):]
		lenAt := len(dst)
		dst = binary.BigEndian.AppendUint32(dst, 0)
		need := snappy.MaxEncodedLen(len(chunk))
		dst = growAppend(dst, need)
		enc := snappy.Encode(dst[len(dst):len(dst)+need], chunk)
		binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(enc)))
		dst = dst[:len(dst)+len(enc)]
	}
	return dst
}

// growAppend makes room for n more bytes after len(dst) without changing len.
func growAppend(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	grown := make([]byte, len(dst), max(len(dst)+n, 2*cap(dst)))
	copy(grown, dst)
	return grown
}
