package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// UnregisterBroker v0 (KIP-500's kafka-cluster unregister): remove a
// broker that is gone for good. The active controller fences it if it is
// not (its leaderships move, it leaves every ISR) and drops its
// registration (metadata.Controller.UnregisterBroker), so Metadata,
// DescribeCluster and placement forget it; partitions keep it as a
// replica until reassigned. A Raft learner is also removed from the
// metadata quorum; a voter stays a voter (the voters are configuration).
// A broker that is still running registers again at its next heartbeat,
// as in Kafka. Another node forwards the request to the controller.
// Registered only in a cluster.
func init() { registerClusterAPI(kmsg.UnregisterBroker, 0, 0, handleUnregisterBroker) }

func handleUnregisterBroker(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil
	}
	r := req.Body.(*kmsg.UnregisterBrokerRequest)
	resp := r.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	err := b.ctlDo(func(c *metadata.Controller, _ time.Time) ([]metadata.Record, error) {
		return c.UnregisterBroker(r.BrokerID)
	})
	// A learner is removed from the quorum even when its registration is
	// already gone, so a retry after a failed removal finishes the job.
	if st := b.cluster.quorum.Status(); slices.Contains(st.Learners, r.BrokerID) &&
		(err == nil || errors.Is(err, kerr.BrokerIDNotRegistered)) {
		ctx, cancel := context.WithTimeout(ctx, forwardWait)
		defer cancel()
		err = b.cluster.quorum.RemoveNode(ctx, r.BrokerID)
		if err != nil {
			err = fmt.Errorf("removing broker %d from the metadata quorum: %w", r.BrokerID, err)
		}
	}
	if err != nil {
		resp.ErrorCode = errorCode(err)
		msg := err.Error()
		resp.ErrorMessage = &msg
	}
	return resp, nil
}
