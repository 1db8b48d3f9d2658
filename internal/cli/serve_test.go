package cli

import (
	"context"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/config"
)

func TestServeOverrides(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{name: "no flags, no overrides: defaults, file and env stay visible", want: map[string]string{}},
		{name: "defaults given explicitly are still overrides",
			args: []string{"--data-dir", "gregor-data"}, want: map[string]string{"log.dirs": "gregor-data"}},
		{name: "convenience flags",
			args: []string{"--node-id", "3", "--listeners", "PLAINTEXT://127.0.0.1:19092", "--advertised-listeners", "PLAINTEXT://kafka-3:9092",
				"--data-dir", "/data", "--admin-listener", "127.0.0.1:19644"},
			want: map[string]string{"node.id": "3", "listeners": "PLAINTEXT://127.0.0.1:19092", "advertised.listeners": "PLAINTEXT://kafka-3:9092",
				"log.dirs": "/data", "admin.listener": "127.0.0.1:19644"}},
		{name: "set any config, last wins",
			args: []string{"--set", "num.partitions=3", "--set", "log.retention.ms=1000", "--set", "num.partitions=6"},
			want: map[string]string{"num.partitions": "6", "log.retention.ms": "1000"}},
		{name: "values may contain =",
			args: []string{"--set", "listeners=PLAINTEXT://a:1,OTHER=x"}, want: map[string]string{"listeners": "PLAINTEXT://a:1,OTHER=x"}},
		{name: "set and flag agreeing",
			args: []string{"--set", "log.dirs=/d", "--data-dir", "/d"}, want: map[string]string{"log.dirs": "/d"}},
		{name: "set and flag disagreeing",
			args: []string{"--set", "log.dirs=/a", "--data-dir", "/b"}, wantErr: "--data-dir=/b and --set log.dirs=/a disagree"},
		{name: "bad set", args: []string{"--set", "=x"}, wantErr: "want key=value"},
		{name: "empty admin listener disables it",
			args: []string{"--admin-listener", ""}, want: map[string]string{"admin.listener": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &app{getenv: func(string) string { return "" }}
			cmd := a.serveCommand()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			sets, _ := cmd.Flags().GetStringArray("set")
			got, err := serveOverrides(cmd.Flags(), sets)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestServePrecedence checks the whole chain serve builds: defaults < file
// < GREGOR_* environment < flags.
func TestServePrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gregor.yaml")
	yaml := "num.partitions: 2\nlog.retention.ms: 1000\nmin.insync.replicas: 1\nlog.dirs: from-file\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GREGOR_LOG_RETENTION_MS", "2000")
	t.Setenv("GREGOR_LOG_DIRS", "from-env")
	t.Setenv(envBrokers, "ignored-by-serve:9092")

	a := &app{getenv: os.Getenv}
	cmd := a.serveCommand()
	if err := cmd.ParseFlags([]string{"--data-dir", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	overrides, err := serveOverrides(cmd.Flags(), nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Unsetenv(envBrokers) // what serve does before loading
	cfg, err := config.Load(file, overrides)
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	for _, tc := range []struct{ key, want string }{
		{"default.replication.factor", mustGet(t, def, "default.replication.factor")}, // default
		{"num.partitions", "2"},      // file
		{"log.retention.ms", "2000"}, // env beats file
		{"log.dirs", "from-flag"},    // flag beats env and file
		{"min.insync.replicas", "1"}, // file, same as default
		{"admin.listener", def.AdminListener},
	} {
		if got := mustGet(t, cfg, tc.key); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func mustGet(t *testing.T, c *config.Config, key string) string {
	t.Helper()
	v, ok := c.Get(key)
	if !ok {
		t.Fatalf("no config %q", key)
	}
	return v
}

var servingLine = regexp.MustCompile(`msg="gregor serving" .*kafka=(\S+) .*admin=http://(\S+)`)

// TestServeInProcess runs `gregor serve` in-process on free ports, uses
// the cluster with the client commands, then interrupts it.
func TestServeInProcess(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: logs, getenv: func(string) string { return "" }}
		done <- a.run(ctx, []string{"serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--admin-listener", "127.0.0.1:0",
			"--data-dir", filepath.Join(dir, "data"), "--set", "num.partitions=2", "--pprof"})
	}()
	var kafka, adminAddr string
	eventually(t, "serve to log its addresses", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d early:\n%s", code, logs.String())
		default:
		}
		m := servingLine.FindStringSubmatch(logs.String())
		if m == nil {
			return false
		}
		kafka, adminAddr = m[1], m[2]
		return true
	})
	for path, want := range map[string]string{"/healthz": "ok\n", "/debug/pprof/": "goroutine"} {
		resp, err := http.Get("http://" + adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
	}

	h := newHarness(t, kafka)
	h.ok("", "cluster", "health")
	h.ok("", "topic", "create", "t") // num.partitions from --set
	if out := h.ok("", "topic", "list"); !strings.Contains(out, "t      2") {
		t.Fatalf("topic list: %q", out)
	}
	h.ok("k v\n", "produce", "t", "-f", "%k %v")
	if got := h.ok("", "consume", "t", "-n", "1", "-f", "%k=%v"); got != "k=v" {
		t.Fatalf("consume: %q", got)
	}

	cancel() // SIGINT
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve exit %d:\n%s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(logs.String(), "stopped cleanly") {
		t.Fatalf("no clean stop in logs:\n%s", logs.String())
	}
}

func TestServeBadConfig(t *testing.T) {
	h := newHarness(t, "")
	h.fails(exitUsage, "no.such.config", "serve", "--set", "no.such.config=1", "--data-dir", t.TempDir())
	h.fails(exitUsage, "config", "serve", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
}
