package broker

// ListOffsets: the offset for a timestamp, or for one of Kafka's special
// timestamps. Consumers (replica id -1) see only committed offsets: the
// high watermark, or the last stable offset under READ_COMMITTED.

import (
	"context"
	"fmt"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// v8 is the newest version whose special timestamps all mean something
// without tiered storage; v9's -5 (latest tiered offset) would too, but
// claiming a tiered-storage version is not worth the confusion.
const listOffsetsMaxVersion = 8

func init() { register(kmsg.ListOffsets, 1, listOffsetsMaxVersion, handleListOffsets) }

func handleListOffsets(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r, ok := req.Body.(*kmsg.ListOffsetsRequest)
	if !ok {
		return nil, fmt.Errorf("broker: ListOffsets handler got %T", req.Body)
	}
	return listOffsets(brokerSource{b}, r), nil
}

// Kafka's special timestamps.
const (
	listOffsetsLatest        = -1 // the high watermark (consumers) or log end
	listOffsetsEarliest      = -2 // the log start offset
	listOffsetsMaxTimestamp  = -3 // the record with the largest timestamp (KIP-734)
	listOffsetsEarliestLocal = -4 // tiered storage's first local offset (KIP-405): the log start here
	listOffsetsLatestTiered  = -5 // tiered storage's last offset (KIP-1005): none here
)

// consumerReplicaID is the replica id of ordinary clients.
const consumerReplicaID = -1

func listOffsets(src partitionSource, req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	type topicPartition struct {
		topic     string
		partition int32
	}
	// Kafka refuses a partition named twice with INVALID_REQUEST.
	seen := make(map[topicPartition]int)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[topicPartition{rt.Topic, rp.Partition}]++
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if seen[topicPartition{rt.Topic, rp.Partition}] > 1 {
				sp.ErrorCode = kerr.InvalidRequest.Code
			} else {
				listOffset(src, req, rt.Topic, &rp, &sp)
			}
			if sp.ErrorCode != 0 {
				sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// listOffset answers one partition; sp holds Kafka's "none" (-1s) on entry.
func listOffset(src partitionSource, req *kmsg.ListOffsetsRequest, topic string, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	p, err := src.servedPartition(topic, rp.Partition)
	if err != nil {
		sp.ErrorCode = readErrorCode(err)
		return
	}
	if !p.IsLeader() {
		sp.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	current := int32(-1)
	if req.Version >= 4 {
		current = rp.CurrentLeaderEpoch
	}
	leaderEpoch := p.LeaderEpoch()
	if sp.ErrorCode = leaderEpochCheck(current, leaderEpoch); sp.ErrorCode != 0 {
		return
	}
	client := req.ReplicaID == consumerReplicaID
	// lastFetchable is the end of what the requester may read.
	lastFetchable := p.LogEndOffset()
	if client {
		lastFetchable = p.HighWatermark()
		if req.Version >= 2 && req.IsolationLevel == 1 {
			lastFetchable = p.LastStableOffset()
		}
	}
	// A new leader whose high watermark is still below the start of its
	// epoch could answer with an offset lower than the old leader did;
	// Kafka makes clients retry instead. The offset where this epoch
	// starts is where the previous one ends.
	notAvailable := int16(0)
	if _, epochStart := p.EndOffsetForEpoch(leaderEpoch - 1); client && leaderEpoch > 0 && epochStart > lastFetchable {
		notAvailable = kerr.OffsetNotAvailable.Code
		if req.Version < 5 {
			notAvailable = kerr.LeaderNotAvailable.Code
		}
	}

	var offset, timestamp int64 = -1, -1
	found := false
	switch rp.Timestamp {
	case listOffsetsLatest:
		if notAvailable != 0 {
			sp.ErrorCode = notAvailable
			return
		}
		sp.Offset, sp.Timestamp, sp.LeaderEpoch = lastFetchable, -1, leaderEpoch
		return
	case listOffsetsEarliest, listOffsetsEarliestLocal:
		start := p.LogStartOffset()
		sp.Offset, sp.Timestamp, sp.LeaderEpoch = start, -1, batchLeaderEpoch(p, start)
		return
	case listOffsetsLatestTiered:
		// Nothing is tiered: Kafka answers "none".
	case listOffsetsMaxTimestamp:
		timestamp, offset, err = p.MaxTimestamp()
		found = err == nil && offset >= 0
	default:
		// Other negative timestamps search like real ones, as in Kafka:
		// every record's timestamp is above them.
		var ok bool
		offset, timestamp, ok, err = p.OffsetForTimestamp(rp.Timestamp)
		found = err == nil && ok
	}
	if err != nil {
		sp.ErrorCode = readErrorCode(err)
		return
	}
	if !found || (client && offset >= lastFetchable) {
		// Nothing the requester may see: "none", unless the high
		// watermark is behind (then the answer may change once it is not).
		sp.ErrorCode = notAvailable
		return
	}
	sp.Offset, sp.Timestamp, sp.LeaderEpoch = offset, timestamp, batchLeaderEpoch(p, offset)
}

// batchLeaderEpoch returns the partitionLeaderEpoch of the batch holding
// offset, or -1 when there is none (empty log) or it cannot be read.
func batchLeaderEpoch(p servedPartition, offset int64) int32 {
	s, err := p.Read(offset, 1, p.LogEndOffset())
	if err != nil || s.File == nil || s.Size < record.HeaderSize {
		return -1
	}
	var b [record.HeaderSize]byte
	if _, err := s.File.ReadAt(b[:], s.Pos); err != nil {
		return -1
	}
	h, err := record.ReadHeader(b[:])
	if err != nil {
		return -1
	}
	return h.PartitionLeaderEpoch
}
