package broker

import (
	"context"
	"strings"
	"time"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topics this broker creates on its own behalf (Metadata's auto-creation)
// must be created by the active controller. On another node the request
// is forwarded to it, and the answer waits (bounded) for this node's
// registry to open the topics, so the same Metadata response can
// describe them as a single node's would. A client's own CreateTopics is
// forwarded as it is (forwardToController) and answered once the
// controller committed it.

// forwardWait bounds how long a forwarded creation waits for the image.
const forwardWait = 5 * time.Second

// createTopicsFromAnyNode creates specs here when this node is the
// controller (or a single node), else through the active controller.
func (b *Broker) createTopicsFromAnyNode(specs []topicSpec) ([]createdTopic, []*apiError) {
	if !b.clustered() || b.cluster.quorum.IsLeader() {
		return b.createTopics(specs, false)
	}
	created := make([]createdTopic, len(specs))
	errs := make([]*apiError, len(specs))
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(forwardWait / time.Millisecond)
	for _, s := range specs {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = s.name, s.numPartitions, s.replicationFactor
		for name, v := range s.configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = name, v
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardWait)
	defer cancel()
	resp, err := controllerRequest[*kmsg.CreateTopicsResponse](ctx, b, req)
	if err != nil {
		for i := range errs {
			errs[i] = errorf(kerr.NotController, "forwarding to the controller: %v", err)
		}
		return created, errs
	}
	byName := map[string]kmsg.CreateTopicsResponseTopic{}
	for _, t := range resp.Topics {
		byName[t.Topic] = t
	}
	for i, s := range specs {
		t, ok := byName[s.name]
		switch {
		case !ok:
			errs[i] = errorf(kerr.UnknownServerError, "the controller did not answer for %s", s.name)
		case t.ErrorCode != 0:
			msg := ""
			if t.ErrorMessage != nil {
				msg = *t.ErrorMessage
			}
			code := kerr.UnknownServerError
			if ke, ok := kerr.ErrorForCode(t.ErrorCode).(*kerr.Error); ok {
				code = ke
			}
			errs[i] = &apiError{err: code, msg: msg}
		default:
			created[i] = createdTopic{id: t.TopicID, numPartitions: t.NumPartitions, replicationFactor: t.ReplicationFactor}
		}
	}
	// Wait for this node to open what was created.
	deadline := time.Now().Add(forwardWait)
	for {
		changed := b.store.Changed()
		missing := false
		for i, s := range specs {
			if errs[i] == nil {
				if _, ok := b.currentRegistry().byName[s.name]; !ok {
					missing = true
				}
			}
		}
		wait := time.Until(deadline)
		if !missing || wait <= 0 {
			return created, errs
		}
		select {
		case <-changed:
		case <-time.After(min(wait, 50*time.Millisecond)): // the registry follows the image
		}
	}
}

// interBrokerClientPrefix starts the client id of a broker's own client
// (startCluster); a request carrying it was forwarded already.
const interBrokerClientPrefix = "gregor-broker-"

// forwardToController answers an admin request that only the active
// controller can decide (topic creation and deletion, partitions, config
// changes, ElectLeaders, reassignments, UnregisterBroker) on a node that
// is not the controller, by sending it there and relaying the answer, as
// Kafka's brokers forward to their controller (KIP-590). Clients send
// config changes to any broker (kgo, librdkafka and Kafka's tools pick one
// at random for a topic resource), admin clients cache the controller
// from Metadata, and some (kadm's ElectLeaders, AlterTopicConfigs) do not
// retry a NOT_CONTROLLER, so without this they fail or silently do
// nothing on every node but one. ok is false when the request must be answered
// here: this node is the controller, a single node, the request was
// forwarded already (so two nodes that disagree about the leader cannot
// bounce it forever), or forwarding failed (the handler then answers
// NOT_CONTROLLER itself).
func (b *Broker) forwardToController(ctx context.Context, req *wire.Request) (kmsg.Response, bool) {
	if !b.clustered() || b.cluster.quorum.IsLeader() {
		return nil, false
	}
	if req.ClientID != nil && strings.HasPrefix(*req.ClientID, interBrokerClientPrefix) {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, forwardWait)
	defer cancel()
	resp, err := controllerRequest[kmsg.Response](ctx, b, req.Body)
	if err != nil {
		b.log.Debug("forwarding to the controller failed", "api", req.Key, "err", err)
		return nil, false
	}
	return resp, true
}
