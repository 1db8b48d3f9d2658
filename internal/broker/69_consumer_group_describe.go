package broker

import (
	"context"
	"math"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe v0-v1 (KIP-848 groups).
func init() { register(kmsg.ConsumerGroupDescribe, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	svc, code := b.groupCoordinator()
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
		for _, g := range r.Groups {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group, dg.ErrorCode, dg.AuthorizedOperations = g, code, math.MinInt32
			resp.Groups = append(resp.Groups, dg)
		}
		return resp, nil
	}
	return svc.ConsumerGroupDescribe(ctx, r), nil
}
