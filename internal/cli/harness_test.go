package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// result is one in-process run of the command line.
type result struct {
	stdout, stderr string
	code           int
}

// harness runs commands against one cluster with an isolated environment:
// its own user config directory, and GREGOR_BROKERS pointing at the
// cluster unless a test overrides env.
type harness struct {
	t       testing.TB
	brokers string
	env     map[string]string
}

func newHarness(t testing.TB, brokers string) *harness {
	dir := t.TempDir()
	return &harness{t: t, brokers: brokers, env: map[string]string{
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"HOME":            dir,
		envBrokers:        brokers,
	}}
}

// run executes args with stdin and returns what the command printed and
// its exit code, with a deadline so that a hang fails the test.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return h.runContext(ctx, stdin, args...)
}

func (h *harness) runContext(ctx context.Context, stdin string, args ...string) result {
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return h.env[k] }}
	code := a.run(ctx, args)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// ok runs args and fails the test unless they succeed.
func (h *harness) ok(stdin string, args ...string) string {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != 0 {
		h.t.Fatalf("gregor %s: exit %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), r.code, r.stderr, r.stdout)
	}
	if r.stderr != "" {
		h.t.Fatalf("gregor %s: unexpected stderr %q", strings.Join(args, " "), r.stderr)
	}
	return r.stdout
}

// fails runs args and checks the exit code and that stderr is exactly one
// line containing want.
func (h *harness) fails(code int, want string, args ...string) result {
	h.t.Helper()
	r := h.run("", args...)
	checkFailure(h.t, r, code, want, args)
	return r
}

func checkFailure(t testing.TB, r result, code int, want string, args []string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("gregor %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), r.code, code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "gregor: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("gregor %s: stderr is not one \"gregor: ...\" line: %q", strings.Join(args, " "), r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("gregor %s: stderr %q lacks %q", strings.Join(args, " "), r.stderr, want)
	}
}

// golden compares got with testdata/NAME.golden, or rewrites it with
// -update.
func golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update to accept)\n--- got:\n%s\n--- want:\n%s", name, path, got, want)
	}
}

// normalize replaces the parts of output that change from run to run.
func normalize(s string, pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		s = regexp.MustCompile(pairs[i]).ReplaceAllString(s, pairs[i+1])
	}
	return s
}

// eventually polls cond until it holds or the deadline passes. The CLI
// has no events to wait on, so the loop is bounded by the deadline.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// walk visits every command of the tree.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// seeds resolves the broker addresses for flags args in h's environment.
func (h *harness) seeds(args ...string) string {
	h.t.Helper()
	a := &app{getenv: func(k string) string { return h.env[k] }}
	cmd := &cobra.Command{Use: "x"}
	a.addClientFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		h.t.Fatal(err)
	}
	got, err := a.seedBrokers(cmd)
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.Join(got, ",")
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
