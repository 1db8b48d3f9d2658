package broker

import (
	"context"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerHeartbeat v0-v1: a registered broker's liveness, answered by the
// active controller (metadata.Controller.Heartbeat). Registered only in a
// cluster (clusterAPIs).
func init() { registerClusterAPI(kmsg.BrokerHeartbeat, 0, 1, handleBrokerHeartbeat) }

func handleBrokerHeartbeat(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.BrokerHeartbeatRequest)
	resp := r.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	hb := metadata.BrokerHeartbeat{NodeID: r.BrokerID, BrokerEpoch: r.BrokerEpoch, CurrentMetadataOffset: r.CurrentMetadataOffset,
		WantFence: r.WantFence, WantShutDown: r.WantShutdown}
	err := b.ctlDo(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
		res, recs, err := c.Heartbeat(now, hb)
		resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = res.IsCaughtUp, res.IsFenced, res.ShouldShutDown
		return recs, err
	})
	if err != nil {
		resp.ErrorCode = errorCode(err)
		resp.IsFenced = true
	}
	return resp, nil
}
