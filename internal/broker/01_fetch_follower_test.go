package broker

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replicatedSource serves real partitions, named by topic (partition 0).
type replicatedSource map[string]*partition.Partition

func (s replicatedSource) servedPartition(topic string, index int32) (servedPartition, error) {
	if p := s[topic]; p != nil && index == 0 {
		return partitionWithLog{p}, nil
	}
	return nil, errNoPartition
}

// replicatedTopicID is topic t's id.
var replicatedTopicID = [16]byte{1}

func (s replicatedSource) topicNameByID(id [16]byte) (string, bool) {
	return "t", id == replicatedTopicID
}
func (s replicatedSource) topicID(string) ([16]byte, bool) { return replicatedTopicID, true }

// followerFetch builds a fetch of t-0 from replica (v12: the top-level
// replica id; v15: ReplicaState).
func followerFetch(v int16, replica int32, offset int64, maxWaitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = v
	req.ReplicaID = replica
	if v >= 15 {
		req.ReplicaID = -1
		req.ReplicaState.ID = replica
	}
	req.MinBytes, req.MaxBytes, req.MaxWaitMillis = 1, 1<<20, maxWaitMs
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	if v >= 13 {
		rt.TopicID = replicatedTopicID
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = offset, 1<<20, 1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestFollowerFetchMovesHighWatermark(t *testing.T) {
	p, err := partition.Open(t.TempDir(), "t", 0, partition.Config{Storage: storage.Config{FlushMessages: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetLocalReplicaID(1)
	if err := p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	src := replicatedSource{"t": p}
	produce := func(acks int16) error {
		bb := record.NewBuilder(0, record.CodecNone)
		for i := range 3 {
			bb.Add(1700000000000+int64(i), []byte("k"), []byte("v"))
		}
		b, err := bb.Build()
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Produce(context.Background(), b, acks)
		return err
	}
	fetchOne := func(req *kmsg.FetchRequest) kmsg.FetchResponseTopicPartition {
		return doFetch(t, context.Background(), src, &fetchSessionCache{}, req).Topics[0].Partitions[0]
	}
	if err := produce(1); err != nil {
		t.Fatal(err)
	}
	// A consumer sees nothing: the follower has not fetched.
	consumer := followerFetch(12, -1, 0, 0)
	if rp := fetchOne(consumer); rp.ErrorCode != 0 || rp.HighWatermark != 0 || len(rp.RecordBatches) != 0 {
		t.Fatalf("consumer fetch: %+v", rp)
	}
	// The follower reads past the high watermark, up to the log end.
	rp := fetchOne(followerFetch(12, 2, 0, 0))
	if rp.ErrorCode != 0 || !equalInt64s(batchBases(t, rp.RecordBatches), []int64{0}) || rp.HighWatermark != 0 {
		t.Fatalf("follower fetch at 0: error %d, high watermark %d, bases %v", rp.ErrorCode, rp.HighWatermark, batchBases(t, rp.RecordBatches))
	}
	// Its next fetch reports offset 3: the answer carries the new high
	// watermark.
	if rp := fetchOne(followerFetch(15, 2, 3, 0)); rp.ErrorCode != 0 || rp.HighWatermark != 3 {
		t.Fatalf("follower fetch at 3: error %d, high watermark %d", rp.ErrorCode, rp.HighWatermark)
	}
	if rp := fetchOne(consumer); rp.HighWatermark != 3 || len(rp.RecordBatches) == 0 {
		t.Fatalf("consumer after replication: high watermark %d, %d bytes", rp.HighWatermark, len(rp.RecordBatches))
	}
	// A broker that is not a replica is refused.
	if rp := fetchOne(followerFetch(15, 9, 3, 0)); rp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch from replica 9: error %d", rp.ErrorCode)
	}
	// acks=all completes once the follower's long poll took the batch and
	// its next fetch reported it.
	done := make(chan error, 1)
	go func() { done <- produce(-1) }()
	rp = fetchOne(followerFetch(15, 2, 3, 10_000))
	if !equalInt64s(batchBases(t, rp.RecordBatches), []int64{3}) {
		t.Fatalf("long poll: bases %v", batchBases(t, rp.RecordBatches))
	}
	select {
	case err := <-done:
		t.Fatalf("acks=all returned (%v) before the follower reported the data", err)
	default:
	}
	// The report may come before the leader's own append returned (its
	// fsync): the high watermark then moves when that returns.
	if rp := fetchOne(followerFetch(15, 2, 6, 0)); rp.ErrorCode != 0 || rp.HighWatermark < 3 {
		t.Fatalf("follower fetch at 6: error %d, high watermark %d", rp.ErrorCode, rp.HighWatermark)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("acks=all did not complete")
	}
	if hw := p.HighWatermark(); hw != 6 {
		t.Fatalf("high watermark %d, want 6", hw)
	}
}
