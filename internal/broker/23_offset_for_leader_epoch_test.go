package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetForLeaderEpoch(t *testing.T) {
	src := newFakeSource()
	ps := src.addTopic(t, "t", 3)
	p := ps[0]
	p.epoch = 1
	p.appendBatch(t, 2, 10, 100) // epoch 1: 0-1
	p.epoch = 3
	p.appendBatch(t, 3, 10, 100) // epoch 3: 2-4
	ps[1].follower = true
	ps[2].appendBatch(t, 2, 10, 100) // epoch 0: 0-1
	ps[2].epoch = 4                  // a new leader epoch, nothing written in it yet
	cases := []struct {
		name      string
		version   int16
		replica   int32
		partition int32
		current   int32
		epoch     int32
		code      int16
		wantEpoch int32
		wantEnd   int64
	}{
		{"earlier epoch", 4, -1, 0, -1, 1, 0, 1, 2},
		{"epoch the log skipped", 4, -1, 0, -1, 2, 0, 1, 2},
		{"current epoch ends at the log end", 4, -1, 0, -1, 3, 0, 3, 5},
		{"newer epoch is unknown", 4, -1, 0, -1, 9, 0, -1, -1},
		{"undefined epoch", 4, -1, 0, -1, -1, 0, -1, -1},
		{"before every known epoch: the log start", 4, -1, 0, -1, 0, 0, 0, 0},
		{"v0", 0, -1, 0, -1, 1, 0, 1, 2},
		{"fenced", 4, -1, 0, 2, 1, kerr.FencedLeaderEpoch.Code, -1, -1},
		{"unknown leader epoch", 4, -1, 0, 4, 1, kerr.UnknownLeaderEpoch.Code, -1, -1},
		{"current epoch ignored before v2", 1, -1, 0, 4, 1, 0, 1, 2},
		{"not the leader", 4, -1, 1, -1, 1, kerr.NotLeaderForPartition.Code, -1, -1},
		{"debug replica may ask a follower", 4, -2, 1, -1, 0, 0, 0, 0},
		{"current epoch with nothing written yet", 4, -1, 2, 4, 4, 0, 4, 2},
		{"between the last written and the current epoch", 4, -1, 2, 4, 2, 0, 0, 2},
		{"unknown partition", 4, -1, 7, -1, 1, kerr.UnknownTopicOrPartition.Code, -1, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.Version = c.version
			req.ReplicaID = c.replica
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = c.partition, c.current, c.epoch
			req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}}}
			sp := offsetForLeaderEpoch(src, req).Topics[0].Partitions[0]
			if sp.ErrorCode != c.code || sp.LeaderEpoch != c.wantEpoch || sp.EndOffset != c.wantEnd || sp.Partition != c.partition {
				t.Fatalf("got error %d epoch %d end %d, want %d %d %d", sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset, c.code, c.wantEpoch, c.wantEnd)
			}
		})
	}
}
