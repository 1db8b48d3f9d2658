package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupHeartbeat v0-v1 (KIP-848: server-side assignment, regex
// subscriptions from v1). Clients use it only when asked to (franz-go's
// ServerSideBalancer, Java's group.protocol=consumer); others keep
// JoinGroup, so advertising it changes nothing for them.
func init() { register(kmsg.ConsumerGroupHeartbeat, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	svc, code := b.groupCoordinator()
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return svc.ConsumerGroupHeartbeat(ctx, groupClient(req), r), nil
}
