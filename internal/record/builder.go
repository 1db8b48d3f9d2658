package record

import (
	"encoding/binary"
	"fmt"
)

// Builder assembles one v2 batch: for tests, for control batches, and for
// rewriting batches (compaction). Set the exported fields, add records, then
// Build. NewBuilder gives the values of a batch from a producer that is
// neither idempotent nor transactional.
//
// Timestamps follow the Java client: baseTimestamp is the first record's
// timestamp, maxTimestamp the largest (or LogAppendTime when set), and a
// batch with no records carries -1 for both.
type Builder struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	ProducerID           int64 // -1: no producer id
	ProducerEpoch        int16 // -1: none
	BaseSequence         int32 // -1: none
	Codec                Codec
	Transactional        bool
	Control              bool
	// LogAppendTime, when nonzero, marks the timestamps as set by the broker
	// and becomes maxTimestamp (Kafka's message.timestamp.type=LogAppendTime).
	LogAppendTime int64
	// LastOffsetDelta, when larger than the last record's offset delta,
	// replaces it: a compacted batch keeps its original offset range.
	LastOffsetDelta int32

	records   []byte // encoded records, uncompressed
	count     int32
	lastDelta int32 // offset delta of the last record added, -1 if none
	baseTS    int64
	maxTS     int64
}

// NewBuilder returns a Builder for a batch starting at baseOffset, with no
// producer id, epoch or sequence, compressed with codec.
func NewBuilder(baseOffset int64, codec Codec) *Builder {
	b := &Builder{BaseOffset: baseOffset, Codec: codec}
	b.Reset()
	return b
}

// Reset drops the records added so far and restores NewBuilder's producer
// fields, keeping BaseOffset, PartitionLeaderEpoch and Codec and the buffer.
func (b *Builder) Reset() {
	*b = Builder{
		BaseOffset:           b.BaseOffset,
		PartitionLeaderEpoch: b.PartitionLeaderEpoch,
		Codec:                b.Codec,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
		records:              b.records[:0],
		lastDelta:            -1,
		baseTS:               -1,
		maxTS:                -1,
	}
}

// Len is the number of records added.
func (b *Builder) Len() int { return int(b.count) }

// Add appends a record at the next offset with the given timestamp (ms since
// the epoch). A nil key or value is null; an empty one is not. A header key
// is never null: nil is written as empty.
func (b *Builder) Add(timestamp int64, key, value []byte, headers ...RecordHeader) {
	headerSize := 0
	for _, h := range headers {
		headerSize += sizeVarintBytes(nonNil(h.Key)) + sizeVarintBytes(h.Value)
	}
	start, size := b.begin(timestamp, b.lastDelta+1, 0, key, value, len(headers), headerSize)
	for _, h := range headers {
		b.records = appendVarintBytes(b.records, nonNil(h.Key))
		b.records = appendVarintBytes(b.records, h.Value)
	}
	b.end(start, size, b.lastDelta+1)
}

// AddRecord appends r as read from another batch, keeping its offset delta,
// timestamp, attributes, key, value and headers: the compaction rewrite. Its
// offset delta must exceed the last one added; a record from RecordIter
// always satisfies that, so anything else is a bug and panics.
func (b *Builder) AddRecord(r Record) {
	if r.OffsetDelta <= b.lastDelta {
		panic(fmt.Sprintf("record: AddRecord offset delta %d after %d", r.OffsetDelta, b.lastDelta))
	}
	start, size := b.begin(r.Timestamp, r.OffsetDelta, r.Attributes, r.Key, r.Value, r.headerCount, len(r.headers))
	b.records = append(b.records, r.headers...)
	b.end(start, size, r.OffsetDelta)
}

// AddControl appends the one record of a transaction marker: key (version 0,
// type 0 abort or 1 commit), value (version 0, coordinatorEpoch). It sets
// Control and Transactional.
func (b *Builder) AddControl(timestamp int64, commit bool, coordinatorEpoch int32) {
	b.Control, b.Transactional = true, true
	var markerType uint16
	if commit {
		markerType = 1
	}
	key := binary.BigEndian.AppendUint16(make([]byte, 2, 4), markerType)
	value := binary.BigEndian.AppendUint32(make([]byte, 2, 6), uint32(coordinatorEpoch))
	b.Add(timestamp, key, value)
}

// begin writes a record up to its header count; the caller appends
// headerSize bytes of headers and calls end. It returns where the record
// body starts and the body's size.
func (b *Builder) begin(ts int64, delta int32, attrs int8, key, value []byte, headerCount, headerSize int) (start, size int) {
	if b.count == 0 {
		b.baseTS = ts
	}
	b.maxTS = max(b.maxTS, ts)
	size = 1 + sizeVarlong(ts-b.baseTS) + sizeVarint(delta) +
		sizeVarintBytes(key) + sizeVarintBytes(value) +
		sizeVarint(int32(headerCount)) + headerSize
	r := appendVarint(b.records, int32(size))
	start = len(r)
	r = append(r, byte(attrs))
	r = appendVarlong(r, ts-b.baseTS)
	r = appendVarint(r, delta)
	r = appendVarintBytes(r, key)
	r = appendVarintBytes(r, value)
	b.records = appendVarint(r, int32(headerCount))
	return start, size
}

func (b *Builder) end(start, size int, delta int32) {
	if len(b.records)-start != size {
		panic(fmt.Sprintf("record: builder sized a record at %d bytes, wrote %d", size, len(b.records)-start))
	}
	b.count++
	b.lastDelta = delta
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Build returns the batch as a new slice.
func (b *Builder) Build() ([]byte, error) { return b.AppendTo(nil) }

// AppendTo appends the batch to dst, with its CRC.
func (b *Builder) AppendTo(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	var err error
	dst, err = Compress(b.Codec, dst, b.records)
	if err != nil {
		return dst[:start], err
	}
	batch := dst[start:]
	if len(batch)-LogOverhead > MaxBatchSize {
		return dst[:start], fmt.Errorf("record: batch of %d bytes exceeds MaxBatchSize", len(batch))
	}
	attrs := uint16(b.Codec) & attrCodecMask
	maxTS := b.maxTS
	if b.LogAppendTime != 0 {
		attrs |= attrLogAppendTime
		maxTS = b.LogAppendTime
	}
	if b.Transactional {
		attrs |= attrTransactional
	}
	if b.Control {
		attrs |= attrControl
	}
	be := binary.BigEndian
	be.PutUint64(batch[posBaseOffset:], uint64(b.BaseOffset))
	be.PutUint32(batch[posLength:], uint32(len(batch)-LogOverhead))
	be.PutUint32(batch[posLeaderEpoch:], uint32(b.PartitionLeaderEpoch))
	batch[posMagic] = 2
	be.PutUint16(batch[posAttributes:], attrs)
	be.PutUint32(batch[posLastOffsetDelta:], uint32(max(b.lastDelta, b.LastOffsetDelta, 0)))
	be.PutUint64(batch[posBaseTimestamp:], uint64(b.baseTS))
	be.PutUint64(batch[posMaxTimestamp:], uint64(maxTS))
	be.PutUint64(batch[posProducerID:], uint64(b.ProducerID))
	be.PutUint16(batch[posProducerEpoch:], uint16(b.ProducerEpoch))
	be.PutUint32(batch[posBaseSequence:], uint32(b.BaseSequence))
	be.PutUint32(batch[posRecordCount:], uint32(b.count))
	be.PutUint32(batch[posCRC:], ComputeCRC(batch))
	return dst, nil
}

func sizeVarlong(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
