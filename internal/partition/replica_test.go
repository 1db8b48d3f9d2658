package partition

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
)

// The tests here pair partitions in temporary directories: a leader and
// followers, with replicate standing in for one follower fetch (the
// broker's fetch branch and the fetcher do the same over the network).

const (
	leaderID   = 1
	followerID = 2
)

// openLeader opens a partition leading epoch with replicas and isr.
func openLeader(t *testing.T, cfg Config, epoch int32, replicas, isr []int32) *Partition {
	t.Helper()
	p := openTest(t, t.TempDir(), cfg)
	t.Cleanup(func() { p.Close() })
	p.SetLocalReplicaID(leaderID)
	if err := p.BecomeLeader(epoch, replicas, isr); err != nil {
		t.Fatal(err)
	}
	return p
}

// openFollower opens a partition following leaderID at epoch.
func openFollower(t *testing.T, epoch int32) *Partition {
	t.Helper()
	p := openTest(t, t.TempDir(), testConfig())
	t.Cleanup(func() { p.Close() })
	p.SetLocalReplicaID(followerID)
	if err := p.BecomeFollower(epoch, leaderID); err != nil {
		t.Fatal(err)
	}
	return p
}

// readRange returns the bytes of the batches in [from, upTo) of p's log.
func readRange(t testing.TB, p *Partition, from, upTo int64) []byte {
	t.Helper()
	var out []byte
	for off := from; off < upTo; {
		s, err := p.Read(off, 1<<20, upTo)
		if err != nil {
			t.Fatal(err)
		}
		if s.Size == 0 {
			break
		}
		buf := make([]byte, s.Size)
		if _, err := s.File.ReadAt(buf, s.Pos); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		out = append(out, buf...)
		off = lastNextOffset(t, buf)
	}
	return out
}

func lastNextOffset(t testing.TB, batches []byte) int64 {
	t.Helper()
	var next int64
	for rest := batches; len(rest) > 0; {
		h, err := record.ReadHeader(rest)
		if err != nil {
			t.Fatal(err)
		}
		next = h.NextOffset()
		rest = rest[h.Size():]
	}
	return next
}

// replicate is one follower fetch: the follower reports its log end, the
// leader records it and answers with everything after it up to its log
// end and its high watermark, and the follower appends that.
func replicate(t testing.TB, leader, follower *Partition, id int32, now time.Time) {
	t.Helper()
	from := follower.LogEndOffset()
	if err := leader.UpdateFollowerFetch(id, from, now); err != nil {
		t.Fatal(err)
	}
	data := readRange(t, leader, from, leader.LogEndOffset())
	if _, err := follower.AppendAsFollower(data, leader.HighWatermark()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHighWatermarkIsLeastLogEndOverISR(t *testing.T) {
	leader := openLeader(t, testConfig(), 1, []int32{1, 2}, []int32{1, 2})
	follower := openFollower(t, 1)
	now := time.Unix(1000, 0)
	if _, err := produce(t, leader, 1, makeBatch(t, plain(5))); err != nil {
		t.Fatal(err)
	}
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before the follower fetched, want 0", hw)
	}
	replicate(t, leader, follower, followerID, now) // follower gets [0,5)
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d: the follower reported offset 0, want 0", hw)
	}
	if follower.LogEndOffset() != 5 || follower.HighWatermark() != 0 {
		t.Fatalf("follower log end %d, high watermark %d; want 5, 0", follower.LogEndOffset(), follower.HighWatermark())
	}
	replicate(t, leader, follower, followerID, now) // reports 5
	if hw := leader.HighWatermark(); hw != 5 {
		t.Fatalf("leader high watermark %d, want 5", hw)
	}
	if hw := follower.HighWatermark(); hw != 5 {
		t.Fatalf("follower high watermark %d, want the leader's 5", hw)
	}
	if a, b := readRange(t, leader, 0, 5), readRange(t, follower, 0, 5); string(a) != string(b) {
		t.Fatal("follower's log differs from the leader's")
	}
	// A follower outside the replica set is refused; produce to a
	// follower is refused.
	if err := leader.UpdateFollowerFetch(9, 0, now); !errors.Is(err, ErrUnknownReplica) {
		t.Fatalf("fetch from replica 9: err = %v", err)
	}
	if _, err := produce(t, follower, 1, makeBatch(t, plain(1))); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("produce to follower: err = %v", err)
	}
	if _, err := leader.AppendAsFollower(nil, 0); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("follower append on the leader: err = %v", err)
	}
}

func TestAcksAllCompletesWhenFollowerFetched(t *testing.T) {
	leader := openLeader(t, testConfig(), 1, []int32{1, 2}, []int32{1, 2})
	follower := openFollower(t, 1)
	done := make(chan error, 1)
	go func() {
		_, err := produce(t, leader, -1, makeBatch(t, plain(3)))
		done <- err
	}()
	waitFor(t, "the append", func() bool { return leader.LogEndOffset() == 3 })
	select {
	case err := <-done:
		t.Fatalf("acks=all returned (%v) before the follower had the data", err)
	default:
	}
	now := time.Unix(1000, 0)
	replicate(t, leader, follower, followerID, now)
	replicate(t, leader, follower, followerID, now)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestISRShrinkAndExpand(t *testing.T) {
	cfg := testConfig()
	cfg.MinInsyncReplicas = 2
	t0 := time.Unix(1000, 0)
	leader := openTest(t, t.TempDir(), cfg)
	defer leader.Close()
	leader.now = func() time.Time { return t0 }
	leader.SetLocalReplicaID(leaderID)
	if err := leader.BecomeLeader(1, []int32{1, 2}, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	follower := openFollower(t, 1)
	const lagMs = 30_000
	if _, err := produce(t, leader, 1, makeBatch(t, plain(4))); err != nil {
		t.Fatal(err)
	}
	if isr, ok := leader.ISRChangeProposal(t0.Add(lagMs*time.Millisecond), lagMs); ok {
		t.Fatalf("proposal %v within replica.lag.time.max.ms", isr)
	}
	// The follower never fetches: past the lag it is proposed out.
	later := t0.Add(lagMs*time.Millisecond + time.Millisecond)
	isr, ok := leader.ISRChangeProposal(later, lagMs)
	if !ok || !slices.Equal(isr, []int32{1}) {
		t.Fatalf("proposal %v, %v; want [1]", isr, ok)
	}
	if _, ok := leader.ISRChangeProposal(later, lagMs); ok {
		t.Fatal("a second proposal while one is pending")
	}
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d while the shrink is pending, want 0 (the maximal ISR counts)", hw)
	}
	if err := leader.ApplyISR([]int32{1}, 5); err != nil {
		t.Fatal(err)
	}
	if hw := leader.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d after the shrink, want 4", hw)
	}
	// min.insync.replicas=2 with an ISR of one: nothing written.
	if _, err := produce(t, leader, -1, makeBatch(t, plain(1))); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("acks=all with a small ISR: err = %v", err)
	}
	if leader.LogEndOffset() != 4 {
		t.Fatalf("log end %d after a refused produce, want 4", leader.LogEndOffset())
	}
	if _, err := produce(t, leader, 1, makeBatch(t, plain(1))); err != nil {
		t.Fatalf("acks=1 ignores min.insync.replicas: %v", err)
	}
	// The follower catches up: proposed back in; while pending the
	// high watermark counts it.
	replicate(t, leader, follower, followerID, later)
	if _, ok := leader.ISRChangeProposal(later, lagMs); ok {
		t.Fatal("proposed before the follower reached the high watermark")
	}
	replicate(t, leader, follower, followerID, later)
	isr, ok = leader.ISRChangeProposal(later, lagMs)
	if !ok || !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("proposal %v, %v; want [1 2]", isr, ok)
	}
	if err := leader.ApplyISR([]int32{1}, 4); !errors.Is(err, ErrStaleLeaderEpoch) {
		t.Fatalf("stale ApplyISR: err = %v", err)
	}
	if err := leader.ApplyISR([]int32{1, 2}, 6); err != nil {
		t.Fatal(err)
	}
	if got := leader.ISR(); !slices.Equal(got, []int32{1, 2}) || leader.PendingISR() != nil {
		t.Fatalf("ISR %v, pending %v", got, leader.PendingISR())
	}
	done := make(chan error, 1)
	go func() {
		_, err := produce(t, leader, -1, makeBatch(t, plain(2)))
		done <- err
	}()
	waitFor(t, "the append", func() bool { return leader.LogEndOffset() == 7 })
	replicate(t, leader, follower, followerID, later)
	replicate(t, leader, follower, followerID, later)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNotEnoughReplicasAfterAppend(t *testing.T) {
	cfg := testConfig()
	cfg.MinInsyncReplicas = 2
	leader := openLeader(t, cfg, 1, []int32{1, 2}, []int32{1, 2})
	done := make(chan error, 1)
	go func() {
		_, err := produce(t, leader, -1, makeBatch(t, plain(2)))
		done <- err
	}()
	waitFor(t, "the append", func() bool { return leader.LogEndOffset() == 2 })
	// The controller removes the follower while the produce waits: the
	// high watermark moves, but the ISR is below min.insync.replicas.
	if err := leader.ApplyISR([]int32{1}, 1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("err = %v, want ErrNotEnoughReplicasAfterAppend", err)
	}
	if leader.HighWatermark() != 2 {
		t.Fatalf("high watermark %d, want 2", leader.HighWatermark())
	}
}

func TestRoleChangesOrderedByEpoch(t *testing.T) {
	p := openLeader(t, testConfig(), 3, []int32{1, 2}, []int32{1})
	if err := p.BecomeFollower(2, 2); !errors.Is(err, ErrStaleLeaderEpoch) {
		t.Fatalf("stale BecomeFollower: err = %v", err)
	}
	if !p.IsLeader() || p.LeaderEpoch() != 3 {
		t.Fatal("a stale role change was applied")
	}
	// The leader of a one-member ISR commits its own appends.
	if _, err := produce(t, p, -1, makeBatch(t, plain(2))); err != nil {
		t.Fatal(err)
	}
	// A parked acks=all gives up when leadership moves.
	if err := p.ApplyISR([]int32{1, 2}, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := produce(t, p, -1, makeBatch(t, plain(1)))
		done <- err
	}()
	waitFor(t, "the append", func() bool { return p.LogEndOffset() == 3 })
	if err := p.BecomeFollower(4, 2); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrNotLeader) {
		t.Fatalf("parked produce: err = %v, want ErrNotLeader", err)
	}
	if p.Leader() != 2 || p.IsLeader() {
		t.Fatalf("leader %d, is leader %v", p.Leader(), p.IsLeader())
	}
	if err := p.BecomeLeader(3, []int32{1, 2}, []int32{1}); !errors.Is(err, ErrStaleLeaderEpoch) {
		t.Fatalf("stale BecomeLeader: err = %v", err)
	}
}

// TestDivergentFollowerTruncatesAndConverges is KIP-101's scenario: the
// old leader holds an uncommitted suffix of epoch 1 when a follower takes
// over at epoch 2 and writes other records at those offsets. Back as a
// follower, the old leader truncates to where the new leader's epoch 1
// ends, rebuilds its producer state, and ends byte-identical.
func TestDivergentFollowerTruncatesAndConverges(t *testing.T) {
	now := time.Unix(1000, 0)
	a := openLeader(t, testConfig(), 1, []int32{1, 2}, []int32{1, 2})
	b := openFollower(t, 1)
	if _, err := produce(t, a, 1, makeBatch(t, idem(7, 0, 0, 5))); err != nil {
		t.Fatal(err)
	}
	replicate(t, a, b, followerID, now)
	replicate(t, a, b, followerID, now)
	if a.HighWatermark() != 5 || b.HighWatermark() != 5 {
		t.Fatalf("high watermarks %d, %d; want 5", a.HighWatermark(), b.HighWatermark())
	}
	// Uncommitted on a only: producer 7's sequences 5..7.
	if _, err := produce(t, a, 1, makeBatch(t, idem(7, 0, 5, 3))); err != nil {
		t.Fatal(err)
	}
	// b takes over at epoch 2 (a is gone) and producer 7 retries on it
	// with other records for sequences 5..8.
	b.SetLocalReplicaID(followerID)
	if err := b.BecomeLeader(2, []int32{1, 2}, []int32{2}); err != nil {
		t.Fatal(err)
	}
	spec := idem(7, 0, 5, 4)
	spec.value = []byte("from the new leader")
	if _, err := produce(t, b, -1, makeBatch(t, spec)); err != nil {
		t.Fatal(err)
	}
	// a follows b at epoch 2: OffsetForLeaderEpoch(1) on b says epoch 1
	// ends at 5; a truncates to min(5, its log end 8).
	if err := a.BecomeFollower(2, followerID); err != nil {
		t.Fatal(err)
	}
	latest := a.LatestLeaderEpoch()
	if latest != 1 {
		t.Fatalf("a's latest epoch %d, want 1", latest)
	}
	epoch, end := b.EndOffsetForEpoch(latest)
	if epoch != 1 || end != 5 {
		t.Fatalf("b's end of epoch 1: (%d, %d), want (1, 5)", epoch, end)
	}
	if err := a.TruncateTo(min(end, a.LogEndOffset())); err != nil {
		t.Fatal(err)
	}
	if a.LogEndOffset() != 5 {
		t.Fatalf("a's log end %d after truncation, want 5", a.LogEndOffset())
	}
	if got := lastSequence(a, 7); got != 4 {
		t.Fatalf("producer 7's last sequence %d after truncation, want 4", got)
	}
	// b records a as a follower of epoch 2 (b's ISR is itself).
	if err := b.UpdateFollowerFetch(leaderID, a.LogEndOffset(), now); err != nil {
		t.Fatal(err)
	}
	data := readRange(t, b, a.LogEndOffset(), b.LogEndOffset())
	if _, err := a.AppendAsFollower(data, b.HighWatermark()); err != nil {
		t.Fatal(err)
	}
	if a.LogEndOffset() != b.LogEndOffset() || a.HighWatermark() != 9 {
		t.Fatalf("a: log end %d, high watermark %d; b: log end %d", a.LogEndOffset(), a.HighWatermark(), b.LogEndOffset())
	}
	if x, y := readRange(t, a, 0, 9), readRange(t, b, 0, 9); string(x) != string(y) {
		t.Fatal("logs differ after convergence")
	}
	if got := lastSequence(a, 7); got != 8 {
		t.Fatalf("producer 7's last sequence %d on a, want 8", got)
	}
	// A follower append that does not start at the log end is refused.
	if _, err := a.AppendAsFollower(data, 9); !errors.Is(err, storage.ErrUnexpectedOffset) {
		t.Fatalf("repeated follower append: err = %v", err)
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	leader := openLeader(t, testConfig(), 1, []int32{1, 2}, []int32{1})
	follower := openFollower(t, 1)
	if _, err := produce(t, leader, 1, makeBatch(t, idem(3, 0, 0, 4))); err != nil {
		t.Fatal(err)
	}
	replicate(t, leader, follower, followerID, time.Unix(1000, 0))
	if _, err := leader.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if err := follower.TruncateFullyAndStartAt(4); err != nil {
		t.Fatal(err)
	}
	if follower.LogStartOffset() != 4 || follower.LogEndOffset() != 4 || follower.HighWatermark() != 4 {
		t.Fatalf("follower start %d end %d hw %d, want 4", follower.LogStartOffset(), follower.LogEndOffset(), follower.HighWatermark())
	}
	if got := lastSequence(follower, 3); got != -1 {
		t.Fatalf("producer 3 still known (last sequence %d)", got)
	}
}

// lastSequence is producer pid's last sequence in p's state (-1: unknown).
func lastSequence(p *Partition, pid int64) int32 {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	e, ok := p.producers.lookup(pid, p.now().UnixMilli())
	if !ok || e.count == 0 {
		return -1
	}
	return e.last().LastSequence
}

func TestSingleNodeObserverFetch(t *testing.T) {
	p := openTest(t, t.TempDir(), testConfig())
	defer p.Close()
	mustProduce(t, p, makeBatch(t, plain(2)))
	if err := p.UpdateFollowerFetch(5, 1, time.Now()); err != nil {
		t.Fatalf("an observer fetch on a single node: %v", err)
	}
	if p.HighWatermark() != 2 || p.ISR() != nil {
		t.Fatalf("high watermark %d, ISR %v", p.HighWatermark(), p.ISR())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Produce(ctx, makeBatch(t, plain(1)), -1); err != nil {
		t.Fatalf("acks=all on a single node: %v", err)
	}
}

// A follower whose fetches stop exactly at the high watermark (its link to
// the leader broke right after it caught up) holds the high watermark
// there; it must still be shrunk out after replica.lag.time.max.ms, not
// re-added in the same proposal for being "at the high watermark".
func TestISRShrinksFollowerStuckAtHighWatermark(t *testing.T) {
	const stuck, live = followerID, followerID + 1
	cfg := testConfig()
	leader := openLeader(t, cfg, 1, []int32{leaderID, stuck, live}, []int32{leaderID, stuck, live})
	t0 := time.Unix(1000, 0)
	leader.now = func() time.Time { return t0 }
	a, b := openFollower(t, 1), openFollower(t, 1)
	if _, err := produce(t, leader, 1, makeBatch(t, plain(4))); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second fetch carries the high watermark
		replicate(t, leader, a, stuck, t0)
		replicate(t, leader, b, live, t0)
	}
	if hw := leader.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d, want 4", hw)
	}
	// The stuck follower fetches no more; the live one keeps up.
	const lagMs = 30_000
	later := t0.Add(lagMs*time.Millisecond + time.Millisecond)
	if _, err := produce(t, leader, 1, makeBatch(t, plain(4))); err != nil {
		t.Fatal(err)
	}
	replicate(t, leader, b, live, later)
	replicate(t, leader, b, live, later) // reports the log end: caught up at later
	if hw := leader.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d, want 4 (held by the stuck follower)", hw)
	}
	isr, ok := leader.ISRChangeProposal(later, lagMs)
	if !ok || !slices.Equal(isr, []int32{leaderID, live}) {
		t.Fatalf("proposal %v, %v; want [%d %d]", isr, ok, leaderID, live)
	}
	if err := leader.ApplyISR(isr, 2); err != nil {
		t.Fatal(err)
	}
	if hw := leader.HighWatermark(); hw != 8 {
		t.Fatalf("high watermark %d after the shrink, want 8", hw)
	}
	// Caught up again, it is proposed back in.
	replicate(t, leader, a, stuck, later)
	replicate(t, leader, a, stuck, later)
	isr, ok = leader.ISRChangeProposal(later, lagMs)
	if !ok || !slices.Equal(isr, []int32{leaderID, live, stuck}) {
		t.Fatalf("proposal %v, %v; want it back", isr, ok)
	}
}
