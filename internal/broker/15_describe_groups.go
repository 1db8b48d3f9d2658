package broker

import (
	"context"
	"math"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups v0-v6 (classic groups; v6 answers GROUP_ID_NOT_FOUND for
// a group that does not exist).
func init() { register(kmsg.DescribeGroups, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	svc, code := b.groupCoordinator()
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range r.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode, dg.AuthorizedOperations = g, code, math.MinInt32
			resp.Groups = append(resp.Groups, dg)
		}
		return resp, nil
	}
	return svc.DescribeGroups(ctx, r), nil
}
