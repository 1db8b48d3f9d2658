package cli

import (
	"regexp"
	"strings"
	"testing"
)

// Result.String's shape: counts and rates, then latency unless the run
// measures none (consume). Figures are not checked: tests assert no timing.
var (
	benchLine        = regexp.MustCompile(`^(\d+) records, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, .* ms 99\.9th\.\n$`)
	benchLineNoDelay = regexp.MustCompile(`^(\d+) records, [\d.]+ records/sec \([\d.]+ MB/sec\)\.\n$`)
)

func checkBenchLine(t *testing.T, re *regexp.Regexp, out, records string) {
	t.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil || m[1] != records {
		t.Fatalf("want a summary line of %s records, got %q", records, out)
	}
}

// TestBenchCommands runs produce, consume and e2e with a few hundred
// records against an in-process broker.
func TestBenchCommands(t *testing.T) {
	h := newHarness(t, startCluster(t))
	out := h.ok("", "bench", "produce", "load", "-n", "300", "-s", "64", "--producers", "2", "-p", "2", "-z", "lz4")
	checkBenchLine(t, benchLine, out, "300")
	if out := h.ok("", "topic", "describe", "load"); !regexp.MustCompile(`PARTITIONS\s+2\n`).MatchString(out) {
		t.Fatalf("bench topic not created with 2 partitions:\n%s", out)
	}
	// Without --records or --duration, consume stops at the HighWatermarks.
	checkBenchLine(t, benchLineNoDelay, h.ok("", "bench", "consume", "load"), "300")
	checkBenchLine(t, benchLineNoDelay, h.ok("", "bench", "consume", "--topic", "load", "-n", "100"), "100")
	checkBenchLine(t, benchLine, h.ok("", "bench", "e2e", "latency", "-n", "200", "--warmup", "20", "--rate", "5000", "-s", "32", "--acks", "1", "--idempotent=false"), "200")

	h.ok("", "topic", "create", "empty")
	checkBenchLine(t, benchLineNoDelay, h.ok("", "bench", "consume", "empty"), "0")
}

// TestBenchUsage checks that bad flags and arguments fail with exit 2 and
// one line, before any traffic, and run-time failures with exit 1.
func TestBenchUsage(t *testing.T) {
	h := newHarness(t, startCluster(t))
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"producers 0: want 1..256", []string{"bench", "produce", "--producers", "0"}},
		{"idempotence needs acks=all", []string{"bench", "produce", "--acks", "1"}},
		{`compression "brotli"`, []string{"bench", "produce", "-z", "brotli"}},
		{"records -1: want >= 0", []string{"bench", "consume", "load", "-n", "-1"}},
		{"rate 0: want > 0", []string{"bench", "e2e", "--rate", "0"}},
		{"record size 8", []string{"bench", "e2e", "-s", "8"}},
		{"not both", []string{"bench", "produce", "a", "--topic", "b"}},
		{"at most 1 argument", []string{"bench", "consume", "a", "b"}},
		{"unknown flag: --consumers", []string{"bench", "consume", "--consumers", "2"}},
		{"repetitions 1", []string{"bench", "compare", "--reps", "1"}},
		{`peer "redpanda"`, []string{"bench", "compare", "--peers", "redpanda"}},
		{`unknown command "produc"`, []string{"bench", "produc"}},
	} {
		h.fails(exitUsage, tc.want, tc.args...)
	}
	h.fails(exitFailure, `topic "nope": topic does not exist`, "bench", "consume", "nope")
}

// TestBenchCompare runs compare at its smallest (kfake only, produce only)
// to check the wiring: the report on stdout headed by the command that
// reproduces it. perf's own tests cover the report itself.
func TestBenchCompare(t *testing.T) {
	h := newHarness(t, "")
	r := h.run("", "bench", "compare", "--peers", "kfake", "--workloads", "produce",
		"--records", "100", "--sizes", "100", "--partitions", "1", "--acks", "1", "--work-dir", t.TempDir())
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"## Produce only",
		"Command: `gregor bench compare --acks=1 --partitions=1 --peers=kfake --records=100 --sizes=100 --work-dir=",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
}
