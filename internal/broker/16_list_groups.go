package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups v0-v5: states filter from v4, types filter from v5.
func init() { register(kmsg.ListGroups, 0, 5, handleListGroups) }

func handleListGroups(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.ListGroupsRequest)
	svc, code := b.groupCoordinator()
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return svc.ListGroups(ctx, r), nil
}
