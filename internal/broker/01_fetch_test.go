package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reqPart is one partition of a test fetch request.
type reqPart struct {
	topic     string
	partition int32
	offset    int64
	maxBytes  int32
	epoch     int32 // current leader epoch; -1 unknown
}

func part(topic string, partition int32, offset int64, maxBytes int32) reqPart {
	return reqPart{topic: topic, partition: partition, offset: offset, maxBytes: maxBytes, epoch: -1}
}

// fetchReq builds a sessionless fetch request at version v.
func fetchReq(src *fakeSource, v int16, minBytes, maxBytes, maxWaitMs int32, parts ...reqPart) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = v
	req.MinBytes, req.MaxBytes, req.MaxWaitMillis = minBytes, maxBytes, maxWaitMs
	req.SessionEpoch = -1
	addFetchParts(src, req, parts...)
	return req
}

func addFetchParts(src *fakeSource, req *kmsg.FetchRequest, parts ...reqPart) {
	for _, p := range parts {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != p.topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = p.topic
			rt.TopicID = src.ids[p.topic]
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p.partition, p.offset, p.maxBytes, p.epoch
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
}

// doFetch runs a fetch and decodes its encoded response, so that every
// test also checks the encoding.
func doFetch(t testing.TB, ctx context.Context, src partitionSource, cache *fetchSessionCache, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	t.Helper()
	body := materialize(t, fetch(ctx, src, cache, defaultFetchMaxBytes, req).spliced())
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decoding the response: %v", err)
	}
	return resp
}

// batchBases returns the base offsets of the batches in b.
func batchBases(t testing.TB, b []byte) []int64 {
	t.Helper()
	var bases []int64
	for len(b) > 0 {
		h, err := record.ReadHeader(b)
		if err == nil && h.Size() > len(b) {
			err = record.ErrShort
		} else if err == nil {
			_, err = record.Validate(b[:h.Size()])
		}
		if err != nil {
			t.Fatalf("bad batch in response: %v", err)
		}
		bases = append(bases, h.BaseOffset)
		b = b[h.Size():]
	}
	return bases
}

type partView struct {
	err       int16
	hw, start int64
	bases     []int64
}

// flatten returns the response's partitions as "topic/partition" -> view, in order.
func flatten(t testing.TB, resp *kmsg.FetchResponse) ([]string, map[string]partView) {
	t.Helper()
	var order []string
	views := map[string]partView{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			key := rt.Topic + "/" + string(rune('0'+rp.Partition))
			order = append(order, key)
			views[key] = partView{err: rp.ErrorCode, hw: rp.HighWatermark, start: rp.LogStartOffset, bases: batchBases(t, rp.RecordBatches)}
		}
	}
	return order, views
}

func equalInt64s(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFetchReadsOnlyBelowHighWatermark(t *testing.T) {
	src := newFakeSource()
	p := src.addTopic(t, "t", 1)[0]
	p.holdHW = true
	p.appendBatch(t, 2, 10, 100)
	p.appendBatch(t, 2, 10, 200)
	p.setHW(2)
	for v := int16(4); v <= fetchMaxVersion; v++ {
		resp := doFetch(t, context.Background(), src, &fetchSessionCache{}, fetchReq(src, v, 1, 1<<20, 0, part("t", 0, 0, 1<<20)))
		rp := resp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 || rp.HighWatermark != 2 || rp.LastStableOffset != 2 || rp.LogStartOffset != 0 && v >= 5 {
			t.Fatalf("v%d: partition %+v", v, rp)
		}
		if bases := batchBases(t, rp.RecordBatches); !equalInt64s(bases, []int64{0}) {
			t.Fatalf("v%d: batches at %v, want only the committed one at 0", v, bases)
		}
		if rp.AbortedTransactions != nil {
			t.Fatalf("v%d: READ_UNCOMMITTED got non-null aborted transactions", v)
		}
	}
	// A fetch at the high watermark (below the log end) is valid and empty.
	resp := doFetch(t, context.Background(), src, &fetchSessionCache{}, fetchReq(src, 11, 1, 1<<20, 0, part("t", 0, 2, 1<<20)))
	if rp := resp.Topics[0].Partitions[0]; rp.ErrorCode != 0 || len(rp.RecordBatches) != 0 {
		t.Fatalf("fetch at the high watermark: %+v", rp)
	}
}

func TestFetchReadCommittedHasEmptyAbortedTransactions(t *testing.T) {
	src := newFakeSource()
	src.addTopic(t, "t", 1)[0].appendBatch(t, 1, 10, 100)
	req := fetchReq(src, 11, 1, 1<<20, 0, part("t", 0, 0, 1<<20))
	req.IsolationLevel = 1
	rp := doFetch(t, context.Background(), src, &fetchSessionCache{}, req).Topics[0].Partitions[0]
	if rp.AbortedTransactions == nil || len(rp.AbortedTransactions) != 0 {
		t.Fatalf("aborted transactions = %#v, want empty and non-null", rp.AbortedTransactions)
	}
}

// Batches of about 100 bytes each; the limits are Kafka's.
func TestFetchByteLimits(t *testing.T) {
	src := newFakeSource()
	ps := src.addTopic(t, "t", 3)
	for _, p := range ps {
		for range 3 {
			p.appendBatch(t, 1, 30, 100)
		}
	}
	size := int32(ps[0].batches[0].size)
	cases := []struct {
		name     string
		maxBytes int32
		parts    []reqPart
		want     map[string][]int64
	}{
		{"all fits", 1 << 20, []reqPart{part("t", 0, 0, 1<<20), part("t", 1, 1, 1<<20)},
			map[string][]int64{"t/0": {0, 1, 2}, "t/1": {1, 2}}},
		{"partition_max_bytes cuts at whole batches", 1 << 20, []reqPart{part("t", 0, 0, 2*size+size/2), part("t", 1, 0, size)},
			map[string][]int64{"t/0": {0, 1}, "t/1": {0}}},
		{"first partition returns a batch larger than its limit", 1 << 20, []reqPart{part("t", 0, 0, 10), part("t", 1, 0, 10)},
			map[string][]int64{"t/0": {0}, "t/1": nil}},
		{"first partition with data may be later in the request", 1 << 20, []reqPart{part("t", 0, 3, 10), part("t", 1, 0, 10)},
			map[string][]int64{"t/0": nil, "t/1": {0}}},
		{"max_bytes smaller than one batch still returns one", 10, []reqPart{part("t", 0, 0, 1<<20), part("t", 1, 0, 1<<20)},
			map[string][]int64{"t/0": {0}, "t/1": nil}},
		{"max_bytes spans partitions", 2 * size, []reqPart{part("t", 0, 0, 1<<20), part("t", 1, 0, 1<<20), part("t", 2, 0, 1<<20)},
			map[string][]int64{"t/0": {0, 1}, "t/1": nil, "t/2": nil}},
		{"what is left of max_bytes goes to the next", 3*size + size/2, []reqPart{part("t", 0, 1, 1<<20), part("t", 1, 0, 1<<20), part("t", 2, 0, 1<<20)},
			map[string][]int64{"t/0": {1, 2}, "t/1": {0}, "t/2": nil}},
		{"zero partition_max_bytes", 1 << 20, []reqPart{part("t", 0, 0, 1<<20), part("t", 1, 0, 0)},
			map[string][]int64{"t/0": {0, 1, 2}, "t/1": nil}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := doFetch(t, context.Background(), src, &fetchSessionCache{}, fetchReq(src, 11, 1, c.maxBytes, 0, c.parts...))
			order, views := flatten(t, resp)
			if len(order) != len(c.parts) {
				t.Fatalf("response has %v, want %d partitions", order, len(c.parts))
			}
			for key, want := range c.want {
				v := views[key]
				if v.err != 0 || v.hw != 3 || !equalInt64s(v.bases, want) {
					t.Errorf("%s: %+v, want batches %v and hw 3", key, v, want)
				}
			}
		})
	}
}

func TestFetchPartitionErrors(t *testing.T) {
	src := newFakeSource()
	ps := src.addTopic(t, "t", 4)
	for _, p := range ps {
		p.appendBatch(t, 5, 10, 100)
		p.epoch = 3
	}
	ps[0].logStart = 2
	ps[1].readErr = errors.New("disk on fire")
	ps[2].follower = true
	withEpoch := func(p reqPart, e int32) reqPart { p.epoch = e; return p }
	cases := []struct {
		name string
		v    int16
		p    reqPart
		want int16
	}{
		{"below log start", 11, part("t", 0, 1, 1<<20), kerr.OffsetOutOfRange.Code},
		{"above log end", 11, part("t", 3, 6, 1<<20), kerr.OffsetOutOfRange.Code},
		{"at log end", 11, part("t", 3, 5, 1<<20), 0},
		{"at log start", 11, part("t", 0, 2, 1<<20), 0},
		{"negative offset", 11, part("t", 3, -1, 1<<20), kerr.OffsetOutOfRange.Code},
		{"unknown partition", 11, part("t", 9, 0, 1<<20), kerr.UnknownTopicOrPartition.Code},
		{"unknown topic", 11, part("nope", 0, 0, 1<<20), kerr.UnknownTopicOrPartition.Code},
		{"unknown topic id", 13, part("nope", 0, 0, 1<<20), kerr.UnknownTopicID.Code},
		{"unknown partition by id", 13, part("t", 9, 0, 1<<20), kerr.UnknownTopicOrPartition.Code},
		{"storage error", 11, part("t", 1, 0, 1<<20), kerr.KafkaStorageError.Code},
		{"not the leader", 11, part("t", 2, 0, 1<<20), kerr.NotLeaderForPartition.Code},
		{"fenced leader epoch", 11, withEpoch(part("t", 3, 0, 1<<20), 2), kerr.FencedLeaderEpoch.Code},
		{"unknown leader epoch", 11, withEpoch(part("t", 3, 0, 1<<20), 4), kerr.UnknownLeaderEpoch.Code},
		{"current leader epoch", 11, withEpoch(part("t", 3, 0, 1<<20), 3), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := doFetch(t, context.Background(), src, &fetchSessionCache{}, fetchReq(src, c.v, 1, 1<<20, 0, c.p))
			rp := resp.Topics[0].Partitions[0]
			if rp.ErrorCode != c.want {
				t.Fatalf("error %d, want %d", rp.ErrorCode, c.want)
			}
			if c.want != 0 && (rp.HighWatermark != -1 || len(rp.RecordBatches) != 0) {
				t.Fatalf("error partition carries data: %+v", rp)
			}
			if c.v >= 13 && rp.Partition != c.p.partition {
				t.Fatalf("partition %d, want %d", rp.Partition, c.p.partition)
			}
		})
	}
	// A follower replica id is refused until replication exists.
	req := fetchReq(src, 11, 1, 1<<20, 0, part("t", 3, 0, 1<<20))
	req.ReplicaID = 2
	if rp := doFetch(t, context.Background(), src, &fetchSessionCache{}, req).Topics[0].Partitions[0]; rp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("follower fetch: error %d", rp.ErrorCode)
	}
}

func TestFetchDivergingEpoch(t *testing.T) {
	src := newFakeSource()
	p := src.addTopic(t, "t", 1)[0]
	p.appendBatch(t, 2, 10, 100) // epoch 0: offsets 0-1
	p.epoch = 2
	p.appendBatch(t, 2, 10, 100) // epoch 2: offsets 2-3
	req := fetchReq(src, 12, 1, 1<<20, 0, part("t", 0, 3, 1<<20))
	req.Topics[0].Partitions[0].LastFetchedEpoch = 1 // a fetcher that saw an epoch 1 up to offset 3
	rp := doFetch(t, context.Background(), src, &fetchSessionCache{}, req).Topics[0].Partitions[0]
	if rp.ErrorCode != 0 || rp.DivergingEpoch.Epoch != 0 || rp.DivergingEpoch.EndOffset != 2 || len(rp.RecordBatches) != 0 {
		t.Fatalf("diverging fetch: %+v", rp)
	}
	req.Topics[0].Partitions[0].LastFetchedEpoch = 2
	rp = doFetch(t, context.Background(), src, &fetchSessionCache{}, req).Topics[0].Partitions[0]
	if rp.ErrorCode != 0 || rp.DivergingEpoch.Epoch != -1 || !equalInt64s(batchBases(t, rp.RecordBatches), []int64{2}) {
		t.Fatalf("consistent fetch: %+v", rp)
	}
}

// waitFor polls cond with a deadline; it is for test goroutines observing
// state the code under test does not signal.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFetchLongPollWakesOnAppend(t *testing.T) {
	src := newFakeSource()
	ps := src.addTopic(t, "t", 2)
	ps[0].appendBatch(t, 1, 10, 100)
	done := make(chan *kmsg.FetchResponse, 1)
	go func() {
		// min_bytes above what is there: the fetch parks for up to 10 minutes.
		req := fetchReq(src, 11, 200, 1<<20, 600_000, part("t", 0, 0, 1<<20), part("t", 1, 0, 1<<20))
		done <- doFetch(t, context.Background(), src, &fetchSessionCache{}, req)
	}()
	waitFor(t, "the fetch to park", func() bool { return ps[1].watchCount() > 0 })
	select {
	case <-done:
		t.Fatal("fetch answered before min_bytes were available")
	default:
	}
	ps[1].appendBatch(t, 3, 100, 100)
	select {
	case resp := <-done:
		_, views := flatten(t, resp)
		if !equalInt64s(views["t/0"].bases, []int64{0}) || !equalInt64s(views["t/1"].bases, []int64{0}) {
			t.Fatalf("after wake-up: %+v", views)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fetch not woken by the append")
	}
	for _, p := range ps {
		if n := len(p.waiters); n != 0 {
			t.Fatalf("%d waiters left registered", n)
		}
	}
}

func TestFetchLongPollEndsAtMaxWaitOrContext(t *testing.T) {
	src := newFakeSource()
	p := src.addTopic(t, "t", 1)[0]
	resp := doFetch(t, context.Background(), src, &fetchSessionCache{}, fetchReq(src, 11, 1, 1<<20, 5, part("t", 0, 0, 1<<20)))
	if rp := resp.Topics[0].Partitions[0]; rp.ErrorCode != 0 || len(rp.RecordBatches) != 0 {
		t.Fatalf("after max_wait: %+v", rp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		doFetch(t, ctx, src, &fetchSessionCache{}, fetchReq(src, 11, 1, 1<<20, 600_000, part("t", 0, 0, 1<<20)))
		close(done)
	}()
	waitFor(t, "the fetch to park", func() bool { return p.watchCount() > 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("fetch did not end with its context")
	}
}

func TestFetchMaxBytesCapsTheRequest(t *testing.T) {
	src := newFakeSource()
	p := src.addTopic(t, "t", 1)[0]
	for range 4 {
		p.appendBatch(t, 1, 2000, 100) // about 2 KiB each
	}
	var fs fetchState
	if fs.fetchMaxBytes() != defaultFetchMaxBytes {
		t.Fatalf("default fetch.max.bytes %d", fs.fetchMaxBytes())
	}
	fs.setFetchMaxBytes(int32(2*p.batches[0].size + 10))
	req := fetchReq(src, 11, 1, 1<<30, 0, part("t", 0, 0, 1<<30))
	body := materialize(t, fetch(context.Background(), src, &fs.fetchSessions, fs.fetchMaxBytes(), req).spliced())
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if bases := batchBases(t, resp.Topics[0].Partitions[0].RecordBatches); !equalInt64s(bases, []int64{0, 1}) {
		t.Fatalf("batches %v, want the two that fit fetch.max.bytes", bases)
	}
}
