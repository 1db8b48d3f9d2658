package compat

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
)

// run runs an external client with a deadline and returns its stdout, or
// fails the test with its stderr.
func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestKcat drives librdkafka through kcat: metadata, produce with keys under
// each codec, and a consume that must return every line at its offset.
func TestKcat(t *testing.T) {
	requireTool(t, "kcat", "-V")
	b := testbroker.Start(t, nil)
	const topic = "kcat-compat"
	createTopic(t, b, topic, 1)

	md := run(t, "", "kcat", "-b", b.Addr, "-L", "-t", topic)
	if !strings.Contains(md, `topic "kcat-compat" with 1 partitions`) {
		t.Fatalf("metadata does not list the topic:\n%s", md)
	}

	var want []string
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		var in strings.Builder
		for i := range 30 {
			line := fmt.Sprintf("%s-%d:%s value %d", codec, i%4, codec, i)
			in.WriteString(line + "\n")
			want = append(want, line)
		}
		run(t, in.String(), "kcat", "-b", b.Addr, "-t", topic, "-P", "-K", ":", "-z", codec,
			"-X", "enable.idempotence=true", "-X", "acks=all")
	}

	out := run(t, "", "kcat", "-b", b.Addr, "-t", topic, "-C", "-e", "-o", "beginning", "-f", "%o %k:%s\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("consumed %d lines, produced %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		if exp := fmt.Sprintf("%d %s", i, want[i]); line != exp {
			t.Fatalf("line %d: got %q, want %q", i, line, exp)
		}
	}
}

// TestConfluentKafkaPython runs testdata/confluent_check.py with Debian's
// python3-confluent-kafka (importable only by the system interpreter).
func TestConfluentKafkaPython(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "-c", "import confluent_kafka")
	b := testbroker.Start(t, nil)
	out := run(t, "", "/usr/bin/python3", "testdata/confluent_check.py", b.Addr, "python-compat")
	t.Log(out)
	if !strings.Contains(out, "consume: all") {
		t.Fatalf("check did not finish:\n%s", out)
	}
}
