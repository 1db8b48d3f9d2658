package broker

// OffsetForLeaderEpoch (KIP-101/279/320): for a leader epoch, the largest
// epoch at or below it that the log knows and the offset where that epoch
// ends. A follower (or a consumer checking for truncation after a leader
// change) truncates its log to that offset.

import (
	"context"
	"fmt"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r, ok := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	if !ok {
		return nil, fmt.Errorf("broker: OffsetForLeaderEpoch handler got %T", req.Body)
	}
	return offsetForLeaderEpoch(brokerSource{b}, r), nil
}

// debugReplicaID may ask a follower replica (Kafka's DEBUG_FOLLOWER_ID).
const debugReplicaID = -2

func offsetForLeaderEpoch(src partitionSource, req *kmsg.OffsetForLeaderEpochRequest) *kmsg.OffsetForLeaderEpochResponse {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	replicaID := int32(consumerReplicaID)
	if req.Version >= 3 {
		replicaID = req.ReplicaID
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			current := int32(-1)
			if req.Version >= 2 {
				current = rp.CurrentLeaderEpoch
			}
			sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset = endOffsetForEpoch(src, rt.Topic, rp.Partition, current, rp.LeaderEpoch, replicaID)
			if sp.ErrorCode != 0 {
				sp.LeaderEpoch, sp.EndOffset = -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func endOffsetForEpoch(src partitionSource, topic string, index, currentEpoch, epoch, replicaID int32) (code int16, leaderEpoch int32, endOffset int64) {
	p, err := src.servedPartition(topic, index)
	if err != nil {
		return readErrorCode(err), -1, -1
	}
	if replicaID != debugReplicaID && !p.IsLeader() {
		return kerr.NotLeaderForPartition.Code, -1, -1
	}
	if code := leaderEpochCheck(currentEpoch, p.LeaderEpoch()); code != 0 {
		return code, -1, -1
	}
	leaderEpoch, endOffset = kafkaEndOffsetForEpoch(p, epoch)
	return 0, leaderEpoch, endOffset
}

// kafkaEndOffsetForEpoch answers as Kafka's leader-epoch cache does. Kafka's
// leader records its epoch the moment it becomes leader; Gregor's log
// records an epoch with its first batch. So the current epoch ends at the
// log end even before anything was written in it, an epoch newer than the
// current one is unknown (-1, -1: UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET),
// and an epoch older than every one the log knows ends where the log
// starts (the fetcher must truncate there).
func kafkaEndOffsetForEpoch(p servedPartition, epoch int32) (int32, int64) {
	current := p.LeaderEpoch()
	switch {
	case epoch < 0 || epoch > current:
		return -1, -1
	case epoch == current:
		return current, p.LogEndOffset()
	}
	known, end := p.EndOffsetForEpoch(epoch)
	if known < 0 {
		return epoch, p.LogStartOffset()
	}
	return known, end
}
