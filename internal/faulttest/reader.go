package faulttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Reader consumes every partition of a topic from offset 0 while the
// faults go on and remembers each distinct (partition, offset, value) it
// read, for CheckReads: what a consumer once saw below the high
// watermark must never change or vanish.
type Reader struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	stop   sync.Once

	mu struct {
		sync.Mutex
		// seen is the value read at each offset; reads lists each
		// distinct read once (a second value at one offset included).
		// Both are bounded by what the test's producer writes.
		seen  map[readKey]string
		reads []Ack
		// errors tallies fetch errors by message (at most maxErrorKinds).
		errors map[string]int
	}
}

type readKey struct {
	partition int32
	offset    int64
}

// StartReader starts consuming topic. Stop it before checking.
func (c *Cluster) StartReader(topic string, partitions int32) *Reader {
	c.t.Helper()
	starts := map[int32]kgo.Offset{}
	for p := range partitions {
		starts[p] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.MetadataMaxAge(2*time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		c.t.Fatalf("faulttest: reader: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Reader{cl: cl, cancel: cancel, done: make(chan struct{})}
	r.mu.seen = map[readKey]string{}
	r.mu.errors = map[string]int{}
	go r.run(ctx)
	return r
}

func (r *Reader) run(ctx context.Context) {
	defer close(r.done)
	for ctx.Err() == nil {
		fs := r.cl.PollFetches(ctx)
		r.mu.Lock()
		fs.EachError(func(_ string, _ int32, err error) {
			if errors.Is(err, context.Canceled) {
				return // Stop
			}
			if msg := err.Error(); len(r.mu.errors) < maxErrorKinds || r.mu.errors[msg] > 0 {
				r.mu.errors[msg]++
			}
		})
		fs.EachRecord(func(rec *kgo.Record) {
			k := readKey{rec.Partition, rec.Offset}
			v := string(rec.Value)
			if prev, ok := r.mu.seen[k]; ok && prev == v {
				return
			}
			r.mu.seen[k] = v
			r.mu.reads = append(r.mu.reads, Ack{Partition: rec.Partition, Offset: rec.Offset, Value: v})
		})
		r.mu.Unlock()
	}
}

// Count is how many distinct records were read so far.
func (r *Reader) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.reads)
}

// CaughtUp reports whether the reader has read every partition up to
// the given end offsets (each partition's next offset to read).
func (r *Reader) CaughtUp(ends map[int32]int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, end := range ends {
		if _, ok := r.mu.seen[readKey{p, end - 1}]; end > 0 && !ok {
			return false
		}
	}
	return true
}

// String summarizes the reads for a test log.
func (r *Reader) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("%d distinct records read, fetch errors %v", len(r.mu.reads), r.mu.errors)
}

// Stop stops consuming; it may be called more than once.
func (r *Reader) Stop() {
	r.stop.Do(func() {
		r.cancel()
		<-r.done
		r.cl.Close()
	})
}

// Reads returns every distinct record read.
func (r *Reader) Reads() []Ack {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Ack, len(r.mu.reads))
	copy(out, r.mu.reads)
	return out
}
