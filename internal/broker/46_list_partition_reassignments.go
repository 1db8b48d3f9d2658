package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListPartitionReassignments v0 (KIP-455): the reassignments in progress,
// of the partitions named or of all (null topics). Kafka answers it on
// the active controller, and so does a cluster here (another node
// forwards it there, and answers NOT_CONTROLLER only if that fails), from
// the controller's image; a single node has none.
func init() { register(kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil
	}
	r := req.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if b.clustered() && !b.cluster.quorum.IsLeader() {
		resp.ErrorCode = kerr.NotController.Code
		return resp, nil
	}
	var partitions []metadata.TopicPartition // nil: every partition
	if r.Topics != nil {
		partitions = []metadata.TopicPartition{}
	}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if len(partitions) == maxReassignments {
				resp.ErrorCode = kerr.InvalidRequest.Code
				return resp, nil
			}
			partitions = append(partitions, metadata.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	byTopic := map[string]int{}
	for _, o := range b.store.Image().Reassignments(partitions) {
		i, ok := byTopic[o.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[o.Topic] = i
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = o.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition, rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = o.Partition, o.Replicas, o.AddingReplicas, o.RemovingReplicas
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}
