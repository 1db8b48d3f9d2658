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

// ElectLeaders v0-v2 (KIP-183, KIP-460): preferred or unclean leader
// elections, decided by the active controller (metadata.Controller.
// ElectLeaders); another node forwards it there (NOT_CONTROLLER only if
// that fails). Registered only in a cluster:
// a single node leads everything already.
func init() { registerClusterAPI(kmsg.ElectLeaders, 0, 2, handleElectLeaders) }

// maxElections bounds the partitions one request names.
const maxElections = 100_000

func handleElectLeaders(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil
	}
	r := req.Body.(*kmsg.ElectLeadersRequest)
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	var partitions []metadata.TopicPartition // nil: every partition
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if len(partitions) == maxElections {
				resp.ErrorCode = kerr.InvalidRequest.Code
				return resp, nil
			}
			partitions = append(partitions, metadata.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	if r.Topics != nil && partitions == nil {
		return resp, nil // topics named without partitions: nothing to do
	}
	var results []metadata.ElectionResult
	err := b.ctlDo(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
		res, recs := c.ElectLeaders(now, metadata.ElectionType(r.ElectionType), partitions)
		results = res
		return recs, nil
	})
	if err != nil {
		code := errorCode(err)
		if r.Version == 0 {
			// v0 has no top-level error code: every partition carries it.
			for _, t := range r.Topics {
				rt := kmsg.NewElectLeadersResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewElectLeadersResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		resp.ErrorCode = code
		return resp, nil
	}
	byTopic := map[string]int{}
	for _, res := range results {
		i, ok := byTopic[res.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[res.Topic] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = res.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
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
