package faulttest

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	good := map[int32][]Stored{
		0: {{0, "k-0"}, {1, "k-3"}, {2, "k-6"}},
		1: {{0, "k-1"}, {1, "k-4"}},
	}
	tests := []struct {
		name   string
		acks   []Ack
		logs   map[int32][]Stored
		unique bool
		want   string // a substring of the first problem; "" for none
	}{
		{"all acknowledged records in place", []Ack{{0, 0, "k-0"}, {0, 2, "k-6"}, {1, 1, "k-4"}}, good, true, ""},
		{"unacknowledged records may be present", []Ack{{0, 1, "k-3"}}, good, true, ""},
		{"an acknowledged record lost", []Ack{{1, 2, "k-7"}}, good, true, "lost"},
		{"an acknowledged record moved", []Ack{{0, 1, "k-6"}}, good, true, "the log holds"},
		{"one offset acknowledged twice", []Ack{{0, 1, "k-3"}, {0, 1, "k-9"}}, good, true, "acknowledged for two values"},
		{"a gap in the log", nil, map[int32][]Stored{0: {{0, "a"}, {2, "b"}}}, true, "offsets 1..1 missing"},
		{"a log not starting at 0", nil, map[int32][]Stored{0: {{3, "a"}}}, true, "offsets 0..2 missing"},
		{"one offset read with two values", nil, map[int32][]Stored{0: {{0, "a"}, {0, "b"}}}, true, "read twice"},
		{"a value written twice", nil, map[int32][]Stored{0: {{0, "a"}}, 1: {{0, "a"}}}, true, "in the log twice"},
		{"duplicates allowed without idempotence", nil, map[int32][]Stored{0: {{0, "a"}, {1, "a"}}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := Check(tt.acks, tt.logs, tt.unique)
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Fatalf("unexpected problems: %q", problems)
			case tt.want != "" && len(problems) == 0:
				t.Fatalf("no problem found, want one with %q", tt.want)
			case tt.want != "" && !strings.Contains(problems[0], tt.want):
				t.Fatalf("problems %q, want one with %q", problems, tt.want)
			}
		})
	}
}

// A History keeps every acknowledgement and summarizes failures with a
// bounded tally.
func TestHistoryBoundsErrorKinds(t *testing.T) {
	h := NewHistory()
	for i := range 100 {
		h.Attempt()
		h.Failed(errString(string(rune('a' + i%50))))
	}
	h.Acked(Ack{0, 0, "k-0"})
	if h.AckCount() != 1 || len(h.mu.errors) > maxErrorKinds {
		t.Fatalf("acks %d, error kinds %d", h.AckCount(), len(h.mu.errors))
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestCheckReads(t *testing.T) {
	logs := map[int32][]Stored{0: {{0, "a"}, {1, "b"}}}
	tests := []struct {
		name  string
		reads []Ack
		want  string
	}{
		{"reads still in place", []Ack{{0, 0, "a"}, {0, 1, "b"}}, ""},
		{"a read record gone", []Ack{{0, 2, "c"}}, "gone from the log"},
		{"a read record replaced", []Ack{{0, 1, "x"}}, "now holds"},
		{"one offset read with two values", []Ack{{0, 1, "b"}, {0, 1, "y"}}, "now holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := CheckReads(tt.reads, logs)
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Fatalf("unexpected problems: %q", problems)
			case tt.want != "" && (len(problems) == 0 || !strings.Contains(problems[0], tt.want)):
				t.Fatalf("problems %q, want one with %q", problems, tt.want)
			}
		})
	}
}
