package testbroker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gregor-log/gregor/internal/broker"
	"github.com/gregor-log/gregor/internal/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is a running test broker.
type Broker struct {
	*broker.Broker
	// Addr is the host:port clients should dial (the 127.0.0.1 listener).
	Addr string
	// Dir is the data directory (log.dirs); it survives Restart.
	Dir    string
	Config *config.Config

	t         testing.TB
	overrides map[string]string
	logs      *testLogs
	closed    bool
}

// Start starts a broker on a temporary directory and 127.0.0.1:0 with the
// given config overrides, and closes it when the test ends. A "log.dirs"
// override reuses that directory (to reopen data a previous broker left).
func Start(t testing.TB, overrides map[string]string) *Broker {
	t.Helper()
	ov := map[string]string{
		"listeners":      "PLAINTEXT://127.0.0.1:0",
		"admin.listener": "",
	}
	for k, v := range overrides {
		ov[k] = v
	}
	if _, ok := ov["log.dirs"]; !ok {
		ov["log.dirs"] = t.TempDir()
	}
	b := &Broker{t: t, overrides: ov, logs: newTestLogs(t)}
	b.start()
	t.Cleanup(func() { b.Close(); b.logs.stop() })
	return b
}

func (b *Broker) start() {
	b.t.Helper()
	cfg := config.Default()
	for k, v := range b.overrides {
		if err := cfg.Set(k, v); err != nil {
			b.t.Fatalf("testbroker: %v", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		b.t.Fatalf("testbroker: %v", err)
	}
	br, err := broker.New(cfg, slog.New(b.logs))
	if err != nil {
		b.t.Fatalf("testbroker: %v", err)
	}
	if err := br.Start(context.Background()); err != nil {
		br.Close()
		b.t.Fatalf("testbroker: %v", err)
	}
	b.Broker, b.Config, b.Dir, b.closed = br, cfg, cfg.LogDir(), false
	b.Addr = br.Addrs()[0].String()
}

// Close closes the broker (also done at the end of the test).
func (b *Broker) Close() {
	if b.closed {
		return
	}
	b.closed = true
	if err := b.Broker.Close(); err != nil {
		b.t.Errorf("testbroker: close: %v", err)
	}
}

// Restart closes the broker and starts a new one on the same directory
// and, when it is free, the same port, so clients can reconnect.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Close()
	b.overrides["listeners"] = "PLAINTEXT://" + b.Addr
	b.start()
}

// Client returns a kgo client seeded with the broker, closed at the end
// of the test.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
	if err != nil {
		t.Fatalf("testbroker: kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client of the broker, closed at the end of the test.
func (b *Broker) Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return kadm.NewClient(b.Client(t, opts...))
}

// Dial opens a raw TCP connection to the broker, closed at the end of the
// test.
func (b *Broker) Dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatalf("testbroker: dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testLogs is an slog.Handler writing to the test's log, which drops
// records once the test has ended (t.Log would panic then).
type testLogs struct {
	t     testing.TB
	level slog.Level
	mu    *sync.Mutex
	done  *atomic.Bool
	attrs []slog.Attr
	group string
}

func newTestLogs(t testing.TB) *testLogs {
	level := slog.LevelError
	switch strings.ToLower(os.Getenv("TESTBROKER_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info", "1", "true":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	}
	return &testLogs{t: t, level: level, mu: &sync.Mutex{}, done: &atomic.Bool{}}
}

func (h *testLogs) stop() {
	h.mu.Lock()
	h.done.Store(true)
	h.mu.Unlock()
}

func (h *testLogs) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level && !h.done.Load()
}

func (h *testLogs) Handle(_ context.Context, r slog.Record) error {
	if h.done.Load() {
		return nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		fmt.Fprintf(&sb, " %s=%v", key, a.Value)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.done.Load() {
		h.t.Log(sb.String())
	}
	return nil
}

func (h *testLogs) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &c
}

func (h *testLogs) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
