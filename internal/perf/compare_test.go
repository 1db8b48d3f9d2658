package perf

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestCompareSmoke runs the whole Compare pipeline at a tiny scale against
// the peers that need no build: kfake, and NATS when installed. It checks
// the report's shape, not its figures.
func TestCompareSmoke(t *testing.T) {
	o := CompareOptions{
		Peers:       []string{PeerKfake, PeerNATS},
		Kinds:       []string{KindProduce, KindConsume, KindConsumeLibrdkafka, KindProduceConsume, KindE2E},
		Records:     300,
		RecordSizes: []int{100},
		Partitions:  []int{1, 2},
		E2EDuration: 100 * time.Millisecond,
		WorkDir:     t.TempDir(),
		Command:     "smoke",
	}
	var progress, out bytes.Buffer
	o.Progress = &progress
	if err := Compare(t.Context(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	report := out.String()
	if _, err := findKcat(""); err == nil && !strings.Contains(report, "## Consume only, with librdkafka's consumer (kcat)") {
		t.Error("kcat is installed but the report has no librdkafka consumer section")
	} else if err != nil && !strings.Contains(report, "kcat is not installed") {
		t.Error("kcat is missing but the report does not say so")
	}
	for _, want := range []string{
		"## Produce only", "## Consume only, from the page cache", "## Produce while consuming: producer side",
		"## Produce while consuming: consumer side", "## End-to-end latency",
		"| 100 B, acks=all, 2 partitions | ", "| 100 B, acks=1, 1 partition | ", "| 100 B, 2 partitions | ",
		"Command: `smoke`",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(report)
	}
}
