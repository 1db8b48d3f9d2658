package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDynamicBrokerConfigsReachEveryNode: a cluster default recorded by
// the controller is installed by every node following the metadata log,
// not only by the node that took the request.
func TestDynamicBrokerConfigsReachEveryNode(t *testing.T) {
	c := clustertest.Start(t, 3, nil)
	c.WaitForBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeBroker // resource "": the cluster default
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = "log.retention.ms", kmsg.StringPtr("60000")
	res.Configs = append(res.Configs, cfg)
	req.Resources = append(req.Resources, res)
	// Every node takes it: the active controller records it, the others
	// forward it there (KIP-590).
	for _, n := range c.Live() {
		cl := c.Client(t, kgo.SeedBrokers(n.Addr))
		resp, err := req.RequestWith(ctx, cl.Broker(int(n.ID)))
		if err != nil || resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("node %d: the cluster default not recorded: %v %+v", n.ID, err, resp)
		}
	}
	for _, n := range c.Live() {
		clustertest.WaitFor(t, 30*time.Second, "the cluster default on every node", func() bool {
			v, _, _, _ := n.Config.TopicValue("retention.ms", nil)
			return v == "60000"
		})
	}
}
