package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gregor-log/gregor/internal/broker"
	"github.com/gregor-log/gregor/internal/config"
)

// childEnv carries a node's childSpec (JSON) to a re-executed test binary.
const childEnv = "GREGOR_FAULTTEST_NODE"

// childSpec is everything a child node needs: its configuration and the
// address rewrites of its dialer.
type childSpec struct {
	// Config is the broker configuration, Kafka's key names.
	Config map[string]string
	// Links maps a peer's real listener address (host:port, as the
	// quorum voters and the peers' advertised listeners name it) to the
	// proxy of the link from this node to that peer.
	Links map[string]string
	// LogLevel is the slog level of the node's stderr log.
	LogLevel string
}

// ServeChildIfAsked turns the test binary into one node of a Cluster when
// the cluster started it, and exits when the node stops; otherwise it
// returns at once. A package whose tests use Start calls it first thing
// in TestMain:
//
//	func TestMain(m *testing.M) {
//		faulttest.ServeChildIfAsked()
//		os.Exit(m.Run())
//	}
func ServeChildIfAsked() {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return
	}
	os.Exit(serveChild(raw))
}

func serveChild(raw string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "faulttest child:", err)
		return 2
	}
	cfg := config.Default()
	for k, v := range spec.Config {
		if err := cfg.Set(k, v); err != nil {
			fmt.Fprintln(os.Stderr, "faulttest child:", err)
			return 2
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(spec.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	b, err := broker.New(cfg, logger, broker.WithDialer(linkDialer(spec.Links)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest child:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := b.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "faulttest child:", err)
		b.Close()
		return 2
	}
	fmt.Printf("listening %s\n", b.Addrs()[0])
	// The test process holds the other end of stdin until this node
	// exits: EOF means it died without killing us (Cluster.launch).
	orphaned := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(orphaned)
	}()
	select {
	case <-ctx.Done():
	case <-orphaned:
		fmt.Fprintln(os.Stderr, "faulttest child: the test process is gone; exiting")
		return 3
	}
	logger.Info("faulttest child: SIGTERM, closing")
	if err := b.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "faulttest child: close:", err)
		return 1
	}
	return 0
}

// linkDialer dials a peer's listener through the proxy of that link and
// anything else (this node's own listener) directly.
func linkDialer(links map[string]string) broker.Dialer {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p, ok := links[addr]; ok {
			addr = p
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
