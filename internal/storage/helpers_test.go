package storage

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// makeBatch builds a valid uncompressed v2 batch of n records with values
// of valueSize bytes, timestamps ts, ts+1, ...; baseOffset 0, epoch -1.
// seed varies the values so that batches differ.
func makeBatch(n, valueSize int, ts int64, seed byte) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		v := bytes.Repeat([]byte{seed + byte(i)}, valueSize)
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Value: v}
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1) // placeholder length varint is 1 byte (0)
		body = r.AppendTo(nil)
		recs = append(recs, body...)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts + int64(n) - 1,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(n),
		Records:              recs,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-record.LogOverhead))
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	if _, err := record.Validate(b); err != nil {
		panic(err)
	}
	return b
}

// testConfig is a small-segment, page-cache config for fast tests.
func testConfig() Config {
	return Config{SegmentBytes: 16 << 10, IndexIntervalBytes: 256, FlushMessages: 1 << 62}
}

func mustOpen(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte, opts AppendOptions) AppendResult {
	t.Helper()
	res, err := l.Append(b, opts)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

func leader(epoch int32) AppendOptions { return AppendOptions{AssignOffsets: true, LeaderEpoch: epoch} }

// sliceBytes reads a Slice with positioned reads.
func sliceBytes(t testing.TB, sl Slice) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := sl.WriteTo(&buf); err != nil {
		t.Fatalf("reading slice: %v", err)
	}
	return buf.Bytes()
}

// readAll reads every batch from offset to the end through Read and
// returns the concatenated bytes.
func readAll(t testing.TB, l *Log, from int64) []byte {
	t.Helper()
	var out []byte
	off := from
	for off < l.LogEndOffset() {
		sl, err := l.Read(off, 1<<20, 1<<62)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if sl.Size == 0 {
			t.Fatalf("Read(%d): empty before log end %d", off, l.LogEndOffset())
		}
		b := sliceBytes(t, sl)
		out = append(out, b...)
		off = lastNext(t, b)
	}
	return out
}

// lastNext walks whole batches in b and returns the offset after the last.
func lastNext(t testing.TB, b []byte) int64 {
	t.Helper()
	var next int64 = -1
	for len(b) > 0 {
		h, err := record.Validate(b[:min(len(b), headerSizeOf(b))])
		if err != nil {
			t.Fatalf("bad batch in read: %v", err)
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next
}

func headerSizeOf(b []byte) int {
	h, err := record.ReadHeader(b)
	if err != nil {
		return len(b)
	}
	return h.Size()
}

var _ io.Writer = (*bytes.Buffer)(nil)
