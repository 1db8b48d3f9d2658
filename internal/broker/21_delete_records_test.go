package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDeleteRecords(t *testing.T) {
	src := newFakeSource()
	ps := src.addTopic(t, "t", 2)
	p := ps[0]
	p.holdHW = true
	p.appendBatch(t, 10, 10, 100)
	p.setHW(8)
	ps[1].follower = true
	steps := []struct {
		name      string
		partition int32
		offset    int64
		code      int16
		low       int64
	}{
		{"move the start", 0, 3, 0, 3},
		{"backwards is a no-op", 0, 1, 0, 3},
		{"above the high watermark", 0, 9, kerr.OffsetOutOfRange.Code, -1},
		{"negative", 0, -2, kerr.OffsetOutOfRange.Code, -1},
		{"-1 is the high watermark", 0, -1, 0, 8},
		{"not the leader", 1, 0, kerr.NotLeaderForPartition.Code, -1},
		{"unknown partition", 5, 0, kerr.UnknownTopicOrPartition.Code, -1},
	}
	for _, s := range steps {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = 2
		req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "t", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: s.partition, Offset: s.offset}}}}
		sp := deleteRecords(src, req, nil).Topics[0].Partitions[0]
		if sp.ErrorCode != s.code || sp.LowWatermark != s.low || sp.Partition != s.partition {
			t.Fatalf("%s: got error %d low watermark %d, want %d %d", s.name, sp.ErrorCode, sp.LowWatermark, s.code, s.low)
		}
	}
}
