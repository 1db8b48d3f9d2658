package broker

import (
	"context"
	"errors"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartitionReassignments v0-v1 (KIP-455; v1: KIP-860's
// AllowReplicationFactorChange): start, change or cancel (null replicas)
// partition reassignments, decided by the active controller
// (metadata.Controller.AlterPartitionReassignments); another node of a
// cluster forwards it there (NOT_CONTROLLER only if that fails). The copy and the completion happen afterwards
// (cluster_reassign.go, cluster_rebalance.go): the answer only says the
// reassignment was accepted.
//
// Registered on every node, a single node included, so Kafka tools work
// unchanged against either: a single node is its own controller, and the
// only target it can accept is itself (any other broker id is not
// registered: INVALID_REPLICA_ASSIGNMENT).
func init() { register(kmsg.AlterPartitionAssignments, 0, 1, handleAlterPartitionReassignments) }

// maxReassignments bounds the partitions one request names.
const maxReassignments = 100_000

func handleAlterPartitionReassignments(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil
	}
	r := req.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	var reqs []metadata.Reassignment
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if len(reqs) == maxReassignments {
				resp.ErrorCode = kerr.InvalidRequest.Code
				return resp, nil
			}
			reqs = append(reqs, metadata.Reassignment{
				TopicPartition: metadata.TopicPartition{Topic: t.Topic, Partition: p.Partition}, Replicas: p.Replicas})
		}
	}
	// v0 has no flag: a replication factor change is allowed, as before
	// KIP-860.
	allowRF := r.Version < 1 || r.AllowReplicationFactorChange
	var results []metadata.ReassignmentResult
	err := b.decide(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
		res, recs := c.AlterPartitionReassignments(now, reqs, allowRF)
		results = res
		return recs, nil
	})
	if err != nil {
		resp.ErrorCode = errorCode(err)
		msg := err.Error()
		resp.ErrorMessage = &msg
		return resp, nil
	}
	byTopic := map[string]int{}
	for _, res := range results {
		i, ok := byTopic[res.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[res.Topic] = i
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = res.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		rp.Partition = res.Partition
		if res.Err != nil {
			rp.ErrorCode = errorCode(res.Err)
			var ce *metadata.ControllerError
			if errors.As(res.Err, &ce) {
				rp.ErrorMessage = &ce.Message
			}
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}
