package storage

import (
	"errors"
	"testing"
)

// TestAppendUnflushed: the write half of Append leaves the fsync to
// FlushTo, says when the policy wants one, and FlushTo covers every
// write before it (group commit of pipelined appends).
func TestAppendUnflushed(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Config{})
	var last AppendResult
	for range 3 {
		res, flush, err := l.AppendUnflushed(makeBatch(2, 10, 0, 0), leader(0))
		if err != nil || !flush {
			t.Fatalf("durable policy: flush=%v, err=%v", flush, err)
		}
		last = res
	}
	if l.FlushedOffset() != 0 || l.LogEndOffset() != 6 {
		t.Fatalf("flushed %d, end %d before FlushTo", l.FlushedOffset(), l.LogEndOffset())
	}
	if err := l.FlushTo(last.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	if l.FlushedOffset() != 6 {
		t.Fatalf("flushed %d after FlushTo(6)", l.FlushedOffset())
	}
	if err := l.FlushTo(2); err != nil { // covered already: no fsync
		t.Fatal(err)
	}

	// After Close, FlushTo succeeds only for what Close made durable.
	if _, _, err := l.AppendUnflushed(makeBatch(1, 10, 0, 0), leader(0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.FlushTo(7); err != nil {
		t.Fatalf("FlushTo of data a clean Close fsynced: %v", err)
	}
	if err := l.FlushTo(8); !errors.Is(err, ErrClosed) {
		t.Fatalf("FlushTo beyond a closed log's end: %v, want ErrClosed", err)
	}

	pc := mustOpen(t, t.TempDir(), testConfig())
	defer pc.Close()
	if _, flush, err := pc.AppendUnflushed(makeBatch(2, 10, 0, 0), leader(0)); err != nil || flush {
		t.Fatalf("page-cache policy: flush=%v, err=%v", flush, err)
	}
}
