package faulttest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Ack is one record the cluster acknowledged (acks=all): the producer was
// told it is at Offset of Partition.
type Ack struct {
	Partition int32
	Offset    int64
	Value     string
}

// Stored is one record as read back from a partition's log.
type Stored struct {
	Offset int64
	Value  string
}

// History records what a producer was told, for Check. Safe for
// concurrent use (the producer's callbacks run on the client's
// goroutines).
type History struct {
	mu struct {
		sync.Mutex
		acks     []Ack
		attempts int
		failures int
		refused  int // never sent: the producer's buffer was full
		// errors counts failures by message, at most maxErrorKinds of
		// them, so a report says why writes failed.
		errors map[string]int
		// lastAck and maxAckGap measure the longest time without an
		// acknowledgement: how long a fault stalled writes (reported,
		// never asserted).
		lastAck   time.Time
		maxAckGap time.Duration
	}
}

// maxErrorKinds bounds History's tally of distinct failure messages.
const maxErrorKinds = 16

// NewHistory returns an empty history.
func NewHistory() *History {
	h := &History{}
	h.mu.errors = map[string]int{}
	return h
}

// Refused counts a record the producer refused at once (its buffer was
// full): never sent, it constrains nothing.
func (h *History) Refused() {
	h.mu.Lock()
	h.mu.refused++
	h.mu.Unlock()
}

// Attempt counts one record sent (acknowledged or failed).
func (h *History) Attempt() {
	h.mu.Lock()
	h.mu.attempts++
	h.mu.Unlock()
}

// Acked records an acknowledged record.
func (h *History) Acked(a Ack) {
	now := time.Now()
	h.mu.Lock()
	h.mu.acks = append(h.mu.acks, a)
	if !h.mu.lastAck.IsZero() {
		h.mu.maxAckGap = max(h.mu.maxAckGap, now.Sub(h.mu.lastAck))
	}
	h.mu.lastAck = now
	h.mu.Unlock()
}

// Failed records a record the producer gave up on: it may or may not be
// in the log, and Check accepts either.
func (h *History) Failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.failures++
	msg := err.Error()
	if _, ok := h.mu.errors[msg]; ok || len(h.mu.errors) < maxErrorKinds {
		h.mu.errors[msg]++
	}
}

// AckCount is the number of acknowledged records so far: a scenario
// compares it before and after a fault to prove writes continued.
func (h *History) AckCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.mu.acks)
}

// Acks returns a copy of the acknowledged records.
func (h *History) Acks() []Ack {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.mu.acks)
}

// String summarizes the history for a test log.
func (h *History) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("%d sent, %d acknowledged (longest wait between acknowledgements %v), %d failed %v, %d refused with a full buffer",
		h.mu.attempts, len(h.mu.acks), h.mu.maxAckGap.Round(time.Millisecond), h.mu.failures, h.mu.errors, h.mu.refused)
}

// maxProblems bounds the problems Check reports: past a few, more of the
// same only hide the first.
const maxProblems = 20

// Check compares the acknowledged records with the partitions' logs as
// read back (every partition from offset 0 up to its high watermark) and
// returns every broken promise, or nothing:
//
//  1. every acknowledged record is in the log at its acknowledged offset
//     (nothing acknowledged is lost or moved);
//  2. no offset was acknowledged for two values, and no offset holds two
//     values in the log;
//  3. with unique set (an idempotent producer of distinct values), no
//     value is in the log twice;
//  4. the log's offsets are dense from 0 (no compaction, transactions or
//     deleted records in these tests, so a gap is a lost batch).
//
// Records that were produced but never acknowledged may be present or
// absent: they constrain nothing but 2–4.
func Check(acks []Ack, logs map[int32][]Stored, unique bool) []string {
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	type at struct {
		partition int32
		offset    int64
	}
	inLog := map[at]string{}
	where := map[string]at{}
	for _, p := range sortedKeys(logs) {
		next := int64(0)
		for _, s := range logs[p] {
			switch {
			case s.Offset < next:
				if v, ok := inLog[at{p, s.Offset}]; ok && v != s.Value {
					report("partition %d offset %d read twice, holding %q and %q", p, s.Offset, v, s.Value)
				} else {
					report("partition %d offset %d read out of order (after %d)", p, s.Offset, next-1)
				}
				continue
			case s.Offset > next:
				report("partition %d: offsets %d..%d missing from the log", p, next, s.Offset-1)
			}
			next = s.Offset + 1
			inLog[at{p, s.Offset}] = s.Value
			if prev, dup := where[s.Value]; dup && unique {
				report("value %q is in the log twice: partition %d offset %d and partition %d offset %d", s.Value, prev.partition, prev.offset, p, s.Offset)
			}
			where[s.Value] = at{p, s.Offset}
		}
	}
	ackedAt := map[at]string{}
	for _, a := range acks {
		key := at{a.Partition, a.Offset}
		if prev, dup := ackedAt[key]; dup && prev != a.Value {
			report("partition %d offset %d acknowledged for two values: %q and %q", a.Partition, a.Offset, prev, a.Value)
		}
		ackedAt[key] = a.Value
		got, ok := inLog[key]
		switch {
		case !ok:
			report("acknowledged %q at partition %d offset %d: lost (not in the log)", a.Value, a.Partition, a.Offset)
		case got != a.Value:
			report("acknowledged %q at partition %d offset %d: the log holds %q there", a.Value, a.Partition, a.Offset, got)
		}
	}
	return problems
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// CheckReads checks what consumers read while the faults went on against
// the partitions' final logs: a record read below the high watermark is
// committed, so it must still be at the offset it was read at, with the
// same value. A consumer that read one offset with two values shows up
// as a read the log contradicts.
func CheckReads(reads []Ack, logs map[int32][]Stored) []string {
	var problems []string
	inLog := map[int32]map[int64]string{}
	for p, recs := range logs {
		m := make(map[int64]string, len(recs))
		for _, s := range recs {
			m[s.Offset] = s.Value
		}
		inLog[p] = m
	}
	for _, r := range reads {
		got, ok := inLog[r.Partition][r.Offset]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("read %q at partition %d offset %d during the faults: gone from the log", r.Value, r.Partition, r.Offset))
		case got != r.Value:
			problems = append(problems, fmt.Sprintf("read %q at partition %d offset %d during the faults: the log now holds %q there", r.Value, r.Partition, r.Offset, got))
		}
		if len(problems) >= maxProblems {
			break
		}
	}
	return problems
}
