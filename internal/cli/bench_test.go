package cli

import (
	"encoding/json"
	"regexp"
	"testing"
)

func TestBenchCommands(t *testing.T) {
	h := newHarness(t, startCluster(t))
	out := h.ok("", "bench", "produce", "load", "-n", "2000", "-s", "64", "--producers", "2", "-p", "2")
	shape := regexp.MustCompile(`(?m)^RECORDS\s+2000\n(?s:.*)^LATENCY-P99\.9\s+\S+\n(?s:.*)^ERRORS\s+0\n$`)
	if !shape.MatchString(out) {
		t.Fatalf("bench produce output:\n%s", out)
	}
	if out := h.ok("", "topic", "describe", "load"); !regexp.MustCompile(`PARTITIONS\s+2\n`).MatchString(out) {
		t.Fatalf("bench topic not created with 2 partitions:\n%s", out)
	}
	var res benchJSON
	if err := json.Unmarshal([]byte(h.ok("", "bench", "consume", "load", "--consumers", "2", "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Records != 2000 || res.Bytes != 2000*64 {
		t.Fatalf("bench consume: %+v", res)
	}
	h.fails(exitUsage, "--producers and --partitions must be positive", "bench", "produce", "load", "--producers", "0")
	h.fails(exitFailure, `topic "nope": topic does not exist`, "bench", "consume", "nope")
}
