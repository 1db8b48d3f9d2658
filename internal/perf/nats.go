package perf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNATSMissing is returned when no nats-server binary is found.
var ErrNATSMissing = errors.New("perf: nats-server not found")

// natsMaxPending bounds the asynchronous publishes in flight, and with it
// the sent-time map of a publisher; it is the client's default.
const natsMaxPending = 4000

// natsServer is a nats-server subprocess with JetStream, storing in a
// directory of its own.
type natsServer struct {
	proc *process
	url  string
}

// findNATS returns the nats-server to run: bin if set, else the one on
// PATH, else ErrNATSMissing.
func findNATS(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	p, err := exec.LookPath("nats-server")
	if err != nil {
		return "", fmt.Errorf("%w on PATH (install the nats-server package)", ErrNATSMissing)
	}
	return p, nil
}

// natsVersion returns what `nats-server --version` prints, or "unknown".
func natsVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "nats-server: ")
}

// startNATS starts bin with JetStream on a loopback port, storing under
// dir, and waits until JetStream answers.
func startNATS(ctx context.Context, bin, dir string) (*natsServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	store := filepath.Join(dir, "jetstream")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, fmt.Errorf("perf: nats dir: %w", err)
	}
	proc, err := startProcess("nats-server", dir, bin, "-js", "-sd", store, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	s := &natsServer{proc: proc, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	err = proc.waitReady(ctx, 30*time.Second, func(ctx context.Context) error {
		nc, err := nats.Connect(s.url, nats.Timeout(time.Second))
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		_, err = js.AccountInfo(ctx)
		return err
	})
	if err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return s, nil
}

func (s *natsServer) Stop() error { return s.proc.Stop() }

// natsWorkload is one NATS JetStream run: Subjects play the part of
// partitions, all in one file-storage stream with one replica.
type natsWorkload struct {
	URL        string
	Stream     string
	Subjects   int
	RecordSize int
	Records    int64
	Duration   time.Duration
	Rate       float64
}

// natsConnect connects and creates the stream (if Subjects > 0).
func natsConnect(ctx context.Context, url, stream string, subjects int, opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, fmt.Errorf("perf: nats connect: %w", err)
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("perf: jetstream: %w", err)
	}
	if subjects > 0 {
		_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:     stream,
			Subjects: []string{stream + ".>"},
			Storage:  jetstream.FileStorage,
			Replicas: 1,
		})
		if err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("perf: create stream %s: %w", stream, err)
		}
	}
	return nc, js, nil
}

// natsDeleteStream deletes a stream; a missing one is not an error.
func natsDeleteStream(ctx context.Context, url, stream string) error {
	nc, js, err := natsConnect(ctx, url, stream, 0)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("perf: delete stream %s: %w", stream, err)
	}
	return nil
}

// natsAcks matches asynchronous publish acks to send times. The map holds
// at most natsMaxPending entries: the client stalls publishing beyond it.
type natsAcks struct {
	acks   *ackTracker
	mu     sync.Mutex
	sentAt map[*nats.Msg]time.Time
}

func newNATSAcks(t *ackTracker) *natsAcks {
	return &natsAcks{acks: t, sentAt: make(map[*nats.Msg]time.Time, natsMaxPending)}
}

func (a *natsAcks) sent(m *nats.Msg, t time.Time) {
	a.mu.Lock()
	a.sentAt[m] = t
	a.mu.Unlock()
}

func (a *natsAcks) finish(m *nats.Msg, err error) {
	a.mu.Lock()
	t, ok := a.sentAt[m]
	delete(a.sentAt, m)
	a.mu.Unlock()
	if !ok && err == nil {
		err = errors.New("ack for a message never sent")
	}
	a.acks.done(t, err)
}

// natsProduce publishes asynchronously, as fast as acks allow (or at
// Rate), round-robin over the subjects.
func natsProduce(ctx context.Context, w natsWorkload) (Result, error) {
	a := newNATSAcks(&ackTracker{latency: NewHistogram()})
	nc, js, err := natsConnect(ctx, w.URL, w.Stream, max(w.Subjects, 1),
		jetstream.WithPublishAsyncMaxPending(natsMaxPending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { a.finish(m, nil) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { a.finish(m, err) }))
	if err != nil {
		return Result{}, err
	}
	defer nc.Close()
	subjects := natsSubjects(w.Stream, w.Subjects)
	payloads := newPayloadRing(w.RecordSize)
	start := time.Now()
	pace := newPacer(w.Rate, start)
	for n := int64(0); !a.acks.failed.Load(); n++ {
		if w.Records > 0 && n >= w.Records || w.Duration > 0 && time.Since(start) >= w.Duration {
			break
		}
		if err := pace.Wait(ctx); err != nil {
			return Result{}, err
		}
		m := &nats.Msg{Subject: subjects[n%int64(len(subjects))], Data: payloads.value(n)}
		a.sent(m, time.Now())
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(drainTimeout)); err != nil {
			a.finish(m, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(drainTimeout):
		a.acks.done(time.Time{}, fmt.Errorf("%d acks missing after %v", js.PublishAsyncPending(), drainTimeout))
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	res := Result{Records: a.acks.acked.Load(), Elapsed: time.Since(start), Latency: a.acks.latency.Summary()}
	res.Bytes = res.Records * int64(w.RecordSize)
	if err := a.acks.firstErr(); err != nil {
		return res, fmt.Errorf("perf: publish to %s: %w", w.Stream, err)
	}
	return res, nil
}

func natsSubjects(stream string, n int) []string {
	s := make([]string, max(n, 1))
	for i := range s {
		s[i] = stream + "." + strconv.Itoa(i)
	}
	return s
}

// natsConsume reads the stream from its first message with an ordered
// consumer (no acks, the client's flow control) until it has Records
// messages or Duration passed.
func natsConsume(ctx context.Context, w natsWorkload) (Result, error) {
	nc, js, err := natsConnect(ctx, w.URL, w.Stream, 0)
	if err != nil {
		return Result{}, err
	}
	defer nc.Close()
	start := time.Now()
	var res Result
	err = natsReceive(ctx, js, w.Stream, w.Records, w.Duration, func(m jetstream.Msg) {
		res.Records++
		res.Bytes += int64(len(m.Data()))
	})
	res.Elapsed = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("perf: consume %s: %w", w.Stream, err)
	}
	return res, nil
}

// natsReceive runs an ordered consumer of stream from the start, calling
// each for every message, until it has had records messages (0: no limit),
// d passed (0: no limit) or ctx ends; the end of ctx is not an error.
func natsReceive(ctx context.Context, js jetstream.JetStream, stream string, records int64, d time.Duration, each func(jetstream.Msg)) error {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	// Next blocks without a context; stopping the iterator unblocks it.
	stopCtx := ctx
	if d > 0 {
		var cancel context.CancelFunc
		stopCtx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	stopped := context.AfterFunc(stopCtx, it.Stop)
	defer stopped()
	defer it.Stop()
	for n := int64(0); records == 0 || n < records; n++ {
		m, err := it.Next()
		if err != nil {
			if stopCtx.Err() != nil {
				return nil
			}
			return err
		}
		each(m)
	}
	return nil
}

// natsEndToEnd publishes at a fixed rate with send times in the values
// and consumes the stream at the same time; see EndToEnd.
func natsEndToEnd(ctx context.Context, url, stream string, o E2EOptions) (Result, error) {
	if o.Rate <= 0 || o.RecordSize < e2eHeaderBytes {
		return Result{}, invalid("nats end to end: rate %v, record size %d", o.Rate, o.RecordSize)
	}
	run := newE2ERun(o.Warmup)
	a := newNATSAcks(run.acks)
	nc, js, err := natsConnect(ctx, url, stream, max(int(o.Partitions), 1),
		jetstream.WithPublishAsyncMaxPending(natsMaxPending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { a.finish(m, nil) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { a.finish(m, err) }))
	if err != nil {
		return Result{}, err
	}
	defer nc.Close()
	consCtx, cancelCons := context.WithCancel(ctx)
	defer cancelCons()
	consumer := goErr(func() error {
		return natsReceive(consCtx, js, stream, 0, 0, func(m jetstream.Msg) { run.observe(m.Data()) })
	})
	subjects := natsSubjects(stream, int(o.Partitions))
	var n int64
	measured, elapsed, err := run.produce(ctx, o, func(rec *kgo.Record, sentAt time.Time) {
		m := &nats.Msg{Subject: subjects[n%int64(len(subjects))], Data: rec.Value}
		n++
		a.sent(m, sentAt)
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(drainTimeout)); err != nil {
			a.finish(m, err)
		}
	})
	if err == nil {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(drainTimeout):
			err = fmt.Errorf("%d acks missing after %v", js.PublishAsyncPending(), drainTimeout)
		}
	}
	if err == nil {
		err = a.acks.firstErr()
	}
	if err == nil {
		err = run.waitConsumed(ctx, consumer)
	}
	cancelCons()
	<-consumer.done
	if err != nil {
		return Result{}, fmt.Errorf("perf: nats end to end on %s: %w", stream, err)
	}
	return Result{
		Records: measured,
		Bytes:   measured * int64(o.RecordSize),
		Elapsed: elapsed,
		Latency: run.latency.Summary(),
	}, nil
}
