package perf

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kfakeChildEnv names the loopback port a process started by
// startKfakeProcess serves kfake on. Compare runs kfake in its own process,
// as it runs Gregor and NATS: inside the load generator's process kfake's
// in-memory copy of every record (hundreds of MiB) becomes part of the
// generator's heap, and Go's garbage collector, which paces itself on the
// live heap, then runs far less often for the consumer's allocations than
// it does beside any out-of-process broker. Measured with one 1 KiB
// partition: the same consumer read 1.0–1.6M records/s from an in-process
// kfake and 0.7–1.0M from the same kfake in its own process
// (docs/benchmarks-peers.md).
const kfakeChildEnv = "GREGOR_BENCH_KFAKE_PORT"

// ServeKfakeChild makes this process the kfake peer and never returns when
// the harness started it as one (kfakeChildEnv set): it serves a one-broker
// kfake cluster on 127.0.0.1 at that port until SIGTERM or SIGINT, then
// exits. Otherwise it returns at once. Every binary that runs Compare
// (gregor, gregor-bench-peers, this package's tests) calls it first thing,
// because the harness starts kfake by re-executing its own binary.
func ServeKfakeChild() {
	v, ok := os.LookupEnv(kfakeChildEnv)
	if !ok {
		return
	}
	os.Exit(serveKfake(v))
}

func serveKfake(portText string) int {
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		fmt.Fprintf(os.Stderr, "kfake peer: %s=%q is not a port\n", kfakeChildEnv, portText)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake peer: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "kfake peer serving on %v\n", c.ListenAddrs())
	<-ctx.Done()
	c.Close()
	return 0
}

// startKfakeProcess starts the kfake peer as a subprocess of this binary
// (see kfakeChildEnv), its log in dir.
func startKfakeProcess(ctx context.Context, dir string) (*kafkaPeer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("perf: kfake: own binary: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	proc, err := startProcessEnv(PeerKfake, dir, []string{kfakeChildEnv + "=" + strconv.Itoa(port)}, exe)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := proc.waitReady(ctx, 30*time.Second, pingBroker(addr)); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return &kafkaPeer{name: PeerKfake, brokers: []string{addr}, close: proc.Stop}, nil
}

// startKfake starts an in-process one-broker kfake cluster, for this
// package's tests of the load generator.
func startKfake() (*kafkaPeer, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, fmt.Errorf("perf: kfake: %w", err)
	}
	var once sync.Once
	return &kafkaPeer{name: PeerKfake, brokers: c.ListenAddrs(), close: func() error {
		once.Do(c.Close)
		return nil
	}}, nil
}

// pingBroker is a readiness probe: a Kafka client at addr answers a
// metadata request.
func pingBroker(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return err
		}
		defer cl.Close()
		return cl.Ping(ctx)
	}
}
