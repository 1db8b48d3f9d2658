package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions v0-v3: partitions can only be added.
func init() { register(kmsg.CreatePartitions, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil // only the controller writes the metadata log
	}
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := map[string]int{}
	for _, t := range r.Topics {
		count[t.Topic]++
	}
	for _, t := range r.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var aerr *apiError
		if count[t.Topic] > 1 {
			aerr = errorf(kerr.InvalidRequest, "Duplicate topic in request.")
		} else {
			var assignment [][]int32
			if t.Assignment != nil {
				assignment = make([][]int32, len(t.Assignment))
				for i, a := range t.Assignment {
					assignment[i] = a.Replicas
				}
			}
			aerr = b.createPartitions(t.Topic, t.Count, assignment, r.ValidateOnly)
		}
		rt.ErrorCode, rt.ErrorMessage = aerr.code(), aerr.message()
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
