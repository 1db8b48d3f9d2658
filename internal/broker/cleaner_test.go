package broker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactionEndToEnd: a compacted topic read from offset 0 by kgo
// shows one value per key, the last one, once the cleaner has run; keyless
// records are refused.
func TestCompactionEndToEnd(t *testing.T) {
	b := testbroker.Start(t, map[string]string{"log.cleaner.backoff.ms": "50"})
	adm := b.Admin(t)
	ctx := retentionCtx(t)
	const topic = "compacted"
	retentionTopic(t, adm, topic, map[string]string{
		"cleanup.policy": "compact", "segment.bytes": "1024", "min.cleanable.dirty.ratio": "0.01"})
	cl := b.Client(t, kgo.DefaultProduceTopic(topic))

	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on a compacted topic: %v, want INVALID_RECORD", err)
	}

	want := map[string]string{}
	for i := 0; i < 300; i++ {
		k, v := fmt.Sprintf("key-%d", i%10), fmt.Sprintf("value-%03d-%s", i, make([]byte, 60))
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	// Unique keys last, so that the active segment (never cleaned) holds
	// no second value of any key.
	for i := 0; i < 20; i++ {
		k, v := fmt.Sprintf("tail-%d", i), fmt.Sprintf("tail-value-%d-%s", i, make([]byte, 60))
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		got, dups := consumeKeys(t, b, topic, 320)
		if dups == 0 && len(got) == len(want) {
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("key %s: got %.20q, want %.20q", k, got[k], v)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not compacted in time: %d keys, %d duplicates", len(got), dups)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consumeKeys reads the topic from offset 0 to its end offset and returns
// the last value of each key and how many records repeated a key.
func consumeKeys(t *testing.T, b *testbroker.Broker, topic string, end int64) (map[string]string, int) {
	t.Helper()
	ctx := retentionCtx(t)
	c := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
	defer c.Close()
	got := map[string]string{}
	dups := 0
	for {
		fs := c.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := got[string(r.Key)]; ok {
				dups++
			}
			got[string(r.Key)] = string(r.Value)
			if r.Offset == end-1 {
				done = true
			}
		})
		if done {
			return got, dups
		}
	}
}
