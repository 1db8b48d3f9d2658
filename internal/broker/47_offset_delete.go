package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete v0: offsets of topics a group no longer consumes.
func init() { register(kmsg.OffsetDelete, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	svc, code := b.groupCoordinator()
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return svc.OffsetDelete(ctx, r), nil
}
