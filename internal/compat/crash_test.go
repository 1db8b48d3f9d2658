package compat

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMain lets the kill -9 test re-execute this binary as a broker.
func TestMain(m *testing.M) {
	testbroker.ServeChildIfAsked()
	os.Exit(m.Run())
}

// TestKill9DuringAcksAllProduce kills the broker with SIGKILL while an
// idempotent acks=all producer is writing, restarts it on the same data,
// and checks that every acknowledged record is there at its acknowledged
// offset, that no value was written twice, and that no repair was needed.
func TestKill9DuringAcksAllProduce(t *testing.T) {
	dir := t.TempDir()
	const topic = "crash"
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			child := testbroker.StartProcess(t, dir)
			addr := child.Addr
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(topic),
				kgo.RecordRetries(2), kgo.ProduceRequestTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()

			var mu sync.Mutex
			acked := map[int64]string{}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			enough := make(chan struct{})
			var once sync.Once
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ctx.Err() == nil && i < 100000; i++ {
						v := fmt.Sprintf("r%d-w%d-%d", round, w, i)
						cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
							if err != nil {
								return
							}
							mu.Lock()
							acked[r.Offset] = v
							if len(acked) >= 2000 {
								once.Do(func() { close(enough) })
							}
							mu.Unlock()
						})
					}
				}()
			}
			select {
			case <-enough:
			case <-time.After(60 * time.Second):
				t.Fatal("fewer than 2000 acknowledgements in 60 s")
			}
			child.Kill(t)
			cancel()
			wg.Wait()
			cl.Close()

			mu.Lock()
			snapshot := make(map[int64]string, len(acked))
			for o, v := range acked {
				snapshot[o] = v
			}
			mu.Unlock()

			addr = testbroker.StartProcess(t, dir).Addr
			checkLog(t, addr, topic, snapshot)
		})
	}
}

// checkLog reads the whole partition and compares it with what was
// acknowledged.
func checkLog(t *testing.T, addr, topic string, acked map[int64]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	end, err := endOffset(ctx, cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int64{}
	var next int64
	for next < end {
		fs := cl.PollFetches(ctx)
		for _, e := range fs.Errors() {
			t.Fatalf("fetch at %d of %d: %v", next, end, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				t.Fatalf("offset %d follows %d: gap or reorder", r.Offset, next-1)
			}
			next = r.Offset + 1
			v := string(r.Value)
			if prev, dup := seen[v]; dup {
				t.Fatalf("value %q at offsets %d and %d", v, prev, r.Offset)
			}
			seen[v] = r.Offset
		})
	}
	for off, v := range acked {
		if got, ok := seen[v]; !ok || got != off {
			t.Fatalf("acknowledged %q at offset %d; after restart it is at %d (present %v)", v, off, got, ok)
		}
	}
	t.Logf("%d acknowledged records all present; log holds %d", len(acked), end)
}

func endOffset(ctx context.Context, cl *kgo.Client, topic string) (int64, error) {
	offsets, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	o, ok := offsets.Lookup(topic, 0)
	if !ok || o.Err != nil {
		return 0, fmt.Errorf("end offset of %s: %v", topic, o.Err)
	}
	return o.Offset, nil
}
