package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup v0-v9: MEMBER_ID_REQUIRED from v4 (KIP-394), static members
// from v5 (KIP-345), SkipAssignment from v9 (KIP-814). The request waits
// until the rebalance completes.
func init() { register(kmsg.JoinGroup, 0, 9, handleJoinGroup) }

func handleJoinGroup(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.JoinGroupRequest)
	svc, code := b.groupCoordinator()
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation = code, -1
		return resp, nil
	}
	return svc.JoinGroup(ctx, groupClient(req), r)
}
