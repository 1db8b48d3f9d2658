package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
)

func TestTopicLifecycle(t *testing.T) {
	h := newHarness(t, startCluster(t))
	golden(t, "topic_create", h.ok("", "topic", "create", "orders", "payments", "-p", "3", "-c", "retention.ms=3600000"))
	r := h.run("", "topic", "create", "orders", "fresh")
	checkFailure(t, r, exitFailure, `topic "orders": TOPIC_ALREADY_EXISTS`, nil)
	if !strings.Contains(r.stdout, "fresh   OK") || !strings.Contains(r.stdout, "orders  TOPIC_ALREADY_EXISTS") {
		t.Fatalf("partial create table: %q", r.stdout)
	}
	golden(t, "topic_list", h.ok("", "topic", "list"))

	// Records in partition 1 only, so that offsets are known.
	h.ok("a\nb\nc\nd\n", "produce", "orders", "-p", "1")
	golden(t, "topic_describe", h.ok("", "topic", "describe", "orders"))
	golden(t, "topic_describe_defaults", h.ok("", "topic", "describe", "fresh"))

	golden(t, "topic_alter_config", h.ok("", "topic", "alter-config", "orders", "--set", "retention.ms=60000", "--set", "cleanup.policy=compact"))
	desc := h.ok("", "topic", "describe", "orders")
	if !strings.Contains(desc, "retention.ms    60000") || !strings.Contains(desc, "cleanup.policy  compact") {
		t.Fatalf("configs not altered:\n%s", desc)
	}
	h.ok("", "topic", "alter-config", "orders", "--delete", "cleanup.policy")
	if desc := h.ok("", "topic", "describe", "orders"); strings.Contains(desc, "cleanup.policy") {
		t.Fatalf("cleanup.policy not reset:\n%s", desc)
	}

	golden(t, "topic_add_partitions", h.ok("", "topic", "add-partitions", "orders", "--num", "2"))
	if desc := h.ok("", "topic", "describe", "orders"); !strings.Contains(desc, "PARTITIONS  5") {
		t.Fatalf("partitions not added:\n%s", desc)
	}

	golden(t, "topic_trim", h.ok("", "topic", "trim", "orders", "-o", "-1", "-p", "1"))
	if out := h.ok("", "consume", "orders", "-e", "-f", "%p@%o=%v\n"); out != "1@3=d\n" {
		t.Fatalf("after trim: %q", out)
	}

	// Internal topics are refused before anything is sent.
	h.fails(exitUsage, `topic "__consumer_offsets" is internal`, "topic", "delete", "orders", "__consumer_offsets")
	golden(t, "topic_delete", h.ok("", "topic", "delete", "orders", "payments", "fresh"))
	h.fails(exitFailure, `topic "orders": topic does not exist`, "topic", "describe", "orders")
	if out := h.ok("", "topic", "list"); strings.Contains(out, "orders") {
		t.Fatalf("deleted topic listed: %q", out)
	}
}

func TestUnknownTopic(t *testing.T) {
	h := newHarness(t, startCluster(t))
	for _, args := range [][]string{
		{"topic", "describe", "nope"},
		{"topic", "trim", "nope", "-o", "end"},
		{"produce", "nope"},
		{"consume", "nope"},
		{"consume", "nope", "-g", "g"},
		{"group", "seek", "g", "--to", "start", "--topics", "nope"},
	} {
		h.fails(exitFailure, `topic "nope": topic does not exist`, args...)
	}
	h.ok("", "topic", "create", "t", "-p", "2")
	h.fails(exitUsage, `topic "t" has no partition 7`, "produce", "t", "-p", "7")
	h.fails(exitUsage, `topic "t" has no partition 7`, "consume", "t", "-p", "7")
}

// roundTripInput has keys, headers and explicit timestamps, so that
// consumed output is the same on every run.
const roundTripInput = `k1;trace-1;1700000000000;hello world
;trace-2;1700000000001;no key
k3;;1700000000002;empty header
k4;trace-4;2023-11-14T22:13:20.003Z;rfc3339 time
`

func TestProduceConsumeRoundTrip(t *testing.T) {
	h := newHarness(t, startCluster(t))
	h.ok("", "topic", "create", "rt", "-p", "1")
	offsets := h.ok(roundTripInput, "produce", "rt", "-f", `%k;%h{trace};%T;%v`, "-H", "source=test", "--print-offsets")
	if offsets != "0@0\n0@1\n0@2\n0@3\n" {
		t.Fatalf("print-offsets: %q", offsets)
	}
	golden(t, "consume_format", h.ok("", "consume", "rt", "-e",
		"-f", `%t %p@%o %T{rfc3339} key=%k(%K) value=%v(%V) headers=[%h] trace=%h{trace} n=%H\n`))
	golden(t, "consume_json", h.ok("", "consume", "rt", "-e", "--json"))

	// The default formats round-trip a value per line.
	h.ok("", "topic", "create", "lines", "-p", "1")
	h.ok("one\ntwo\nthree", "produce", "lines", "-z", "zstd")
	if out := h.ok("", "consume", "lines", "-n", "3"); out != "one\ntwo\nthree\n" {
		t.Fatalf("lines: %q", out)
	}

	// Offsets. One record per batch (one produce each): timestamps are then
	// resolved the same by a broker that indexes batches and one that
	// finds the exact record, as Kafka does.
	h.ok("", "topic", "create", "ts", "-p", "1")
	for _, line := range strings.SplitAfter(strings.TrimSuffix(roundTripInput, "\n"), "\n") {
		h.ok(line, "produce", "ts", "-f", `%k;%h{trace};%T;%v`)
	}
	for _, tc := range []struct{ offset, want string }{
		{"start", "0 1 2 3 "},
		{"+1", "1 2 3 "},
		{"-2", "2 3 "},
		{"2", "2 3 "},
		{"1:3", "1 2 "},
		{":1", "0 "},
		{"-3:-1", "1 2 "},
		{"@1700000000002", "2 3 "},
		{"@2023-11-14T22:13:20.001Z:@1700000000003", "1 2 "},
		{"end", ""},
	} {
		args := []string{"consume", "ts", "-o", tc.offset, "-f", "%o "}
		if !strings.Contains(tc.offset, ":") {
			args = append(args, "-e")
		}
		if got := h.ok("", args...); got != tc.want {
			t.Errorf("-o %s: got %q, want %q", tc.offset, got, tc.want)
		}
	}
	if got := h.ok("", "consume", "rt", "-n", "2", "-f", "%v,"); got != "hello world,no key," {
		t.Errorf("-n 2: %q", got)
	}

	// From a file, with an explicit partition and acks=1.
	file := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(file, []byte("x\ny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.ok("", "produce", "rt", "--file", file, "-p", "0", "--acks", "1", "-k", "fixed")
	if got := h.ok("", "consume", "rt", "-o", "4", "-e", "-f", "%k=%v "); got != "fixed=x fixed=y " {
		t.Errorf("from file: %q", got)
	}
}

func TestConsumeFollowsUntilInterrupted(t *testing.T) {
	h := newHarness(t, startCluster(t))
	h.ok("", "topic", "create", "live", "-p", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	out := &syncBuffer{}
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: func(k string) string { return h.env[k] }}
		done <- result{code: a.run(ctx, []string{"consume", "live", "-o", "end"})}
	}()
	// Produce until the follower prints something: it may join after the
	// first records, since -o end starts at the HighWatermark.
	eventually(t, "the follower to print a new record", func() bool {
		h.ok("ping\n", "produce", "live")
		return strings.Contains(out.String(), "ping\n")
	})
	cancel() // what SIGINT does
	select {
	case r := <-done:
		if r.code != exitOK {
			t.Fatalf("interrupted consume exit %d: %s", r.code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consume did not stop after the interrupt")
	}
}

func TestGroupLag(t *testing.T) {
	// No initial rebalance delay: each join would otherwise wait 3 s.
	h := newHarness(t, testbroker.Start(t, map[string]string{"group.initial.rebalance.delay.ms": "0"}).Addr)
	h.ok("", "topic", "create", "events", "-p", "1")
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, "event-%d\n", i)
	}
	h.ok(in.String(), "produce", "events")

	// A consumer that stops halfway commits what it printed.
	if got := h.ok("", "consume", "events", "-g", "billing", "-n", "4", "-f", "%v "); got != "event-0 event-1 event-2 event-3 " {
		t.Fatalf("group consume: %q", got)
	}
	normalizeCoordinator := func(s string) string { return normalize(s, `(COORDINATOR\s+)\d+`, "${1}N") }
	golden(t, "group_describe_halfway", normalizeCoordinator(h.ok("", "group", "describe", "billing")))
	if out := h.ok("", "group", "list"); !strings.Contains(out, "billing") {
		t.Fatalf("group list: %q", out)
	}

	// The next member of the group resumes where the first stopped.
	if got := h.ok("", "consume", "events", "-g", "billing", "-n", "2", "-f", "%v "); got != "event-4 event-5 " {
		t.Fatalf("resumed group consume: %q", got)
	}

	golden(t, "group_seek_start", h.ok("", "group", "seek", "billing", "--to", "start"))
	if out := h.ok("", "group", "describe", "billing"); !strings.Contains(out, "TOTAL-LAG      10") {
		t.Fatalf("after seek to start:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "offsets")
	if err := os.WriteFile(file, []byte("# topic partition offset\nevents 0 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.ok("", "group", "seek", "billing", "--to-file", file)
	if out := h.ok("", "group", "describe", "billing"); !strings.Contains(out, "TOTAL-LAG      3") {
		t.Fatalf("after seek from file:\n%s", out)
	}
	h.ok("", "group", "seek", "billing", "--to", "@1", "--dry-run")

	golden(t, "group_offset_delete", h.ok("", "group", "offset-delete", "billing", "--topic", "events"))
	if out := h.run("", "group", "describe", "billing"); strings.Contains(out.stdout, "events  0") {
		t.Fatalf("offsets not deleted:\n%s", out.stdout)
	}

	// Seeking a group that does not exist yet creates its offsets.
	h.ok("", "group", "seek", "audit", "--to", "end", "--topics", "events")
	if out := h.ok("", "group", "describe", "audit"); !strings.Contains(out, "TOTAL-LAG      0") {
		t.Fatalf("new group at the end:\n%s", out)
	}
	golden(t, "group_delete", h.ok("", "group", "delete", "audit"))
	h.fails(exitFailure, `group "audit": group does not exist`, "group", "describe", "audit")
	h.fails(exitFailure, `group "audit": group does not exist`, "group", "delete", "audit")
}

func TestConsumeJSONIsJSON(t *testing.T) {
	h := newHarness(t, startCluster(t))
	h.ok("", "topic", "create", "j", "-p", "1")
	h.ok("plain\n", "produce", "j", "-H", "h=1")
	out := h.ok("", "consume", "j", "-e", "--json")
	var rec map[string]any
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if rec["value"] != "plain" || rec["key"] != nil || rec["topic"] != "j" {
		t.Fatalf("unexpected JSON record %v", rec)
	}
}
