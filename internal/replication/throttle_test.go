package replication

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/record"
)

// The token bucket, step by step on a fake clock.
func TestThrottle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewThrottle()
	type step struct {
		name      string
		at        time.Duration // since t0
		setRate   int64         // 0: leave
		charge    int
		wantDelay time.Duration
	}
	for _, s := range []step{
		{name: "unlimited by default", charge: 1 << 30, wantDelay: 0},
		{name: "a rate starts with a full bucket", setRate: 1000, wantDelay: 0},
		{name: "a fetch beyond the bucket leaves a debt", charge: 3000, wantDelay: 2001 * time.Millisecond},
		{name: "paid back in part", at: time.Second, wantDelay: 1001 * time.Millisecond},
		{name: "paid back", at: 2100 * time.Millisecond, wantDelay: 0},
		{name: "an idle hour earns one second of rate only", at: time.Hour, charge: 1500, wantDelay: 501 * time.Millisecond},
		{name: "lifting the throttle forgives the debt", at: time.Hour, setRate: math.MaxInt64, charge: 1 << 30, wantDelay: 0},
		{name: "a new rate starts full again", at: time.Hour, setRate: 10, charge: 10, wantDelay: 100 * time.Millisecond},
	} {
		now := t0.Add(s.at)
		if s.setRate != 0 {
			th.SetRate(s.setRate)
		}
		th.Charge(s.charge, now)
		if got := th.Delay(now); got.Round(time.Millisecond) != s.wantDelay {
			t.Fatalf("%s: delay %v, want %v", s.name, got, s.wantDelay)
		}
	}
	if got := th.maxBytes(1 << 20); got != 10 {
		t.Fatalf("maxBytes at 10 B/s: %d", got)
	}
	th.SetRate(math.MaxInt64)
	if got := th.maxBytes(1 << 20); got != 1<<20 {
		t.Fatalf("maxBytes unlimited: %d", got)
	}
	var none *Throttle
	none.SetRate(5)
	none.Charge(5, t0)
	if none.Delay(t0) != 0 || none.maxBytes(7) != 7 || none.Rate() != 0 {
		t.Fatal("a nil throttle limits")
	}
}

// A throttled partition copies no faster than the rate allows: with a
// rate far below the data, the follower is still behind after the first
// fetches; lifting the throttle lets it catch up. An unthrottled
// partition of the same fetcher is never held back.
func TestFetcherThrottledPartition(t *testing.T) {
	leader, slow, fast := openPartition(t, t.TempDir()), openPartition(t, t.TempDir()), openPartition(t, t.TempDir())
	leader.SetLocalReplicaID(1)
	if err := leader.BecomeLeader(1, []int32{1, 2}, []int32{1}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		produce(t, leader, 1, 50, fmt.Sprintf("value %d with some padding to make the batch larger", i))
	}
	end := leader.LogEndOffset()
	for _, p := range []*partition.Partition{slow, fast} {
		if err := p.BecomeFollower(1, 1); err != nil {
			t.Fatal(err)
		}
	}
	th := NewThrottle()
	th.SetRate(1) // one byte per second: one batch, then a debt of hours
	f := New(Config{ReplicaID: 2, MaxWait: 50 * time.Millisecond, Backoff: 10 * time.Millisecond, Throttle: th},
		&partitionLeader{parts: map[string]*partition.Partition{"t": leader, "u": leader}})
	defer f.Close()
	slowTP, fastTP := TopicPartition{Topic: "t"}, TopicPartition{Topic: "u"}
	f.Add(slowTP, slow, 1)
	f.SetThrottled(slowTP, true)
	f.Add(fastTP, fast, 1)
	waitUntil(t, "the unthrottled partition to catch up", func() bool { return fast.LogEndOffset() == end })
	waitUntil(t, "the throttled partition's first batch", func() bool { return slow.LogEndOffset() > 0 })
	if got := slow.LogEndOffset(); got >= end {
		t.Fatalf("throttled partition caught up: %d of %d", got, end)
	}
	th.SetRate(math.MaxInt64)
	waitUntil(t, "the partition to catch up once the throttle is lifted", func() bool { return slow.LogEndOffset() == end })
	f.SetThrottled(slowTP, false)
	if len(f.throttled) != 0 {
		t.Fatal("mark kept")
	}
	f.SetThrottled(TopicPartition{Topic: "not followed"}, true)
	if len(f.throttled) != 0 {
		t.Fatal("a partition not followed was marked")
	}
}

// limitBatches keeps the whole batches of b that fit in maxBytes, and at
// least the first one, as a leader honours a partition's max bytes.
func limitBatches(b []byte, maxBytes int32) []byte {
	off := 0
	for off < len(b) {
		h, err := record.ReadHeader(b[off:])
		if err != nil || (off > 0 && off+h.Size() > int(maxBytes)) {
			break
		}
		off += h.Size()
	}
	return b[:off]
}
