package broker_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/clustertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A learner that is gone for good is unregistered through any node: it
// leaves every node's image (so Metadata and placement forget it) and the
// metadata quorum; unregistering it again is BROKER_ID_NOT_REGISTERED.
func TestClusterUnregisterLearner(t *testing.T) {
	c := clustertest.StartWithLearners(t, 3, 1, nil)
	c.WaitForBrokers(t, 4)
	c.WaitForLearner(t, 4)
	c.Node(4).Close()
	ctl := c.WaitForController(t)
	other := c.Nodes[0]
	if other.ID == ctl {
		other = c.Nodes[1]
	}
	unregister := func() int16 {
		req := kmsg.NewPtrUnregisterBrokerRequest()
		req.BrokerID = 4
		return seedRequest(t, other.Addr, req).(*kmsg.UnregisterBrokerResponse).ErrorCode
	}
	if code := unregister(); code != 0 {
		t.Fatalf("UnregisterBroker through node %d (controller %d): %v", other.ID, ctl, kerr.ErrorForCode(code))
	}
	clustertest.WaitFor(t, 30*time.Second, "broker 4 gone from every image and the quorum", func() bool {
		for _, n := range c.Live() {
			if _, ok := n.MetadataImage().Broker(4); ok {
				return false
			}
			if st, _ := n.QuorumStatus(); slices.Contains(st.Learners, 4) {
				return false
			}
		}
		return true
	})
	md := seedRequest(t, other.Addr, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	if len(md.Brokers) != 3 {
		t.Fatalf("Metadata lists %d brokers after the unregistration", len(md.Brokers))
	}
	if code := unregister(); code != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("second UnregisterBroker: %v", kerr.ErrorForCode(code))
	}
}
