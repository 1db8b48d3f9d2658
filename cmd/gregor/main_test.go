package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeBinary builds the gregor binary, runs `gregor serve` on free
// ports, waits for /healthz, talks Kafka to it with the binary's own client
// commands, then stops it with SIGTERM and expects a clean exit.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gregor")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	kafka, adminAddr := freePort(t), freePort(t)
	logs := &lockedBuffer{}
	serve := exec.Command(bin, "serve",
		"--listeners", "PLAINTEXT://"+kafka,
		"--admin-listener", adminAddr,
		"--data-dir", filepath.Join(dir, "data"))
	serve.Stdout, serve.Stderr = logs, logs
	serve.Env = []string{"HOME=" + dir} // no GREGOR_* from the caller's environment
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when serve has exited; then waitErr is set
	var waitErr error
	go func() { waitErr = serve.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default: // a failed test: end the process we started, by its PID
			serve.Process.Kill()
			<-exited
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + adminAddr + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == "ok\n" {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("serve exited early (%v):\n%s", waitErr, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no healthy /healthz before the deadline:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	gregor := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append(args, "--brokers", kafka)...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = []string{"HOME=" + dir}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gregor %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	gregor("", "topic", "create", "smoke", "-p", "1")
	gregor("hello\n", "produce", "smoke")
	if got := gregor("", "consume", "smoke", "-n", "1"); got != "hello\n" {
		t.Fatalf("consume: %q", got)
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", waitErr, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "stopped cleanly") {
		t.Fatalf("no clean stop in the logs:\n%s", logs.String())
	}
}

// lockedBuffer collects the child's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
