package broker

// In-memory stand-ins for the topic registry and partitions, so the read
// side (limits, sessions, long poll, encoding) is tested without the
// storage engine. The fake log keeps real v2 batches in a file, because
// fetch responses carry file ranges.

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/twmb/franz-go/pkg/kbin"
)

// makeBatch returns one v2 batch of n records with values of valueSize
// bytes, base offset 0, timestamps ts, ts+1, ...
func makeBatch(n, valueSize int, ts int64) []byte {
	var recs []byte
	for i := range n {
		var body []byte
		body = append(body, 0)                    // attributes
		body = kbin.AppendVarlong(body, int64(i)) // timestamp delta
		body = kbin.AppendVarint(body, int32(i))  // offset delta
		body = kbin.AppendVarint(body, -1)        // null key
		body = kbin.AppendVarint(body, int32(valueSize))
		for j := range valueSize {
			body = append(body, byte('a'+(i+j)%26))
		}
		body = kbin.AppendVarint(body, 0) // no headers
		recs = kbin.AppendVarint(recs, int32(len(body)))
		recs = append(recs, body...)
	}
	b := make([]byte, record.HeaderSize, record.HeaderSize+len(recs))
	binary.BigEndian.PutUint32(b[8:], uint32(record.HeaderSize-record.LogOverhead+len(recs)))
	b[16] = 2                                                 // magic
	binary.BigEndian.PutUint32(b[23:], uint32(n-1))           // lastOffsetDelta
	binary.BigEndian.PutUint64(b[27:], uint64(ts))            // baseTimestamp
	binary.BigEndian.PutUint64(b[35:], uint64(ts+int64(n)-1)) // maxTimestamp
	binary.BigEndian.PutUint64(b[43:], ^uint64(0))            // producerId -1
	binary.BigEndian.PutUint16(b[51:], 0xffff)                // producerEpoch -1
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)            // baseSequence -1
	binary.BigEndian.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

type fakeBatch struct {
	base, last int64
	pos, size  int64
	epoch      int32
	maxTs      int64
}

// fakePartition is a leader partition whose log is a file of batches.
// Its high watermark equals its log end unless holdHW is set.
type fakePartition struct {
	mu       sync.Mutex
	file     *os.File
	batches  []fakeBatch
	logStart int64
	logEnd   int64
	hw       int64
	holdHW   bool // appends do not move the high watermark
	epoch    int32
	follower bool // this replica is not the leader
	readErr  error
	waiters  map[*partition.Waiter]int
	watches  int // Watch calls, for tests that wait until a fetch parks
}

func newFakePartition(t testing.TB) *fakePartition {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fakePartition{file: f, waiters: map[*partition.Waiter]int{}}
}

// appendBatch appends a batch of n records and wakes the waiters; it
// returns the batch's base offset.
func (p *fakePartition) appendBatch(t testing.TB, n, valueSize int, ts int64) int64 {
	b := makeBatch(n, valueSize, ts)
	p.mu.Lock()
	base := p.logEnd
	record.SetBaseOffset(b, base)
	record.SetPartitionLeaderEpoch(b, p.epoch)
	var pos int64
	if len(p.batches) > 0 {
		last := p.batches[len(p.batches)-1]
		pos = last.pos + last.size
	}
	if _, err := p.file.WriteAt(b, pos); err != nil {
		p.mu.Unlock()
		t.Fatal(err)
	}
	p.batches = append(p.batches, fakeBatch{base: base, last: base + int64(n) - 1, pos: pos, size: int64(len(b)), epoch: p.epoch, maxTs: ts + int64(n) - 1})
	p.logEnd = base + int64(n)
	if !p.holdHW {
		p.hw = p.logEnd
	}
	p.wakeLocked()
	p.mu.Unlock()
	return base
}

func (p *fakePartition) setHW(hw int64) {
	p.mu.Lock()
	p.hw = hw
	p.wakeLocked()
	p.mu.Unlock()
}

func (p *fakePartition) wakeLocked() {
	for w := range p.waiters {
		select {
		case w.C <- struct{}{}:
		default:
		}
	}
}

func (p *fakePartition) watchCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.watches
}

func (p *fakePartition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hw
}
func (p *fakePartition) LastStableOffset() int64 { return p.HighWatermark() }
func (p *fakePartition) LogStartOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logStart
}
func (p *fakePartition) LogEndOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logEnd
}
func (p *fakePartition) IsLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.follower
}
func (p *fakePartition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// Read follows storage.Log.Read: whole batches from the one holding
// offset, at most maxBytes but at least one, none at or past upTo.
func (p *fakePartition) Read(offset int64, maxBytes int32, upTo int64) (storage.Slice, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readErr != nil {
		return storage.Slice{}, p.readErr
	}
	if offset < p.logStart || offset > p.logEnd {
		return storage.Slice{}, storage.ErrOffsetOutOfRange
	}
	i := sort.Search(len(p.batches), func(i int) bool { return p.batches[i].last >= offset })
	s := storage.Slice{File: p.file}
	for ; i < len(p.batches) && p.batches[i].base < upTo; i++ {
		b := p.batches[i]
		if s.Size == 0 {
			s.Pos = b.pos
		} else if s.Size+b.size > int64(maxBytes) {
			break
		}
		s.Size += b.size
	}
	return s, nil
}

func (p *fakePartition) Watch(w *partition.Waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiters[w]++
	p.watches++
}

func (p *fakePartition) Unwatch(w *partition.Waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiters[w]--; p.waiters[w] <= 0 {
		delete(p.waiters, w)
	}
}

func (p *fakePartition) DeleteRecordsBefore(offset int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if offset == -1 {
		offset = p.hw
	}
	if offset < 0 || offset > p.hw {
		return 0, storage.ErrOffsetOutOfRange
	}
	p.logStart = max(p.logStart, offset)
	return p.logStart, nil
}

func (p *fakePartition) OffsetForTimestamp(ts int64) (int64, int64, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.batches {
		if b.last < p.logStart || b.maxTs < ts {
			continue
		}
		// Record timestamps in makeBatch are base+delta, one per offset.
		first := b.maxTs - (b.last - b.base)
		off := b.base + max(ts-first, 0)
		off = max(off, p.logStart)
		return off, first + (off - b.base), true, nil
	}
	return 0, 0, false, nil
}

func (p *fakePartition) MaxTimestamp() (int64, int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ts, off := int64(-1), int64(-1)
	for _, b := range p.batches {
		if b.maxTs > ts {
			ts, off = b.maxTs, b.last
		}
	}
	return ts, off, nil
}

func (p *fakePartition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	found := int32(-1)
	for _, b := range p.batches {
		if b.epoch <= epoch {
			found = b.epoch
		}
	}
	if found < 0 {
		return -1, -1
	}
	for _, b := range p.batches {
		if b.epoch > found {
			return found, b.base
		}
	}
	return found, p.logEnd
}

// fakeSource is a topic registry of fake partitions.
type fakeSource struct {
	topics map[string][]*fakePartition
	ids    map[string][16]byte
}

func newFakeSource() *fakeSource {
	return &fakeSource{topics: map[string][]*fakePartition{}, ids: map[string][16]byte{}}
}

func (s *fakeSource) addTopic(t testing.TB, name string, partitions int) []*fakePartition {
	ps := make([]*fakePartition, partitions)
	for i := range ps {
		ps[i] = newFakePartition(t)
	}
	s.topics[name] = ps
	s.ids[name] = [16]byte{byte(len(s.ids) + 1), 0xAA}
	return ps
}

func (s *fakeSource) servedPartition(topic string, index int32) (servedPartition, error) {
	ps := s.topics[topic]
	if index < 0 || int(index) >= len(ps) {
		return nil, errNoPartition
	}
	return ps[index], nil
}

func (s *fakeSource) topicNameByID(id [16]byte) (string, bool) {
	for name, tid := range s.ids {
		if tid == id {
			return name, true
		}
	}
	return "", false
}

func (s *fakeSource) topicID(name string) ([16]byte, bool) {
	id, ok := s.ids[name]
	return id, ok
}
