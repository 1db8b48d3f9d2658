package broker

import (
	"context"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerRegistration v0-v3: a broker of the cluster registers with the
// active controller (metadata.Controller.RegisterBroker). Registered only
// in a cluster (clusterAPIs).
func init() { registerClusterAPI(kmsg.BrokerRegistration, 0, 3, handleBrokerRegistration) }

// maxListeners bounds the endpoints one registration may carry.
const maxListeners = 16

func handleBrokerRegistration(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.BrokerRegistrationRequest)
	resp := r.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	reg := metadata.BrokerRegistration{NodeID: r.BrokerID, ClusterID: r.ClusterID, Incarnation: r.IncarnationID}
	if r.Rack != nil {
		reg.Rack = *r.Rack
	}
	for i, l := range r.Listeners {
		if i == maxListeners {
			break
		}
		reg.Endpoints = append(reg.Endpoints, metadata.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
	}
	err := b.ctlDo(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
		recs, epoch, err := c.RegisterBroker(now, reg)
		resp.BrokerEpoch = epoch
		return recs, err
	})
	if err != nil {
		resp.ErrorCode, resp.BrokerEpoch = errorCode(err), -1
	}
	return resp, nil
}
