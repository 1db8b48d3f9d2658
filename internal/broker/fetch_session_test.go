package broker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionReq builds a fetch request in session id at epoch.
func sessionReq(src *fakeSource, v int16, id, epoch int32, parts ...reqPart) *kmsg.FetchRequest {
	req := fetchReq(src, v, 0, 1<<20, 0, parts...)
	req.SessionID, req.SessionEpoch = id, epoch
	return req
}

func forget(src *fakeSource, req *kmsg.FetchRequest, topic string, partitions ...int32) {
	req.ForgottenTopics = append(req.ForgottenTopics, kmsg.FetchRequestForgottenTopic{Topic: topic, TopicID: src.ids[topic], Partitions: partitions})
}

func TestFetchSessionLifecycle(t *testing.T) {
	for _, v := range []int16{7, 12, 13, fetchMaxVersion} {
		t.Run("v"+string(rune('0'+v/10))+string(rune('0'+v%10)), func(t *testing.T) {
			src := newFakeSource()
			ps := src.addTopic(t, "t", 3)
			ps[0].appendBatch(t, 2, 10, 100)
			cache := &fetchSessionCache{}
			ctx := context.Background()

			// Full request opening a session: every partition is answered.
			resp := doFetch(t, ctx, src, cache, sessionReq(src, v, 0, 0, part("t", 0, 0, 1<<20), part("t", 1, 0, 1<<20)))
			order, views := flatten(t, resp)
			id := resp.SessionID
			if resp.ErrorCode != 0 || id == 0 || len(order) != 2 || !equalInt64s(views[nameFor(v, "t/0")].bases, []int64{0}) {
				t.Fatalf("full fetch: error %d session %d partitions %v", resp.ErrorCode, id, order)
			}

			// Incremental, nothing new: the fetcher moved past the data, so t/0 has
			// no records and its high watermark is what it was told.
			resp = doFetch(t, ctx, src, cache, sessionReq(src, v, id, 1, part("t", 0, 2, 1<<20)))
			if order, _ := flatten(t, resp); resp.ErrorCode != 0 || resp.SessionID != id || len(order) != 0 {
				t.Fatalf("idle incremental fetch: error %d session %d partitions %v", resp.ErrorCode, resp.SessionID, order)
			}

			// A produce to t/1: only t/1 is answered, with its records.
			ps[1].appendBatch(t, 1, 10, 100)
			resp = doFetch(t, ctx, src, cache, sessionReq(src, v, id, 2))
			order, views = flatten(t, resp)
			if !slices.Equal(order, []string{nameFor(v, "t/1")}) || !equalInt64s(views[nameFor(v, "t/1")].bases, []int64{0}) {
				t.Fatalf("incremental after produce: %v %+v", order, views)
			}

			// The fetcher did not move t/1's offset: the same records come again,
			// as in Kafka (the session keeps the last offset the fetcher sent).
			resp = doFetch(t, ctx, src, cache, sessionReq(src, v, id, 3))
			if order, _ := flatten(t, resp); len(order) != 1 {
				t.Fatalf("unmoved offset: got %v", order)
			}

			// Add t/2, forget t/0: t/2 appears once (new partitions always do).
			req := sessionReq(src, v, id, 4, part("t", 1, 1, 1<<20), part("t", 2, 0, 1<<20))
			forget(src, req, "t", 0)
			resp = doFetch(t, ctx, src, cache, req)
			if order, _ := flatten(t, resp); !slices.Equal(order, []string{nameFor(v, "t/2")}) {
				t.Fatalf("after add and forget: %v", order)
			}
			// t/0 is no longer in the session: a produce to it is not reported.
			ps[0].appendBatch(t, 1, 10, 100)
			resp = doFetch(t, ctx, src, cache, sessionReq(src, v, id, 5))
			if order, _ := flatten(t, resp); len(order) != 0 {
				t.Fatalf("forgotten partition still answered: %v", order)
			}

			// Wrong epoch, unknown id.
			if resp := doFetch(t, ctx, src, cache, sessionReq(src, v, id, 5)); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || len(resp.Topics) != 0 {
				t.Fatalf("replayed epoch: error %d", resp.ErrorCode)
			}
			if resp := doFetch(t, ctx, src, cache, sessionReq(src, v, id+1, 1)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("unknown session: error %d", resp.ErrorCode)
			}
			// The epoch error did not consume the epoch.
			if resp := doFetch(t, ctx, src, cache, sessionReq(src, v, id, 6)); resp.ErrorCode != 0 {
				t.Fatalf("next epoch after an error: error %d", resp.ErrorCode)
			}

			// A final full request closes the session and is answered without one.
			resp = doFetch(t, ctx, src, cache, sessionReq(src, v, id, -1, part("t", 0, 0, 1<<20)))
			if resp.SessionID != 0 || len(resp.Topics) != 1 || cache.len() != 0 {
				t.Fatalf("closing fetch: session %d, %d topics, %d sessions cached", resp.SessionID, len(resp.Topics), cache.len())
			}
			if resp := doFetch(t, ctx, src, cache, sessionReq(src, v, id, 7)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("closed session: error %d", resp.ErrorCode)
			}
		})
	}
}

// nameFor is the "topic/partition" key flatten gives at version v: topics
// have no names from v13 on.
func nameFor(v int16, key string) string {
	if v >= 13 {
		return key[1:]
	}
	return key
}

func TestFetchSessionReportsChangedHighWatermarkAndErrors(t *testing.T) {
	src := newFakeSource()
	ps := src.addTopic(t, "t", 2)
	ps[0].holdHW = true
	ps[0].appendBatch(t, 1, 10, 100)
	ps[0].appendBatch(t, 1, 10, 100)
	ps[0].setHW(1)
	cache := &fetchSessionCache{}
	ctx := context.Background()
	resp := doFetch(t, ctx, src, cache, sessionReq(src, 12, 0, 0, part("t", 0, 1, 1<<20), part("t", 1, 5, 1<<20)))
	id := resp.SessionID
	if _, views := flatten(t, resp); views["t/1"].err != kerr.OffsetOutOfRange.Code {
		t.Fatalf("full fetch: %+v", views)
	}
	// t/1's error is reported every time; t/0 not until its high watermark moves.
	resp = doFetch(t, ctx, src, cache, sessionReq(src, 12, id, 1))
	if order, _ := flatten(t, resp); !slices.Equal(order, []string{"t/1"}) {
		t.Fatalf("got %v", order)
	}
	ps[0].setHW(2)
	resp = doFetch(t, ctx, src, cache, sessionReq(src, 12, id, 2))
	order, views := flatten(t, resp)
	if !slices.Equal(order, []string{"t/0", "t/1"}) || views["t/0"].hw != 2 || !equalInt64s(views["t/0"].bases, []int64{1}) {
		t.Fatalf("after the high watermark moved: %v %+v", order, views)
	}
}

func TestFetchSessionRotatesPartitionsWithData(t *testing.T) {
	src := newFakeSource()
	ps := src.addTopic(t, "t", 2)
	for _, p := range ps {
		p.appendBatch(t, 1, 10, 100)
	}
	cache := &fetchSessionCache{}
	ctx := context.Background()
	// max_bytes of one byte: only the first partition in session order gets records.
	req := sessionReq(src, 12, 0, 0, part("t", 0, 0, 1<<20), part("t", 1, 0, 1<<20))
	req.MaxBytes = 1
	resp := doFetch(t, ctx, src, cache, req)
	id := resp.SessionID
	if _, views := flatten(t, resp); len(views["t/0"].bases) != 1 || len(views["t/1"].bases) != 0 {
		t.Fatalf("full fetch: %+v", views)
	}
	// The session keeps request order, so t/0 is served again (its offset
	// did not move), and having returned data it goes to the back.
	req = sessionReq(src, 12, id, 1)
	req.MaxBytes = 1
	order, views := flatten(t, doFetch(t, ctx, src, cache, req))
	if !slices.Equal(order, []string{"t/0"}) || len(views["t/0"].bases) != 1 {
		t.Fatalf("first incremental fetch: %v %+v", order, views)
	}
	req = sessionReq(src, 12, id, 2)
	req.MaxBytes = 1
	order, views = flatten(t, doFetch(t, ctx, src, cache, req))
	if !slices.Equal(order, []string{"t/1"}) || len(views["t/1"].bases) != 1 {
		t.Fatalf("second incremental fetch did not serve t/1 first: %v %+v", order, views)
	}
}

func TestFetchSessionTopicIDMismatch(t *testing.T) {
	src := newFakeSource()
	src.addTopic(t, "t", 1)
	cache := &fetchSessionCache{}
	id := doFetch(t, context.Background(), src, cache, sessionReq(src, 12, 0, 0, part("t", 0, 0, 1<<20))).SessionID
	if resp := doFetch(t, context.Background(), src, cache, sessionReq(src, 13, id, 1)); resp.ErrorCode != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("error %d", resp.ErrorCode)
	}
}

func TestFetchSessionsBelowVersion7(t *testing.T) {
	src := newFakeSource()
	src.addTopic(t, "t", 1)
	cache := &fetchSessionCache{}
	// Fields of v7+ are ignored below it, even if set.
	resp := doFetch(t, context.Background(), src, cache, sessionReq(src, 6, 0, 0, part("t", 0, 0, 1<<20)))
	if resp.SessionID != 0 || cache.len() != 0 || len(resp.Topics) != 1 {
		t.Fatalf("v6 fetch made a session")
	}
}

// The cache's admission and eviction, driven directly with a fake clock.
func TestFetchSessionCacheEviction(t *testing.T) {
	now := time.Unix(1000, 0)
	cache := &fetchSessionCache{now: func() time.Time { return now }}
	cache.setSlots(2)
	open := func(size int, follower bool) int32 {
		fc := fetchContext{openSession: true, privileged: follower}
		for i := range size {
			fc.targets = append(fc.targets, fetchTarget{key: fetchKey{topic: "t", partition: int32(i)}})
		}
		cache.finish(&fc, make([]fetchResult, size))
		return fc.sessionID
	}
	has := func(id int32) bool {
		cache.mu.Lock()
		defer cache.mu.Unlock()
		return cache.sessions[id] != nil
	}
	small, follower := open(2, false), open(1, true)
	if small == 0 || follower == 0 {
		t.Fatal("sessions not created with free slots")
	}
	if id := open(2, false); id != 0 {
		t.Fatal("a session no larger than the smallest evicted it")
	}
	big := open(3, false)
	if big == 0 || has(small) || !has(follower) {
		t.Fatal("a larger session did not evict the smallest consumer session")
	}
	if id := open(2, false); id != 0 || !has(follower) || !has(big) {
		t.Fatal("a consumer session may evict only smaller consumer sessions")
	}
	now = now.Add(time.Second)
	if id := open(1, true); id == 0 || has(big) {
		t.Fatal("a follower session may evict a consumer session")
	}
	// Now two follower sessions: only staleness frees a slot.
	if id := open(5, false); id != 0 {
		t.Fatal("consumer evicted a fresh follower session")
	}
	now = now.Add(fetchSessionEvictionAfter)
	if id := open(1, false); id == 0 || has(follower) {
		t.Fatal("stale session not evicted")
	}
	if cache.len() != 2 {
		t.Fatalf("%d sessions, want 2", cache.len())
	}

	cache.setSlots(0)
	if id := open(1, false); id != 0 {
		t.Fatal("sessions created with 0 slots")
	}
}

func TestFetchSessionSizeBound(t *testing.T) {
	src := newFakeSource()
	src.addTopic(t, "t", 1)
	cache := &fetchSessionCache{}
	ctx := context.Background()
	id := doFetch(t, ctx, src, cache, sessionReq(src, 12, 0, 0, part("t", 0, 0, 1<<20))).SessionID
	req := sessionReq(src, 12, id, 1)
	for i := range maxFetchSessionPartitions {
		addFetchParts(src, req, part("other", int32(i), 0, 1))
	}
	// The session would exceed its bound: it is dropped, and the fetcher
	// is told to start over.
	if resp := doFetch(t, ctx, src, cache, req); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || cache.len() != 0 {
		t.Fatalf("oversized session: error %d, %d sessions", resp.ErrorCode, cache.len())
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.partitions != 0 {
		t.Fatalf("cache counts %d partitions after removing every session", cache.partitions)
	}
}

func TestFetchSessionsDisabledWithZeroSlots(t *testing.T) {
	src := newFakeSource()
	src.addTopic(t, "t", 1)
	var fs fetchState
	fs.setFetchSessionCacheSlots(0) // max.incremental.fetch.session.cache.slots=0
	resp := doFetch(t, context.Background(), src, &fs.fetchSessions, sessionReq(src, 12, 0, 0, part("t", 0, 0, 1<<20)))
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 {
		t.Fatalf("with sessions disabled: error %d session %d", resp.ErrorCode, resp.SessionID)
	}
}
