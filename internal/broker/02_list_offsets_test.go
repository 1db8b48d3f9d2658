package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestListOffsets(t *testing.T) {
	src := newFakeSource()
	ps := src.addTopic(t, "t", 3)
	// t/0: epoch 0 holds offsets 0-1 (timestamps 100, 101), epoch 2 holds
	// 2-4 (200-202); offset 4 is not committed yet.
	p := ps[0]
	p.holdHW = true
	p.appendBatch(t, 2, 10, 100)
	p.epoch = 2
	p.appendBatch(t, 3, 10, 200)
	p.setHW(4)
	// t/1: a new leader (epoch 3) whose high watermark is still below the
	// end of the previous epoch.
	p1 := ps[1]
	p1.holdHW = true
	p1.epoch = 2
	p1.appendBatch(t, 3, 10, 100)
	p1.setHW(1)
	p1.epoch = 3
	ps[2].follower = true

	type want struct {
		code      int16
		offset    int64
		timestamp int64
		epoch     int32
	}
	none := want{0, -1, -1, -1}
	cases := []struct {
		name      string
		version   int16
		replica   int32
		committed bool
		partition int32
		ts        int64
		current   int32
		want      want
	}{
		{"latest", 8, -1, false, 0, -1, -1, want{0, 4, -1, 2}},
		{"latest committed", 8, -1, true, 0, -1, -1, want{0, 4, -1, 2}},
		{"latest for a follower is the log end", 8, 1, false, 0, -1, -1, want{0, 5, -1, 2}},
		{"earliest", 8, -1, false, 0, -2, -1, want{0, 0, -1, 0}},
		{"earliest local", 8, -1, false, 0, -4, -1, want{0, 0, -1, 0}},
		{"latest tiered", 8, -1, false, 0, -5, -1, none},
		{"max timestamp not yet committed", 8, -1, false, 0, -3, -1, none},
		{"max timestamp for a follower", 8, 1, false, 0, -3, -1, want{0, 4, 202, 2}},
		{"by timestamp, exact", 8, -1, false, 0, 101, -1, want{0, 1, 101, 0}},
		{"by timestamp, between batches", 8, -1, false, 0, 150, -1, want{0, 2, 200, 2}},
		{"by timestamp, first", 8, -1, false, 0, 0, -1, want{0, 0, 100, 0}},
		{"by timestamp, only uncommitted", 8, -1, false, 0, 202, -1, none},
		{"by timestamp, after everything", 8, -1, false, 0, 1000, -1, none},
		{"v1 has no epoch", 1, -1, false, 0, 150, -1, want{0, 2, 200, -1}},
		{"current epoch", 8, -1, false, 0, -1, 2, want{0, 4, -1, 2}},
		{"fenced", 8, -1, false, 0, -1, 1, want{kerr.FencedLeaderEpoch.Code, -1, -1, -1}},
		{"unknown epoch", 8, -1, false, 0, -1, 3, want{kerr.UnknownLeaderEpoch.Code, -1, -1, -1}},
		{"epoch ignored before v4", 3, -1, false, 0, -1, 7, want{0, 4, -1, -1}},
		{"high watermark behind the epoch start", 8, -1, false, 1, -1, -1, want{kerr.OffsetNotAvailable.Code, -1, -1, -1}},
		{"high watermark behind, before v5", 4, -1, false, 1, -1, -1, want{kerr.LeaderNotAvailable.Code, -1, -1, -1}},
		{"high watermark behind, earliest still works", 8, -1, false, 1, -2, -1, want{0, 0, -1, 2}},
		{"high watermark behind, follower", 8, 1, false, 1, -1, -1, want{0, 3, -1, 3}},
		{"not the leader", 8, -1, false, 2, -1, -1, want{kerr.NotLeaderForPartition.Code, -1, -1, -1}},
		{"unknown partition", 8, -1, false, 9, -1, -1, want{kerr.UnknownTopicOrPartition.Code, -1, -1, -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := kmsg.NewPtrListOffsetsRequest()
			req.Version = c.version
			req.ReplicaID = c.replica
			if c.committed {
				req.IsolationLevel = 1
			}
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = c.partition, c.ts, c.current
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := listOffsets(src, req)
			sp := resp.Topics[0].Partitions[0]
			got := want{sp.ErrorCode, sp.Offset, sp.Timestamp, sp.LeaderEpoch}
			if c.version < 4 {
				got.epoch = -1 // not on the wire
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
	p.logStart = 2
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 8
	req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "t", Partitions: []kmsg.ListOffsetsRequestTopicPartition{
		{Partition: 0, Timestamp: -2, CurrentLeaderEpoch: -1},
		{Partition: 1, Timestamp: -2, CurrentLeaderEpoch: -1},
		{Partition: 1, Timestamp: -1, CurrentLeaderEpoch: -1},
	}}}
	resp := listOffsets(src, req)
	if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.Offset != 2 || sp.LeaderEpoch != 2 {
		t.Fatalf("earliest after deleting records: %+v", sp)
	}
	for _, sp := range resp.Topics[0].Partitions[1:] {
		if sp.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("duplicate partition: error %d", sp.ErrorCode)
		}
	}
}
