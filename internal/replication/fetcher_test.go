package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeReplica is a Replica for the pure truncation rule.
type fakeReplica struct {
	Replica
	leo, hw int64
	epochs  [][2]int64 // (epoch, start offset), increasing
}

func (r *fakeReplica) LogEndOffset() int64  { return r.leo }
func (r *fakeReplica) HighWatermark() int64 { return r.hw }
func (r *fakeReplica) EndOffsetForEpoch(epoch int32) (int32, int64) {
	for i := len(r.epochs) - 1; i >= 0; i-- {
		if int32(r.epochs[i][0]) <= epoch {
			if i == len(r.epochs)-1 {
				return int32(r.epochs[i][0]), r.leo
			}
			return int32(r.epochs[i][0]), r.epochs[i+1][1]
		}
	}
	return -1, -1
}

func TestTruncationOffset(t *testing.T) {
	// The follower holds epoch 1 from 0, epoch 3 from 10, log end 15,
	// high watermark 8.
	r := &fakeReplica{leo: 15, hw: 8, epochs: [][2]int64{{1, 0}, {3, 10}}}
	cases := []struct {
		name        string
		leaderEpoch int32
		leaderEnd   int64
		wantOffset  int64
		wantDone    bool
	}{
		{"same epoch, leader shorter", 3, 12, 12, true},
		{"same epoch, leader longer", 3, 20, 15, true},
		{"leader ended our epoch earlier at an older one", 1, 7, 7, true},
		{"leader's epoch 2 unknown here: drop after epoch 1, ask again", 2, 12, 10, false},
		{"leader knows no epoch at or below ours", -1, -1, 8, true},
		{"we know no epoch at or below the leader's", 0, 4, 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			off, done := truncationOffset(c.leaderEpoch, c.leaderEnd, r)
			if off != c.wantOffset || done != c.wantDone {
				t.Fatalf("truncationOffset(%d, %d) = %d, %v; want %d, %v", c.leaderEpoch, c.leaderEnd, off, done, c.wantOffset, c.wantDone)
			}
		})
	}
}

func TestWholeBatches(t *testing.T) {
	a, b := batch(t, 0, 3, "x"), batch(t, 3, 2, "y")
	both := append(append([]byte(nil), a...), b...)
	if got := wholeBatches(both); !bytes.Equal(got, both) {
		t.Fatal("whole batches cut")
	}
	if got := wholeBatches(both[:len(both)-1]); !bytes.Equal(got, a) {
		t.Fatalf("partial tail kept: %d bytes", len(got))
	}
	if got := wholeBatches([]byte{1, 2, 3}); len(got) != 0 || partialBatch([]byte{1, 2, 3}) {
		t.Fatal("garbage kept")
	}
}

func batch(t testing.TB, base int64, n int, value string) []byte {
	t.Helper()
	bb := record.NewBuilder(base, record.CodecNone)
	for i := range n {
		bb.Add(1700000000000+int64(i), []byte(fmt.Sprintf("k%d", i)), []byte(value))
	}
	out, err := bb.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// partitionLeader is a LeaderClient answered in-process by leader
// partitions, with the broker's rules in small: epochs checked, follower
// fetches read to the log end and reported with UpdateFollowerFetch.
type partitionLeader struct {
	mu    sync.Mutex
	parts map[string]*partition.Partition // by topic; partition 0 only
}

func (l *partitionLeader) get(topic string) *partition.Partition {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.parts[topic]
}

func epochCode(requested, current int32) int16 {
	switch {
	case requested < 0 || requested == current:
		return 0
	case requested < current:
		return kerr.FencedLeaderEpoch.Code
	}
	return kerr.UnknownLeaderEpoch.Code
}

func (l *partitionLeader) Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	wait := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	defer wait.Stop()
	for {
		resp.Topics = resp.Topics[:0]
		bytesRead := 0
		w := partition.NewWaiter()
		var watched []*partition.Partition
		for _, rt := range req.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = rp.Partition
				p := l.get(rt.Topic)
				if p == nil || !p.IsLeader() {
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
				} else if sp.ErrorCode = epochCode(rp.CurrentLeaderEpoch, p.LeaderEpoch()); sp.ErrorCode == 0 {
					if rp.FetchOffset < p.LogStartOffset() || rp.FetchOffset > p.LogEndOffset() {
						sp.ErrorCode = kerr.OffsetOutOfRange.Code
					} else {
						if err := p.UpdateFollowerFetch(req.ReplicaID, rp.FetchOffset, time.Now()); err != nil {
							return nil, err
						}
						sp.HighWatermark = p.HighWatermark()
						sp.RecordBatches = limitBatches(readLog(p, rp.FetchOffset, p.LogEndOffset()), rp.PartitionMaxBytes)
						bytesRead += len(sp.RecordBatches)
						p.Watch(w)
						watched = append(watched, p)
					}
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if bytesRead >= int(req.MinBytes) {
			unwatch(watched, w)
			return resp, nil
		}
		select {
		case <-w.C:
			unwatch(watched, w)
		case <-wait.C:
			unwatch(watched, w)
			return resp, nil
		case <-ctx.Done():
			unwatch(watched, w)
			return nil, ctx.Err()
		}
	}
}

func unwatch(ps []*partition.Partition, w *partition.Waiter) {
	for _, p := range ps {
		p.Unwatch(w)
	}
}

func (l *partitionLeader) OffsetForLeaderEpoch(_ context.Context, req *kmsg.OffsetForLeaderEpochRequest) (*kmsg.OffsetForLeaderEpochResponse, error) {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			p := l.get(rt.Topic)
			switch {
			case p == nil || !p.IsLeader():
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case epochCode(rp.CurrentLeaderEpoch, p.LeaderEpoch()) != 0:
				sp.ErrorCode = epochCode(rp.CurrentLeaderEpoch, p.LeaderEpoch())
			case rp.LeaderEpoch == p.LeaderEpoch():
				sp.LeaderEpoch, sp.EndOffset = rp.LeaderEpoch, p.LogEndOffset()
			default:
				sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (l *partitionLeader) ListOffsets(_ context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if p := l.get(rt.Topic); p != nil {
				sp.Offset = p.LogStartOffset()
			} else {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// readLog returns the batches of p in [from, upTo).
func readLog(p *partition.Partition, from, upTo int64) []byte {
	var out []byte
	for off := from; off < upTo; {
		s, err := p.Read(off, 1<<20, upTo)
		if err != nil || s.Size == 0 {
			break
		}
		buf := make([]byte, s.Size)
		if _, err := s.File.ReadAt(buf, s.Pos); err != nil {
			break
		}
		out = append(out, buf...)
		for rest := buf; len(rest) > 0; {
			h, err := record.ReadHeader(rest)
			if err != nil {
				return out
			}
			off = h.NextOffset()
			rest = rest[h.Size():]
		}
	}
	return out
}

func testPartitionConfig() partition.Config {
	return partition.Config{Storage: storage.Config{SegmentBytes: 1 << 20, FlushMessages: 1}}
}

func openPartition(t testing.TB, dir string) *partition.Partition {
	t.Helper()
	p, err := partition.Open(dir, "t", 0, testPartitionConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func produce(t *testing.T, p *partition.Partition, acks int16, n int, value string) {
	t.Helper()
	if _, err := p.Produce(context.Background(), batch(t, 0, n, value), acks); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond until it holds, failing the test at the deadline.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// segmentBytes returns the contents of every .log file of a partition
// directory, in order: two replicas that agree hold the same bytes.
func segmentBytes(t testing.TB, dir string) []byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// TestFetcherDivergenceAndFailover runs KIP-101's scenario through the
// fetcher: b follows a; a writes a suffix b never gets,
// b takes over at a new epoch, and a, back as a follower, truncates that
// suffix and converges on b's log, byte for byte.
func TestFetcherDivergenceAndFailover(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := openPartition(t, dirA), openPartition(t, dirB)
	a.SetLocalReplicaID(1)
	b.SetLocalReplicaID(2)
	if err := a.BecomeLeader(1, []int32{1, 2}, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := b.BecomeFollower(1, 1); err != nil {
		t.Fatal(err)
	}
	leaderA := &partitionLeader{parts: map[string]*partition.Partition{"t": a}}
	fb := New(Config{ReplicaID: 2, MaxWait: 50 * time.Millisecond, Backoff: 10 * time.Millisecond}, leaderA)
	defer fb.Close()
	tp := TopicPartition{Topic: "t"}
	fb.Add(tp, b, 1)

	// acks=all completes: b fetched the data and reported it.
	for i := range 5 {
		produce(t, a, -1, 3, fmt.Sprintf("committed %d", i))
	}
	waitUntil(t, "b to catch up", func() bool { return b.LogEndOffset() == 15 && b.HighWatermark() == 15 })

	// b stops fetching (its broker is cut off); a writes a suffix alone.
	fb.Remove(tp)
	produce(t, a, 1, 4, "uncommitted on a")
	if a.HighWatermark() != 15 || a.LogEndOffset() != 19 {
		t.Fatalf("a: high watermark %d, log end %d", a.HighWatermark(), a.LogEndOffset())
	}
	// The controller moves leadership to b at epoch 2; b writes other
	// records at those offsets.
	if err := b.BecomeLeader(2, []int32{1, 2}, []int32{2}); err != nil {
		t.Fatal(err)
	}
	produce(t, b, -1, 6, "written by b")
	// a comes back as a follower of b.
	if err := a.BecomeFollower(2, 2); err != nil {
		t.Fatal(err)
	}
	leaderB := &partitionLeader{parts: map[string]*partition.Partition{"t": b}}
	fa := New(Config{ReplicaID: 1, MaxWait: 50 * time.Millisecond, Backoff: 10 * time.Millisecond}, leaderB)
	defer fa.Close()
	fa.Add(tp, a, 2)
	waitUntil(t, "a to converge", func() bool { return a.LogEndOffset() == 21 && a.HighWatermark() == 21 })
	if x, y := segmentBytes(t, dirA), segmentBytes(t, dirB); !bytes.Equal(x, y) {
		t.Fatalf("logs differ: a %d bytes, b %d bytes", len(x), len(y))
	}
	if bytes.Contains(segmentBytes(t, dirA), []byte("uncommitted on a")) {
		t.Fatal("a kept its divergent suffix")
	}

	// A fenced epoch parks the partition until a newer Add.
	fa.Remove(tp)
	if err := b.BecomeLeader(3, []int32{1, 2}, []int32{2}); err != nil {
		t.Fatal(err)
	}
	fa.Add(tp, a, 2)
	produce(t, b, 1, 1, "epoch 3")
	if err := a.BecomeFollower(3, 2); err != nil {
		t.Fatal(err)
	}
	fa.Add(tp, a, 3)
	waitUntil(t, "a to follow epoch 3", func() bool { return a.LogEndOffset() == 22 })
}

func TestFetcherRestartsBelowLeaderLogStart(t *testing.T) {
	a, b := openPartition(t, t.TempDir()), openPartition(t, t.TempDir())
	a.SetLocalReplicaID(1)
	if err := a.BecomeLeader(1, []int32{1, 2}, []int32{1}); err != nil {
		t.Fatal(err)
	}
	produce(t, a, 1, 10, "old")
	if _, err := a.DeleteRecordsBefore(10); err != nil {
		t.Fatal(err)
	}
	produce(t, a, 1, 2, "new")
	if err := b.BecomeFollower(1, 1); err != nil {
		t.Fatal(err)
	}
	f := New(Config{ReplicaID: 2, MaxWait: 50 * time.Millisecond, Backoff: 10 * time.Millisecond}, &partitionLeader{parts: map[string]*partition.Partition{"t": a}})
	defer f.Close()
	f.Add(TopicPartition{Topic: "t"}, b, 1)
	waitUntil(t, "b to restart at the leader's log start", func() bool {
		return b.LogStartOffset() == 10 && b.LogEndOffset() == 12
	})
}

// errClient fails every request.
type errClient struct{ LeaderClient }

func (errClient) Fetch(context.Context, *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	return nil, errors.New("unreachable")
}

func TestFetcherCloseWhileFailing(t *testing.T) {
	p := openPartition(t, t.TempDir())
	if err := p.BecomeFollower(1, 1); err != nil {
		t.Fatal(err)
	}
	f := New(Config{ReplicaID: 2, Backoff: time.Hour}, errClient{})
	f.Add(TopicPartition{Topic: "t"}, p, 1)
	if f.Len() != 1 {
		t.Fatalf("Len %d", f.Len())
	}
	f.Close() // returns although the fetcher is backing off for an hour
}

// A follower that hears of a partition before its leader opened it gets
// UNKNOWN_TOPIC_OR_PARTITION; it retries after a short pause that doubles
// up to replica.fetch.backoff.ms, not after the whole backoff (an hour
// here), so the first acks=all write to a new topic is not held up.
func TestFetcherRetriesANewPartitionSoon(t *testing.T) {
	a, b := openPartition(t, t.TempDir()), openPartition(t, t.TempDir())
	a.SetLocalReplicaID(1)
	if err := a.BecomeLeader(1, []int32{1, 2}, []int32{1}); err != nil {
		t.Fatal(err)
	}
	produce(t, a, 1, 3, "v")
	if err := b.BecomeFollower(1, 1); err != nil {
		t.Fatal(err)
	}
	leader := &countingLeader{partitionLeader: &partitionLeader{parts: map[string]*partition.Partition{}}}
	f := New(Config{ReplicaID: 2, MaxWait: 50 * time.Millisecond, Backoff: time.Hour}, leader)
	defer f.Close()
	f.Add(TopicPartition{Topic: "t"}, b, 1)
	// Let a fetch fail first, then open the partition on the leader.
	waitUntil(t, "a fetch answered UNKNOWN_TOPIC_OR_PARTITION", func() bool { return leader.fetches.Load() > 0 })
	leader.mu.Lock()
	leader.parts["t"] = a
	leader.mu.Unlock()
	waitUntil(t, "b to copy a's records", func() bool { return b.LogEndOffset() == 3 })
}

// countingLeader counts the fetches a partitionLeader answers.
type countingLeader struct {
	*partitionLeader
	fetches atomic.Int64
}

func (l *countingLeader) Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	resp, err := l.partitionLeader.Fetch(ctx, req)
	l.fetches.Add(1)
	return resp, err
}
