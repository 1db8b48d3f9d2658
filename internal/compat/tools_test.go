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
	kcatRoundTrip(t, b.Addr, topic, 1, 1)
}

// kcatRoundTrip checks metadata (the topic's partitions, the brokers),
// produces keyed lines under each codec with acks=all, and consumes the
// whole topic back: every line exactly once, each partition's offsets
// 0, 1, 2, ... and its lines in the order they were produced.
func kcatRoundTrip(t *testing.T, bootstrap, topic string, partitions, brokers int) {
	t.Helper()
	md := run(t, "", "kcat", "-b", bootstrap, "-L", "-t", topic)
	if !strings.Contains(md, fmt.Sprintf("topic %q with %d partitions", topic, partitions)) ||
		!strings.Contains(md, fmt.Sprintf("%d brokers:", brokers)) {
		t.Fatalf("metadata does not list the topic's %d partitions and %d brokers:\n%s", partitions, brokers, md)
	}

	var want []string
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		var in strings.Builder
		for i := range 30 {
			line := fmt.Sprintf("%s-%d:%s value %d", codec, i%4, codec, i)
			in.WriteString(line + "\n")
			want = append(want, line)
		}
		run(t, in.String(), "kcat", "-b", bootstrap, "-t", topic, "-P", "-K", ":", "-z", codec,
			"-X", "enable.idempotence=true", "-X", "acks=all")
	}

	out := run(t, "", "kcat", "-b", bootstrap, "-t", topic, "-C", "-e", "-o", "beginning", "-f", "%p %o %k:%s\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("consumed %d lines, produced %d:\n%s", len(lines), len(want), out)
	}
	produced := map[string]int{} // line -> its place in the production order
	for i, line := range want {
		produced[line] = i
	}
	next := map[int32]int64{}   // partition -> its next offset
	lastSent := map[int32]int{} // partition -> production place of its last line
	for _, line := range lines {
		var part int32
		var offset int64
		var rest string
		if _, err := fmt.Sscanf(line, "%d %d", &part, &offset); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if f := strings.SplitN(line, " ", 3); len(f) == 3 {
			rest = f[2]
		}
		place, ok := produced[rest]
		switch {
		case !ok:
			t.Fatalf("consumed %q, which was not produced or came twice", line)
		case offset != next[part]:
			t.Fatalf("partition %d: offset %d after %d", part, offset, next[part]-1)
		case offset > 0 && place < lastSent[part]:
			t.Fatalf("partition %d: %q at offset %d precedes a line produced before it", part, rest, offset)
		}
		delete(produced, rest)
		next[part], lastSent[part] = offset+1, place
	}
}

// TestConfluentKafkaPython runs testdata/confluent_check.py with Debian's
// python3-confluent-kafka (importable only by the system interpreter).
func TestConfluentKafkaPython(t *testing.T) {
	requireTool(t, "/usr/bin/python3", "-c", "import confluent_kafka")
	b := testbroker.Start(t, nil)
	confluentCheck(t, b.Addr, "python-compat", 1, 1)
}

// confluentCheck runs testdata/confluent_check.py against bootstrap: it
// creates topic with the replication factor given and three partitions,
// produces, and consumes by assignment and in a group. The client must
// have found all brokers.
func confluentCheck(t *testing.T, bootstrap, topic string, replicationFactor, brokers int) {
	t.Helper()
	out := run(t, "", "/usr/bin/python3", "testdata/confluent_check.py", bootstrap, topic, fmt.Sprint(replicationFactor))
	t.Log(out)
	if !strings.Contains(out, fmt.Sprintf("; %d brokers,", brokers)) {
		t.Errorf("the client did not find the %d brokers:\n%s", brokers, out)
	}
	if !strings.Contains(out, "group: two members") {
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
	const topic = "kcat-group"
	createTopic(t, b, topic, 3)
	kcatGroup(t, b.Addr, topic, "kcat-g")
}

// kcatGroup checks kcat -G against bootstrap: a first run of group reads
// topic's 30 records and commits, a second run reads only the 10 produced
// since.
func kcatGroup(t *testing.T, bootstrap, topic, group string) {
	t.Helper()
	produce := func(from, to int) {
		var in strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&in, "k%d:v%d\n", i, i)
		}
		run(t, in.String(), "kcat", "-b", bootstrap, "-t", topic, "-P", "-K", ":", "-X", "acks=all")
	}
	consume := func(want int) []string {
		// -e exits once every assigned partition is at its end; -c bounds it.
		out := run(t, "", "kcat", "-b", bootstrap, "-G", group, "-X", "auto.offset.reset=earliest",
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
