package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch v0-v9: several groups at once from v8, member checks of
// KIP-848 groups from v9 (v10 names topics by id).
func init() { register(kmsg.OffsetFetch, 0, 9, handleOffsetFetch) }

func handleOffsetFetch(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	svc, code := b.groupCoordinator()
	if code == 0 {
		return svc.OffsetFetch(ctx, r), nil
	}
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	switch {
	case r.Version >= 8:
		for _, rg := range r.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group, sg.ErrorCode = rg.Group, code
			resp.Groups = append(resp.Groups, sg)
		}
	case r.Version >= 2:
		resp.ErrorCode = code
	default:
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.ErrorCode = p, -1, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	return resp, nil
}
