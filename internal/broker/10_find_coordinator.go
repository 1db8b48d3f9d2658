package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/group"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator v0-v4 (v4 batches keys). Group keys are served here
// once __consumer_offsets exists (the first lookup creates it);
// transaction keys answer COORDINATOR_NOT_AVAILABLE until transactions
// are implemented.
func init() { register(kmsg.FindCoordinator, 0, 4, handleFindCoordinator) }

const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func handleFindCoordinator(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := r.CoordinatorKeys
	if r.Version < 4 {
		keys = []string{r.CoordinatorKey}
	}
	for _, key := range keys {
		c := b.findCoordinator(r.CoordinatorType, key)
		if r.Version < 4 {
			resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
			resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
			break
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}

func (b *Broker) findCoordinator(keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID = key, -1
	fail := func(code int16, msg string) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode, c.ErrorMessage = code, &msg
		return c
	}
	switch keyType {
	case coordinatorGroup:
	case coordinatorTransaction:
		// Not COORDINATOR_NOT_AVAILABLE: clients retry that forever, so a
		// transactional producer would hang instead of failing. This is the
		// fatal code InitProducerId answers for a transactional id too.
		return fail(kerr.TransactionalIDAuthorizationFailed.Code, "transactions are not supported by this broker yet")
	default:
		return fail(kerr.InvalidRequest.Code, "unknown coordinator type")
	}
	svc, code := b.groupCoordinator()
	if code != 0 {
		return fail(code, "the group coordinator is not available")
	}
	if b.clustered() {
		return b.clusterGroupCoordinator(c, svc.Config().OffsetsTopicPartitions, key)
	}
	if code := svc.GroupCoordinatorError(key); code != 0 {
		return fail(code, "this node does not coordinate the group")
	}
	br, ok := b.store.Image().Broker(b.nodeID())
	if !ok || len(br.Endpoints) == 0 {
		return fail(kerr.CoordinatorNotAvailable.Code, "this node has no listener registered yet")
	}
	e := br.Endpoints[0] // the listener Metadata advertises
	c.NodeID, c.Host, c.Port = b.nodeID(), e.Host, e.Port
	return c
}

// clusterGroupCoordinator answers, in a cluster, the broker leading the
// group's partition of __consumer_offsets as the image has it: that node
// coordinates the group (it loads the partition when it becomes leader).
func (b *Broker) clusterGroupCoordinator(c kmsg.FindCoordinatorResponseCoordinator, partitions int32, key string) kmsg.FindCoordinatorResponseCoordinator {
	fail := func(msg string) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode, c.ErrorMessage = kerr.CoordinatorNotAvailable.Code, &msg
		return c
	}
	img := b.store.Image()
	t, ok := img.Topic(consumerOffsetsTopic)
	p := group.PartitionFor(key, partitions)
	if !ok || int(p) >= len(t.Partitions) {
		return fail("__consumer_offsets is not in the metadata yet")
	}
	leader := t.Partitions[p].Leader
	if leader < 0 {
		return fail("the group's partition of __consumer_offsets has no leader")
	}
	br, ok := img.Broker(leader)
	if !ok || br.Fenced || len(br.Endpoints) == 0 {
		return fail("the coordinator has no listener registered")
	}
	e := br.Endpoints[0] // the listener Metadata advertises
	c.NodeID, c.Host, c.Port = leader, e.Host, e.Port
	return c
}
