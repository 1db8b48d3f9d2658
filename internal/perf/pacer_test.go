package perf

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestPacerCountsPermits(t *testing.T) {
	// The schedule is arithmetic: count the permits due by a given offset
	// instead of timing anything.
	for _, tc := range []struct {
		rate    float64
		elapsed time.Duration
		want    int64
	}{
		{1000, 0, 1},
		{1000, time.Second, 1001},
		{1000, 1500 * time.Millisecond, 1501},
		{1000, 999 * time.Microsecond, 1},
		{1000, time.Millisecond, 2},
		{3, time.Second, 4},
		{0.5, 3 * time.Second, 2},
		{1000, -time.Second, 0},
		{0, time.Hour, math.MaxInt64},
	} {
		p := newPacer(tc.rate, time.Time{})
		if got := p.allowedBy(tc.elapsed); got != tc.want {
			t.Errorf("rate %v: allowedBy(%v) = %d, want %d", tc.rate, tc.elapsed, got, tc.want)
		}
	}
}

func TestPacerTakeSchedule(t *testing.T) {
	// 2,500 permits taken at 1,000/s: due times are 1 ms apart from the
	// start, and exactly 1,001 of them are due within the first second.
	start := time.Unix(1000, 0)
	p := newPacer(1000, start)
	dueWithinSecond := 0
	var last time.Time
	for i := range 2500 {
		due := p.take()
		if i > 0 && due.Sub(last) != time.Millisecond {
			t.Fatalf("permit %d: %v after the previous", i, due.Sub(last))
		}
		if !due.After(start.Add(time.Second)) {
			dueWithinSecond++
		}
		last = due
	}
	if dueWithinSecond != 1001 {
		t.Fatalf("%d permits due within 1 s, want 1001", dueWithinSecond)
	}
	if got := last.Sub(start); got != 2499*time.Millisecond {
		t.Fatalf("last permit due at %v", got)
	}
}

func TestPacerSharedAcrossSenders(t *testing.T) {
	// Permits are handed out once each whatever the number of senders.
	p := newPacer(100, time.Time{})
	seen := map[time.Time]bool{}
	done := make(chan []time.Time)
	for range 4 {
		go func() {
			var got []time.Time
			for range 250 {
				got = append(got, p.take())
			}
			done <- got
		}()
	}
	for range 4 {
		for _, d := range <-done {
			if seen[d] {
				t.Fatalf("permit due at %v handed out twice", d)
			}
			seen[d] = true
		}
	}
	if len(seen) != 1000 || p.issued.Load() != 1000 {
		t.Fatalf("%d distinct permits, %d issued", len(seen), p.issued.Load())
	}
}

func TestPacerWait(t *testing.T) {
	// Unlimited pacers never block; a cancelled context ends a wait for a
	// permit due in an hour.
	if err := newPacer(0, time.Now()).Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := newPacer(1.0/3600, time.Now())
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err) // permit 0 is due at once
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); err == nil {
		t.Fatal("wait for a permit an hour away returned without error on a cancelled context")
	}
}
