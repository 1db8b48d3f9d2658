package testbroker

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/broker"
	"github.com/gregor-log/gregor/internal/config"
)

// childDirEnv tells a re-executed test binary to be a broker on that
// data directory (see ServeChildIfAsked).
const childDirEnv = "GREGOR_TEST_CHILD_DIR"

// Process is a broker running in a child process, so a test can kill it
// for real (SIGKILL) and restart it on the same data.
type Process struct {
	Cmd  *exec.Cmd
	Addr string // host:port of its listener
}

// ServeChildIfAsked turns the test binary into a bare broker when it was
// started by StartProcess: it serves the data directory on a random
// loopback port, prints the address, and runs until killed or signalled.
// A package whose tests use StartProcess calls it first thing in TestMain:
//
//	func TestMain(m *testing.M) {
//		testbroker.ServeChildIfAsked()
//		os.Exit(m.Run())
//	}
func ServeChildIfAsked() {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		return
	}
	os.Exit(serveChild(dir))
}

func serveChild(dir string) int {
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

// StartProcess re-executes the test binary as a broker on dir (which the
// package's TestMain must allow with ServeChildIfAsked) and waits for its
// address. The process is killed when the test ends, if it still runs.
func StartProcess(t testing.TB, dir string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
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
		return &Process{Cmd: cmd, Addr: a}
	case <-time.After(30 * time.Second):
		t.Fatal("testbroker: child broker did not report its address")
		return nil
	}
}

// Kill stops the process with SIGKILL and waits for it to be gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.Cmd.Wait()
}
