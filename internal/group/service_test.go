package group

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memLog is an in-memory partition of __consumer_offsets.
type memLog struct {
	mu      sync.Mutex
	batches [][]byte
	next    int64
	fail    error
	appends int
}

func (l *memLog) Append(_ context.Context, batches []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.appends++
	it := record.Batches(batches)
	for it.Next() {
		b := append([]byte(nil), it.Batch()...)
		record.SetBaseOffset(b, l.next)
		l.next += int64(it.Header().LastOffsetDelta) + 1
		l.batches = append(l.batches, b)
	}
	return it.Err()
}

func (l *memLog) ReadBatches(offset int64, _ int32) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		h, _ := record.ReadHeader(b)
		if h.NextOffset() > offset {
			out = append(out, b...)
		}
	}
	return out, nil
}

func (l *memLog) HighWatermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

type memLogs []*memLog

func (m memLogs) log(p int32) (OffsetsLog, error) { return m[p], nil }

func startService(t *testing.T, logs memLogs, cfg Config) *Service {
	t.Helper()
	s := NewService(Options{Config: cfg, Log: logs.log})
	s.Start()
	t.Cleanup(s.Close)
	deadline := time.Now().Add(10 * time.Second)
	for !s.Loaded() {
		if time.Now().After(deadline) {
			t.Fatal("service did not load")
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	return s
}

func TestServicePersistsAndReloads(t *testing.T) {
	cfg := testConfig()
	cfg.GroupInitialRebalanceDelayMs = -1
	logs := make(memLogs, cfg.OffsetsTopicPartitions)
	for i := range logs {
		logs[i] = &memLog{}
	}
	s := startService(t, logs, cfg)
	ctx := context.Background()

	// A consumer joins (two rounds), syncs and commits.
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 9, "g", 30000, 30000
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0}}}
	jr, err := s.JoinGroup(ctx, Client{ID: "c"}, join)
	if err != nil || jr.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("join: %+v %v", jr, err)
	}
	join.MemberID = jr.MemberID
	jr, err = s.JoinGroup(ctx, Client{ID: "c"}, join)
	if err != nil || jr.ErrorCode != 0 || jr.Generation != 1 {
		t.Fatalf("join: %+v %v", jr, err)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version, sync.Group, sync.MemberID, sync.Generation = 5, "g", jr.MemberID, 1
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte("a")}}
	sr, err := s.SyncGroup(ctx, sync)
	if err != nil || sr.ErrorCode != 0 || string(sr.MemberAssignment) != "a" {
		t.Fatalf("sync: %+v %v", sr, err)
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.MemberID, commit.Generation = 8, "g", jr.MemberID, 1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 3, Offset: 77, LeaderEpoch: -1}}}}
	if cr := s.OffsetCommit(ctx, commit); cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %+v", cr)
	}
	p := PartitionFor("g", cfg.OffsetsTopicPartitions)
	if logs[p].HighWatermark() != 2 {
		t.Fatalf("records in the group's partition: %d, want group metadata and offset", logs[p].HighWatermark())
	}

	// A failing log fails commits with a retriable error.
	logs[p].fail = errors.New("disk on fire")
	commit.Topics[0].Partitions[0].Offset = 78
	if cr := s.OffsetCommit(ctx, commit); cr.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit to a failing log: %+v", cr)
	}
	logs[p].fail = nil
	commit.Topics[0].Partitions[0].Offset = 79
	if cr := s.OffsetCommit(ctx, commit); cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %+v", cr)
	}
	s.Close()

	// A new service on the same log has the offsets and the group.
	s2 := startService(t, logs, cfg)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version, fetch.Group = 7, "g"
	fr := s2.OffsetFetch(ctx, fetch)
	if len(fr.Topics) != 1 || fr.Topics[0].Partitions[0].Offset != 79 {
		t.Fatalf("fetch after reload: %+v", fr)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.Generation = 4, "g", jr.MemberID, 1
	if r := s2.Heartbeat(ctx, hb); r.ErrorCode != 0 {
		t.Fatalf("heartbeat after reload: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// Concurrent commits to one partition share appends (group commit) and
// all succeed.
func TestServiceConcurrentCommits(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsTopicPartitions = 1
	logs := memLogs{{}}
	s := startService(t, logs, cfg)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			commit := kmsg.NewPtrOffsetCommitRequest()
			commit.Version, commit.Group = 8, "g"
			commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: int32(i), Offset: int64(i), LeaderEpoch: -1}}}}
			if cr := s.OffsetCommit(context.Background(), commit); cr.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Errorf("commit %d: %v", i, kerr.ErrorForCode(cr.Topics[0].Partitions[0].ErrorCode))
			}
		}()
	}
	wg.Wait()
	if hw := logs[0].HighWatermark(); hw != 50 {
		t.Fatalf("%d records, want 50", hw)
	}
	t.Logf("50 concurrent commits took %d appends", logs[0].appends)
}

// A session expires through the timer goroutine alone.
func TestServiceTimerExpiresSessions(t *testing.T) {
	cfg := testConfig()
	cfg.GroupInitialRebalanceDelayMs = -1
	cfg.GroupMinSessionTimeoutMs = 10
	logs := make(memLogs, cfg.OffsetsTopicPartitions)
	for i := range logs {
		logs[i] = &memLog{}
	}
	s := startService(t, logs, cfg)
	ctx := context.Background()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 3, "g", 50, 50
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	jr, err := s.JoinGroup(ctx, Client{ID: "c"}, join)
	if err != nil || jr.ErrorCode != 0 {
		t.Fatalf("join: %+v %v", jr, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		lr := s.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 4})
		if len(lr.Groups) == 0 {
			break // the member expired and the empty group went away
		}
		if time.Now().After(deadline) {
			t.Fatalf("group still there: %+v", lr.Groups)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failingLog fails its first reads, as a partition that is not open yet.
type failingLog struct {
	*memLog
	failures int
}

func (l *failingLog) ReadBatches(offset int64, maxBytes int32) ([]byte, error) {
	if l.failures > 0 {
		l.failures--
		return nil, errors.New("not open yet")
	}
	return l.memLog.ReadBatches(offset, maxBytes)
}

// A partition that cannot be read at start is retried until it loads.
func TestServiceRetriesLoad(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsTopicPartitions = 1
	log := &memLog{}
	s := startService(t, memLogs{log}, cfg)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group = 8, "g"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5, LeaderEpoch: -1}}}}
	s.OffsetCommit(context.Background(), commit)
	s.Close()

	fl := &failingLog{memLog: log, failures: 2}
	s2 := NewService(Options{Config: cfg, Log: func(int32) (OffsetsLog, error) { return fl, nil }})
	s2.Start()
	t.Cleanup(s2.Close)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version, fetch.Group = 7, "g"
	if r := s2.OffsetFetch(context.Background(), fetch); r.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("before the load: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s2.Loaded() {
		if time.Now().After(deadline) {
			t.Fatal("never loaded")
		}
		time.Sleep(10 * time.Millisecond) // waiting for a condition, with a deadline
	}
	if r := s2.OffsetFetch(context.Background(), fetch); len(r.Topics) != 1 || r.Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("after the retried load: %+v", r)
	}
}
