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

// TestKcatBalancedConsumer runs librdkafka's balanced consumer (kcat -G):
// it joins a group, gets every partition, reads everything, commits; a
// second run of the same group resumes after the committed offsets and
// reads only what was produced since.
func TestKcatBalancedConsumer(t *testing.T) {
	requireTool(t, "kcat", "-V")
	b := testbroker.Start(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	const topic, group = "kcat-group", "kcat-g"
	createTopic(t, b, topic, 3)
	produce := func(from, to int) {
		var in strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&in, "k%d:v%d\n", i, i)
		}
		run(t, in.String(), "kcat", "-b", b.Addr, "-t", topic, "-P", "-K", ":")
	}
	consume := func(want int) []string {
		// -e exits once every assigned partition is at its end; -c bounds it.
		out := run(t, "", "kcat", "-b", b.Addr, "-G", group, "-X", "auto.offset.reset=earliest",
			"-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100", "-e", "-c", fmt.Sprint(want), "-f", "%s\n", topic)
		return strings.Fields(out)
	}
	produce(0, 30)
	if got := consume(30); len(got) != 30 {
		t.Fatalf("first run read %d records, want 30: %v", len(got), got)
	}
	produce(30, 40)
	got := consume(10)
	if len(got) != 10 {
		t.Fatalf("second run read %d records, want the 10 new ones: %v", len(got), got)
	}
	for _, v := range got {
		var n int
		if _, err := fmt.Sscanf(v, "v%d", &n); err != nil || n < 30 {
			t.Fatalf("second run re-read %q: committed offsets were not resumed", v)
		}
	}
}
