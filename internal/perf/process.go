package perf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopTimeout is how long a server gets to exit after SIGTERM before it is
// killed.
const stopTimeout = 15 * time.Second

// process is a server subprocess this package started; Stop ends it by its
// PID, never by name.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, set before exited is closed
}

// startProcess starts bin with args, its output going to <dir>/<name>.log.
func startProcess(name, dir, bin string, args ...string) (*process, error) {
	return startProcessEnv(name, dir, nil, bin, args...)
}

// startProcessEnv is startProcess with env added to the server's
// environment.
func startProcessEnv(name, dir string, env []string, bin string, args ...string) (*process, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("perf: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(serverEnv(os.Environ()), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("perf: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logf, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// serverEnv is env without GREGOR_* variables: a server's settings are
// the harness's flags alone, so a run does not depend on the shell it was
// started from (and gregor serve refuses unknown GREGOR_ names).
func serverEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GREGOR_") {
			out = append(out, kv)
		}
	}
	return out
}

// Stop sends SIGTERM, waits for the exit, and kills the process if it has
// not exited within stopTimeout. A process that already exited on its own
// returns its exit status.
func (p *process) Stop() error {
	defer p.log.Close()
	select {
	case <-p.exited:
		return fmt.Errorf("perf: %s exited early: %v", p.name, p.err)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("perf: %s did not exit within %v of SIGTERM; killed", p.name, stopTimeout)
	}
}

// waitReady calls ready until it succeeds, the process exits, or timeout
// passes; ready is a cheap probe (a connection, a ping).
func (p *process) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		probeCtx, cancelProbe := context.WithTimeout(ctx, time.Second)
		last = ready(probeCtx)
		cancelProbe()
		if last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("perf: %s exited while starting (%v); see %s", p.name, p.err, p.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("perf: %s not ready within %v: %w", p.name, timeout, errors.Join(last, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a loopback port that was free a moment ago. The race
// with other programs binding it is accepted: servers that fail to bind
// fail their readiness check loudly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("perf: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
