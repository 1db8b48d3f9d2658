package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Byte positions of the v2 batch header fields; see the package doc.
const (
	posBaseOffset      = 0
	posLength          = 8
	posLeaderEpoch     = 12
	posMagic           = 16
	posCRC             = 17
	posAttributes      = 21
	posLastOffsetDelta = 23
	posBaseTimestamp   = 27
	posMaxTimestamp    = 35
	posProducerID      = 43
	posProducerEpoch   = 51
	posBaseSequence    = 53
	posRecordCount     = 57

	// HeaderSize is the size of the fixed batch header that precedes the records.
	HeaderSize = 61
	// LogOverhead is the part of the header not counted by batchLength.
	LogOverhead = 12
	// MaxBatchSize bounds batchLength so that a corrupt length can never make
	// a reader allocate or scan without limit. Kafka's own limits
	// (message.max.bytes, socket.request.max.bytes) are far below it.
	MaxBatchSize = 1 << 30
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

var (
	// ErrCorrupt marks bytes that are not a valid v2 batch: a bad CRC, a
	// length that does not fit, or a record that does not parse. Kafka's
	// CORRUPT_MESSAGE.
	ErrCorrupt = errors.New("record: corrupt batch")
	// ErrUnsupportedMagic marks a batch in the v0/v1 message format, which
	// Gregor does not accept (Kafka's UNSUPPORTED_VERSION on produce).
	ErrUnsupportedMagic = errors.New("record: unsupported message format (magic != 2)")
	// ErrShort means the buffer ends before the batch does; on disk that is
	// a torn tail, on the wire a malformed request.
	ErrShort = errors.New("record: batch truncated")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed part of a v2 batch.
type Header struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the total size of the batch in bytes, header included.
func (h Header) Size() int { return int(h.Length) + LogOverhead }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset just after the batch.
func (h Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the compression codec of the records block.
func (h Header) Codec() Codec { return Codec(h.Attributes & attrCodecMask) }

// LogAppendTime reports whether the batch's timestamps were set by the broker.
func (h Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports whether the batch is part of a transaction.
func (h Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds a control record (commit/abort marker).
func (h Header) Control() bool { return h.Attributes&attrControl != 0 }

// Idempotent reports whether the batch carries a producer id.
func (h Header) Idempotent() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the batch's last record, wrapping
// at MaxInt32 as Kafka's does.
func (h Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 1<<31-1 {
		s -= 1 << 31
	}
	return int32(s)
}

// ReadHeader decodes the fixed header at the start of b. It checks only what
// the header itself can tell: the magic byte and that the length is sane. b
// may be shorter than the whole batch.
func ReadHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < posMagic+1 {
		return h, ErrShort
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[posBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[posLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[posLeaderEpoch:]))
	h.Magic = int8(b[posMagic])
	if h.Magic != 2 {
		return h, ErrUnsupportedMagic
	}
	if h.Length < HeaderSize-LogOverhead || h.Length > MaxBatchSize {
		return h, fmt.Errorf("%w: batch length %d", ErrCorrupt, h.Length)
	}
	if len(b) < HeaderSize {
		return h, ErrShort
	}
	h.CRC = binary.BigEndian.Uint32(b[posCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[posAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[posLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[posBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[posMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[posProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[posProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[posBaseSequence:]))
	h.RecordCount = int32(binary.BigEndian.Uint32(b[posRecordCount:]))
	if h.LastOffsetDelta < 0 || h.RecordCount < 0 {
		return h, fmt.Errorf("%w: negative lastOffsetDelta or recordCount", ErrCorrupt)
	}
	return h, nil
}

// Validate checks that b is exactly one whole v2 batch whose CRC matches.
// It does not decompress or parse the records; see Records for that.
func Validate(b []byte) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return h, err
	}
	if len(b) < h.Size() {
		return h, ErrShort
	}
	if len(b) > h.Size() {
		return h, fmt.Errorf("%w: %d bytes after the batch", ErrCorrupt, len(b)-h.Size())
	}
	if got := crc32.Checksum(b[posAttributes:], castagnoli); got != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, header says %08x", ErrCorrupt, got, h.CRC)
	}
	return h, nil
}

// ComputeCRC returns the CRC32C the batch b should carry.
func ComputeCRC(b []byte) uint32 { return crc32.Checksum(b[posAttributes:], castagnoli) }

// SetBaseOffset writes the base offset in place. The CRC does not cover it.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[posBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch writes the leader epoch in place. The CRC does not cover it.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[posLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch's timestamps as broker-assigned and sets
// maxTimestamp to ts, as Kafka does for message.timestamp.type=LogAppendTime.
// Both fields are covered by the CRC, so it is recomputed; the records are
// not touched.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[posAttributes:]) | attrLogAppendTime
	binary.BigEndian.PutUint16(b[posAttributes:], attrs)
	binary.BigEndian.PutUint64(b[posMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[posCRC:], ComputeCRC(b))
}
