package compat

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/broker"
	"github.com/gregor-log/gregor/internal/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The kill -9 test runs the broker in a child process (this test binary,
// re-executed) so it can be killed for real, mid-write.
const childEnv = "GREGOR_COMPAT_CHILD_DIR"

// TestMain turns the test binary into a bare broker when childEnv is set:
// it serves the given data directory on a random port, prints the address
// on stdout, and runs until it is killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChildBroker(dir))
	}
	os.Exit(m.Run())
}

func runChildBroker(dir string) int {
	cfg := config.Default()
	for k, v := range map[string]string{"log.dirs": dir, "listeners": "PLAINTEXT://127.0.0.1:0", "admin.listener": ""} {
		if err := cfg.Set(k, v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	b, err := broker.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := b.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("listening %s\n", b.Addrs()[0])
	<-ctx.Done()
	if err := b.Close(); err != nil {
		return 1
	}
	return 0
}

// startChild starts a child broker on dir and returns it with its address.
func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		t.Fatal("child broker did not report its address")
		return nil, ""
	}
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
			child, addr := startChild(t, dir)
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
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			child.Wait()
			cancel()
			wg.Wait()
			cl.Close()

			mu.Lock()
			snapshot := make(map[int64]string, len(acked))
			for o, v := range acked {
				snapshot[o] = v
			}
			mu.Unlock()

			_, addr = startChild(t, dir)
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
