package broker

// DeleteRecords: move a partition's log start offset forward (kadm's
// DeleteRecords, kafka-delete-records.sh). Offset -1 means the high
// watermark; offsets above it are out of range. The answer is the new log
// start offset (Kafka's "low watermark"). With a single replica nothing
// waits: the leader's log start offset is the partition's.
//
// As in Kafka, a topic whose cleanup.policy lacks delete (compact only)
// refuses with POLICY_VIOLATION: there the cleaner owns what is kept, and
// a consumer rebuilding state from such a topic expects every key's last
// value to be there.

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
	return deleteRecords(brokerSource{b}, r, b.deleteRecordsRefusal), nil
}

// deleteRecordsRefusal returns the error code refusing DeleteRecords on
// topic, or 0: INVALID_TOPIC_EXCEPTION for an internal topic (only the
// broker trims those), POLICY_VIOLATION when its cleanup.policy lacks
// delete. An unknown topic is left to the partition lookup, which answers
// UNKNOWN_TOPIC_OR_PARTITION.
func (b *Broker) deleteRecordsRefusal(topic string) int16 {
	t, ok := b.store.Image().Topic(topic)
	if !ok {
		return 0
	}
	if isInternalTopic(topic) {
		return kerr.InvalidTopicException.Code
	}
	if s, err := b.cfg.TopicSettings(t.Configs); err == nil && !s.DeleteByRetention {
		return kerr.PolicyViolation.Code
	}
	return 0
}

// deleteRecords answers req; a non-zero refusal(topic) refuses the topic's
// partitions with that code (nil: every topic is deletable).
func deleteRecords(src partitionSource, req *kmsg.DeleteRecordsRequest, refusal func(topic string) int16) *kmsg.DeleteRecordsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		var refused int16
		if refusal != nil {
			refused = refusal(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode, sp.LowWatermark = deleteRecordsBefore(src, rt.Topic, rp.Partition, rp.Offset, refused)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// deleteRecordsBefore answers one partition. As in Kafka, the partition
// must exist and be led here before the policy is looked at.
func deleteRecordsBefore(src partitionSource, topic string, index int32, offset int64, refused int16) (code int16, lowWatermark int64) {
	p, err := src.servedPartition(topic, index)
	if err != nil {
		return readErrorCode(err), -1
	}
	if !p.IsLeader() {
		return kerr.NotLeaderForPartition.Code, -1
	}
	if refused != 0 {
		return refused, -1
	}
	start, err := p.DeleteRecordsBefore(offset)
	if err != nil {
		return readErrorCode(err), -1
	}
	return 0, start
}
