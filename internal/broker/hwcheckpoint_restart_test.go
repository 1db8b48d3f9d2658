package broker

import (
	"context"
	"testing"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A leader restarted with records its follower never fetched serves
// consumers only what was committed before the restart (its checkpointed
// high watermark) until the follower has the rest: Fetch returns nothing
// above it, ListOffsets(latest) asks the client to retry. Before the
// checkpoint it started at its log end, handing out records that a new
// leader without them would later overwrite.
func TestRestartedLeaderServesOnlyCommitted(t *testing.T) {
	dir := t.TempDir()
	cfg := partition.Config{Storage: storage.Config{FlushMessages: 1}}
	open := func(epoch int32) *partition.Partition {
		t.Helper()
		p, err := partition.Open(dir, "t", 0, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p.SetLocalReplicaID(1)
		if err := p.BecomeLeader(epoch, []int32{1, 2}, []int32{1, 2}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	produce := func(p *partition.Partition, n int) {
		t.Helper()
		bb := record.NewBuilder(0, record.CodecNone)
		for i := range n {
			bb.Add(1700000000000+int64(i), nil, []byte("v"))
		}
		b, err := bb.Build()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Produce(context.Background(), b, 1); err != nil {
			t.Fatal(err)
		}
	}
	fetchAt := func(p *partition.Partition, replica int32, offset int64) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := followerFetch(16, replica, offset, 0)
		req.Topics[0].Partitions[0].CurrentLeaderEpoch = -1
		return doFetch(t, context.Background(), replicatedSource{"t": p}, &fetchSessionCache{}, req).Topics[0].Partitions[0]
	}
	latest := func(p *partition.Partition) (int64, int16) {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version, req.ReplicaID = 7, -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch = -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		sp := listOffsets(replicatedSource{"t": p}, req).Topics[0].Partitions[0]
		return sp.Offset, sp.ErrorCode
	}

	p := open(1)
	produce(p, 3)
	fetchAt(p, 2, 0)
	if rp := fetchAt(p, 2, 3); rp.HighWatermark != 3 { // the follower has [0, 3)
		t.Fatalf("high watermark %d after the follower fetched, want 3", rp.HighWatermark)
	}
	produce(p, 5) // [3, 8): on the leader only
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	p = open(2)
	defer p.Close()
	if p.LogEndOffset() != 8 {
		t.Fatalf("log end %d after the restart, want 8", p.LogEndOffset())
	}
	rp := fetchAt(p, -1, 0)
	if rp.ErrorCode != 0 || rp.HighWatermark != 3 || !equalInt64s(batchBases(t, rp.RecordBatches), []int64{0}) {
		t.Fatalf("consumer fetch after the restart: error %d, high watermark %d, batches at %v; want 3 and [0]",
			rp.ErrorCode, rp.HighWatermark, batchBases(t, rp.RecordBatches))
	}
	// ListOffsets(latest) would go back below where the previous epoch
	// ended: clients are told to retry (KIP-207), never given 8.
	if off, code := latest(p); code != kerr.OffsetNotAvailable.Code {
		t.Fatalf("latest offset after the restart: %d, error %d; want OFFSET_NOT_AVAILABLE", off, code)
	}
	// The follower truncates to the new leader's log and catches up: the
	// leader's whole log is committed now.
	fetchAt(p, 2, 3)
	if rp := fetchAt(p, 2, 8); rp.HighWatermark != 8 {
		t.Fatalf("high watermark %d after the follower caught up, want 8", rp.HighWatermark)
	}
	rp = fetchAt(p, -1, 3)
	if rp.HighWatermark != 8 || !equalInt64s(batchBases(t, rp.RecordBatches), []int64{3}) {
		t.Fatalf("consumer fetch after replication: high watermark %d, batches at %v", rp.HighWatermark, batchBases(t, rp.RecordBatches))
	}
	if off, code := latest(p); code != 0 || off != 8 {
		t.Fatalf("latest offset %d, error %d; want 8", off, code)
	}
}
