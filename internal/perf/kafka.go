package perf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// drainTimeout bounds how long a run waits for its last acks or records
// after it stopped sending: past it the broker is stuck, and the run fails
// instead of hanging.
const drainTimeout = 60 * time.Second

// CreateTopic creates topic with the given partitions and replication
// factor 1 unless it already exists.
func CreateTopic(ctx context.Context, brokers []string, topic string, partitions int32, opts ...kgo.Opt) error {
	return createTopic(ctx, brokers, topic, partitions, 1, nil, opts...)
}

// createTopic is CreateTopic with a replication factor and topic configs.
func createTopic(ctx context.Context, brokers []string, topic string, partitions int32, replicas int16, configs map[string]*string, opts ...kgo.Opt) error {
	_, err := createTopicOnce(ctx, brokers, topic, partitions, replicas, configs, opts...)
	return err
}

// createTopicOnce is createTopic that also reports whether this call
// created the topic (false: it existed).
func createTopicOnce(ctx context.Context, brokers []string, topic string, partitions int32, replicas int16, configs map[string]*string, opts ...kgo.Opt) (bool, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return false, fmt.Errorf("perf: client: %w", err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, replicas, configs, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("perf: create topic %s: %w", topic, err)
	}
	return true, nil
}

// DeleteTopic deletes topic; a missing topic is not an error.
func DeleteTopic(ctx context.Context, brokers []string, topic string, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("perf: client: %w", err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("perf: delete topic %s: %w", topic, err)
	}
	return nil
}

// producerOpts are the kgo options shared by Produce and EndToEnd.
func producerOpts(brokers []string, topic, acks, compression string, linger time.Duration, idempotent bool, extra []kgo.Opt) ([]kgo.Opt, error) {
	a, err := parseAcks(acks)
	if err != nil {
		return nil, err
	}
	c, err := ParseCompression(compression)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(a),
		kgo.ProducerBatchCompression(c),
		kgo.ProducerLinger(linger),
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return append(opts, extra...), nil
}

// ackTracker collects the outcome of produced records from promises, which
// kgo runs on several goroutines.
type ackTracker struct {
	latency *Histogram
	acked   atomic.Int64
	failed  atomic.Bool
	mu      sync.Mutex
	err     error // the first error
	// stop, when set, is called on a failure: it cancels the sends that
	// may be blocked on a full client buffer.
	stop context.CancelFunc
}

func (t *ackTracker) done(sentAt time.Time, err error) {
	if err != nil {
		t.mu.Lock()
		if t.err == nil {
			t.err = err
		}
		t.mu.Unlock()
		t.failed.Store(true)
		if t.stop != nil {
			t.stop()
		}
		return
	}
	t.latency.RecordDuration(time.Since(sentAt))
	t.acked.Add(1)
}

func (t *ackTracker) firstErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Produce sends records as configured and measures throughput and the
// latency from each send to its acknowledgement. It stops at the first
// failed record and returns the error with what was acknowledged so far.
func Produce(ctx context.Context, o ProduceOptions) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if o.Partitions > 0 {
		if err := CreateTopic(ctx, o.Brokers, o.Topic, o.Partitions, o.ClientOpts...); err != nil {
			return Result{}, err
		}
	}
	opts, err := producerOpts(o.Brokers, o.Topic, o.Acks, o.Compression, o.Linger, o.Idempotent, o.ClientOpts)
	if err != nil {
		return Result{}, err
	}
	clients := make([]*kgo.Client, 0, o.Producers)
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	for range o.Producers {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return Result{}, fmt.Errorf("perf: client: %w", err)
		}
		clients = append(clients, cl)
	}

	payloads := newPayloadRing(o.RecordSize)
	sendCtx, cancelSend := context.WithCancel(ctx)
	defer cancelSend()
	t := &ackTracker{latency: NewHistogram(), stop: cancelSend}
	var claimed atomic.Int64
	start := time.Now()
	pace := newPacer(o.Rate, start)

	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() {
			for !t.failed.Load() {
				n := claimed.Add(1) - 1
				if o.Records > 0 && n >= o.Records {
					break
				}
				if o.Duration > 0 && time.Since(start) >= o.Duration {
					break
				}
				if pace.Wait(sendCtx) != nil {
					break
				}
				rec := &kgo.Record{Topic: o.Topic, Value: payloads.value(n)}
				sentAt := time.Now()
				cl.Produce(sendCtx, rec, func(_ *kgo.Record, err error) { t.done(sentAt, err) })
			}
			flushCtx, cancel := context.WithTimeout(ctx, drainTimeout)
			defer cancel()
			if err := cl.Flush(flushCtx); err != nil {
				t.done(time.Time{}, fmt.Errorf("flush: %w", err))
			}
		})
	}
	wg.Wait()
	res := Result{Records: t.acked.Load(), Elapsed: time.Since(start), Latency: t.latency.Summary()}
	res.Bytes = res.Records * int64(o.RecordSize)
	if err := t.firstErr(); err != nil {
		return res, fmt.Errorf("perf: produce to %s: %w", o.Topic, err)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// Consume reads Topic from the start of every partition, without a group,
// until it has Records records or Duration passed, and measures the
// throughput. The clock starts before the first fetch, so it includes
// connecting and the first metadata request, as Kafka's consumer perf
// tool does.
func Consume(ctx context.Context, o ConsumeOptions) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ConsumeTopics(o.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if o.FetchMaxPartitionBytes > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(o.FetchMaxPartitionBytes))
	}
	var fh *fetchHook
	if o.FetchStats {
		fh = &fetchHook{sizes: NewHistogram(), reads: NewHistogram()}
		opts = append(opts, kgo.WithHooks(fh))
	}
	cl, err := kgo.NewClient(append(opts, o.ClientOpts...)...)
	if err != nil {
		return Result{}, fmt.Errorf("perf: client: %w", err)
	}
	defer cl.Close()

	start := time.Now()
	pollCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		pollCtx, cancel = context.WithDeadline(ctx, start.Add(o.Duration))
		defer cancel()
	}
	var res Result
	for o.Records == 0 || res.Records < o.Records {
		fs := cl.PollFetches(pollCtx)
		if pollCtx.Err() != nil {
			break
		}
		if err := fetchErr(fs); err != nil {
			res.Elapsed = time.Since(start)
			return res, fmt.Errorf("perf: consume %s: %w", o.Topic, err)
		}
		// A fetch may carry more than the records still wanted; those
		// are not counted, so the result is the Records asked for.
		fs.EachRecord(func(r *kgo.Record) {
			if o.Records == 0 || res.Records < o.Records {
				res.Records++
				res.Bytes += int64(len(r.Value))
			}
		})
	}
	res.Elapsed = time.Since(start)
	if fh != nil {
		res.Fetches = &FetchStats{Count: fh.reads.Count(), MedianBytes: fh.sizes.Quantile(0.5), Read: fh.reads.Summary()}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// fetchHook records the size of every fetch answer and how long reading it
// took (kgo.HookBrokerRead).
type fetchHook struct {
	sizes, reads *Histogram
}

func (h *fetchHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, bytesRead int, _, timeToRead time.Duration, err error) {
	if key != int16(kmsg.Fetch) || err != nil {
		return
	}
	h.sizes.Record(int64(bytesRead))
	h.reads.RecordDuration(timeToRead)
}

// fetchErr returns the first error of fs.
func fetchErr(fs kgo.Fetches) error {
	var first error
	fs.EachError(func(topic string, p int32, err error) {
		if first == nil {
			first = fmt.Errorf("partition %s/%d: %w", topic, p, err)
		}
	})
	return first
}

// EndToEnd produces at a fixed rate and consumes the same topic at the
// same time; each value starts with its send time, and the latency is from
// the producer's send to the consumer receiving the record (both in this
// process, on the monotonic clock). Throughput figures are those of the
// measured records.
func EndToEnd(ctx context.Context, o E2EOptions) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if o.Partitions > 0 {
		if err := CreateTopic(ctx, o.Brokers, o.Topic, o.Partitions, o.ClientOpts...); err != nil {
			return Result{}, err
		}
	}
	popts, err := producerOpts(o.Brokers, o.Topic, o.Acks, o.Compression, 0, o.Idempotent, o.ClientOpts)
	if err != nil {
		return Result{}, err
	}
	prod, err := kgo.NewClient(popts...)
	if err != nil {
		return Result{}, fmt.Errorf("perf: client: %w", err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ConsumeTopics(o.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, o.ClientOpts...)...)
	if err != nil {
		return Result{}, fmt.Errorf("perf: client: %w", err)
	}
	defer cons.Close()

	run := newE2ERun(o.Warmup)
	consCtx, cancelCons := context.WithCancel(ctx)
	defer cancelCons()
	consumer := goErr(func() error { return run.consume(consCtx, cons) })

	measured, elapsed, err := run.produce(ctx, o, func(rec *kgo.Record, sentAt time.Time) {
		prod.Produce(ctx, rec, func(_ *kgo.Record, err error) { run.acks.done(sentAt, err) })
	})
	if err == nil {
		flushCtx, cancel := context.WithTimeout(ctx, drainTimeout)
		err = prod.Flush(flushCtx)
		cancel()
	}
	if err == nil {
		err = run.acks.firstErr()
	}
	if err != nil {
		cancelCons()
		<-consumer.done
		return Result{}, fmt.Errorf("perf: end to end on %s: %w", o.Topic, err)
	}
	err = run.waitConsumed(ctx, consumer)
	cancelCons()
	<-consumer.done
	if err != nil {
		return Result{}, fmt.Errorf("perf: end to end on %s: %w", o.Topic, err)
	}
	return Result{
		Records: measured,
		Bytes:   measured * int64(o.RecordSize),
		Elapsed: elapsed,
		Latency: run.latency.Summary(),
	}, nil
}

// e2eRun is the state shared by the producing and consuming halves of an
// end-to-end run; the same logic serves Kafka and NATS.
type e2eRun struct {
	base    time.Time // send times are nanoseconds since base
	warmup  int64
	latency *Histogram
	acks    *ackTracker
	sent    atomic.Int64  // records handed to the producer, warm-up included
	seen    atomic.Int64  // records the consumer received
	wake    chan struct{} // a record was received; capacity 1, never blocks
}

func newE2ERun(warmup int64) *e2eRun {
	return &e2eRun{
		base:    time.Now(),
		warmup:  warmup,
		latency: NewHistogram(),
		acks:    &ackTracker{latency: NewHistogram()},
		wake:    make(chan struct{}, 1),
	}
}

// produce paces the records and hands each to send; it returns how many
// measured (post warm-up) records were sent and over how long.
func (r *e2eRun) produce(ctx context.Context, o E2EOptions, send func(*kgo.Record, time.Time)) (int64, time.Duration, error) {
	payloads := newPayloadRing(o.RecordSize)
	pace := newPacer(o.Rate, time.Now())
	var measuredStart time.Time
	var n int64
	for ; ; n++ {
		if n == o.Warmup {
			measuredStart = time.Now()
		}
		if n >= o.Warmup {
			m := n - o.Warmup
			if o.Records > 0 && m >= o.Records {
				break
			}
			if o.Duration > 0 && time.Since(measuredStart) >= o.Duration {
				break
			}
		}
		if r.acks.failed.Load() {
			break
		}
		if err := pace.Wait(ctx); err != nil {
			return 0, 0, err
		}
		value := make([]byte, o.RecordSize)
		copy(value, payloads.value(n))
		sentAt := time.Now()
		binary.BigEndian.PutUint64(value[0:8], uint64(sentAt.Sub(r.base)))
		binary.BigEndian.PutUint64(value[8:16], uint64(n))
		r.sent.Add(1)
		send(&kgo.Record{Topic: o.Topic, Value: value}, sentAt)
	}
	return n - o.Warmup, time.Since(measuredStart), nil
}

// observe records the latency of one received value.
func (r *e2eRun) observe(value []byte) {
	now := int64(time.Since(r.base))
	if len(value) >= e2eHeaderBytes {
		sentAt := int64(binary.BigEndian.Uint64(value[0:8]))
		if seq := int64(binary.BigEndian.Uint64(value[8:16])); seq >= r.warmup {
			r.latency.Record(now - sentAt)
		}
	}
	r.seen.Add(1)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// consume receives records until ctx ends.
func (r *e2eRun) consume(ctx context.Context, cl *kgo.Client) error {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fetchErr(fs); err != nil {
			return err
		}
		fs.EachRecord(func(rec *kgo.Record) {
			// Values shorter than the header were not sent by this run
			// (the cluster peer's warm-up records are empty).
			if len(rec.Value) >= e2eHeaderBytes {
				r.observe(rec.Value)
			}
		})
	}
}

// waitConsumed waits until the consumer has seen every sent record, then
// returns; a consumer that stops first fails the run.
func (r *e2eRun) waitConsumed(ctx context.Context, consumer *background) error {
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	for r.seen.Load() < r.sent.Load() {
		select {
		case <-r.wake:
		case <-consumer.done:
			err := consumer.err
			if err == nil {
				err = errors.New("consumer stopped early")
			}
			return err
		case <-deadline.C:
			return fmt.Errorf("consumer saw %d of %d records within %v", r.seen.Load(), r.sent.Load(), drainTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// background is a goroutine whose error is read after done is closed.
type background struct {
	done chan struct{}
	err  error
}

func goErr(f func() error) *background {
	b := &background{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = f()
	}()
	return b
}
