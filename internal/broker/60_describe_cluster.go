package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-v1 (v1: endpoint type, brokers only; no controller
// endpoints are exposed separately since every node is a broker).
func init() { register(kmsg.DescribeCluster, 0, 1, handleDescribeCluster) }

// endpointTypeBrokers is KIP-919's endpoint type for broker listeners.
const endpointTypeBrokers = 1

func handleDescribeCluster(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointTypeBrokers
	if r.Version >= 1 && r.EndpointType != endpointTypeBrokers {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "Only broker endpoints (type 1) are served."
		resp.ErrorMessage = &msg
		return resp, nil
	}
	img := b.store.Image()
	if r.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	resp.ClusterID = img.ClusterID
	resp.ControllerID = b.controllerID()
	for _, br := range img.Brokers() {
		// Fenced brokers are left out, as in Metadata (v2's
		// IncludeFencedBrokers is not offered).
		if len(br.Endpoints) == 0 || br.Fenced {
			continue
		}
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port = br.NodeID, br.Endpoints[0].Host, br.Endpoints[0].Port
		if br.Rack != "" {
			db.Rack = &br.Rack
		}
		resp.Brokers = append(resp.Brokers, db)
	}
	return resp, nil
}
