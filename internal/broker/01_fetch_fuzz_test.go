package broker

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzBytes hands out the fuzzer's bytes as fields, zeros once they run out.
type fuzzBytes []byte

func (b *fuzzBytes) take(n int) []byte {
	out := make([]byte, n)
	copy(out, *b)
	*b = (*b)[min(n, len(*b)):]
	return out
}
func (b *fuzzBytes) u8() uint8   { return b.take(1)[0] }
func (b *fuzzBytes) i32() int32  { return int32(binary.BigEndian.Uint32(b.take(4))) }
func (b *fuzzBytes) i64() int64  { return int64(binary.BigEndian.Uint64(b.take(8))) }
func (b *fuzzBytes) small() int8 { return int8(b.u8()) % 8 } // -7..7: near the interesting values

// fuzzFetchRequest builds a fetch request whose every field comes from the
// fuzzer: decoded contents, not bytes, so that the fuzzer explores the
// fetch logic rather than kmsg's decoder (the wire package fuzzes that).
func fuzzFetchRequest(src *fakeSource, b *fuzzBytes) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 4 + int16(b.u8())%(fetchMaxVersion-3)
	req.ReplicaID = int32(b.small())
	req.ReplicaState.ID = int32(b.small())
	req.MinBytes = b.i32()
	req.MaxBytes = b.i32()
	req.MaxWaitMillis = b.i32()
	req.IsolationLevel = int8(b.u8())
	req.SessionID = b.i32()
	req.SessionEpoch = int32(b.small())
	topics := []string{"t", "nope", ""}
	for n := b.u8() % 16; n > 0; n-- {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topics[int(b.u8())%len(topics)]
		rt.TopicID = src.ids[rt.Topic]
		if b.u8()%8 == 0 {
			copy(rt.TopicID[:], b.take(16))
		}
		for m := b.u8() % 4; m > 0; m-- {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = int32(b.small())
			rp.FetchOffset = int64(b.small())
			if b.u8()%8 == 0 {
				rp.FetchOffset = b.i64()
			}
			rp.PartitionMaxBytes = b.i32()
			rp.CurrentLeaderEpoch = int32(b.small())
			rp.LastFetchedEpoch = int32(b.small())
			rp.LogStartOffset = b.i64()
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	for n := b.u8() % 4; n > 0; n-- {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic = topics[int(b.u8())%len(topics)]
		ft.TopicID = src.ids[ft.Topic]
		for m := b.u8() % 4; m > 0; m-- {
			ft.Partitions = append(ft.Partitions, int32(b.small()))
		}
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

// FuzzFetchRequest runs fuzzed requests through the whole fetch path,
// sessions included (the cache lives across inputs, and some inputs
// continue a live session), and checks that nothing panics and that the
// response decodes.
func FuzzFetchRequest(f *testing.F) {
	src := newFakeSource()
	ps := src.addTopic(f, "t", 2)
	ps[0].appendBatch(f, 3, 20, 100)
	ps[0].appendBatch(f, 1, 200, 200)
	ps[1].epoch = 2
	ps[1].appendBatch(f, 2, 10, 100)
	ps[1].logStart = 1
	for _, seed := range [][]byte{
		{},
		{8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 1},
		{12, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 2, 1, 3, 0, 0, 0, 2, 0},
		{14, 0xff, 0xff, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 5, 1, 1, 0, 1, 1, 1, 1, 1, 1},
	} {
		f.Add(seed)
	}
	cache := &fetchSessionCache{}
	// A context that has ended: a request that would park returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.Fuzz(func(t *testing.T, data []byte) {
		b := fuzzBytes(data)
		req := fuzzFetchRequest(src, &b)
		if b.u8()%2 == 1 {
			// Continue a live session, if there is one.
			cache.mu.Lock()
			for id, s := range cache.sessions {
				req.SessionID, req.SessionEpoch = id, s.nextEpoch
				break
			}
			cache.mu.Unlock()
		}
		body := materialize(t, fetch(ctx, src, cache, defaultFetchMaxBytes, req).spliced())
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = req.Version
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("response does not decode: %v", err)
		}
	})
}
