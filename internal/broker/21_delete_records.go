package broker

// DeleteRecords: move a partition's log start offset forward (kadm's
// DeleteRecords, kafka-delete-records.sh). Offset -1 means the high
// watermark; offsets above it are out of range. The answer is the new log
// start offset (Kafka's "low watermark"). With a single replica nothing
// waits: the leader's log start offset is the partition's.

import (
	"context"
	"fmt"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteRecords, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r, ok := req.Body.(*kmsg.DeleteRecordsRequest)
	if !ok {
		return nil, fmt.Errorf("broker: DeleteRecords handler got %T", req.Body)
	}
	return deleteRecords(brokerSource{b}, r), nil
}

func deleteRecords(src partitionSource, req *kmsg.DeleteRecordsRequest) *kmsg.DeleteRecordsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode, sp.LowWatermark = deleteRecordsBefore(src, rt.Topic, rp.Partition, rp.Offset)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func deleteRecordsBefore(src partitionSource, topic string, index int32, offset int64) (code int16, lowWatermark int64) {
	p, err := src.servedPartition(topic, index)
	if err != nil {
		return readErrorCode(err), -1
	}
	if !p.IsLeader() {
		return kerr.NotLeaderForPartition.Code, -1
	}
	start, err := p.DeleteRecordsBefore(offset)
	if err != nil {
		return readErrorCode(err), -1
	}
	return 0, start
}
