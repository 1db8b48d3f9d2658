package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata v0-v12. v13 only adds a top-level error code for KIP-1102's
// re-bootstrap, which a single node has no use for yet.
func init() { register(kmsg.Metadata, 0, 12, handleMetadata) }

func handleMetadata(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	allowAuto := r.Version < 4 || r.AllowAutoTopicCreation
	all := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)

	if !all {
		b.autoCreate(r.Topics, allowAuto)
	}
	img := b.store.Image()
	resp.ClusterID = &img.ClusterID
	resp.ControllerID = b.controllerID()
	for _, br := range img.Brokers() {
		// Fenced brokers are left out, as KRaft does: a client that
		// still sees a dead broker keeps dialing it (Sarama did, for its
		// group coordinator) instead of refreshing to find the new leader.
		if len(br.Endpoints) == 0 || br.Fenced {
			continue
		}
		e := br.Endpoints[0] // the only listener for now (PLAINTEXT)
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.NodeID, e.Host, e.Port
		if br.Rack != "" {
			mb.Rack = &br.Rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}

	if all {
		for _, t := range img.Topics() {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
	} else {
		for _, rt := range r.Topics {
			resp.Topics = append(resp.Topics, b.requestedTopic(img, rt))
		}
	}
	if r.IncludeTopicAuthorizedOperations {
		for i := range resp.Topics {
			if resp.Topics[i].ErrorCode == 0 {
				resp.Topics[i].AuthorizedOperations = topicOperations
			}
		}
	}
	if r.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOperations
	}
	return resp, nil
}

// Without ACLs (not implemented yet) every client may do everything: the
// KIP-430 bitfields (bit n set: AclOperation n allowed) list all
// operations that apply to a topic or to the cluster.
const (
	topicOperations   = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11 // read, write, create, delete, alter, describe, describe/alter configs
	clusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12       // create, alter, describe, cluster action, describe/alter configs, idempotent write
)

// requestedTopic answers for one topic named (or, v10+, identified) in
// the request.
func (b *Broker) requestedTopic(img *metadata.Image, rt kmsg.MetadataRequestTopic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	switch {
	case rt.Topic != nil:
		mt.Topic = rt.Topic
		if validateTopicName(*rt.Topic) != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		} else if t, ok := img.Topic(*rt.Topic); ok {
			return b.metadataTopic(t)
		} else {
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		}
	case rt.TopicID != [16]byte{}:
		mt.TopicID = rt.TopicID
		if t, ok := img.TopicByID(rt.TopicID); ok {
			return b.metadataTopic(t)
		}
		mt.ErrorCode = kerr.UnknownTopicID.Code
	default:
		mt.ErrorCode = kerr.InvalidRequest.Code
	}
	return mt
}

// autoCreate creates the named topics that do not exist, when the broker
// and the request allow it. A single node creates them synchronously, so
// the same response already describes them (no LEADER_NOT_AVAILABLE
// round).
func (b *Broker) autoCreate(topics []kmsg.MetadataRequestTopic, allowed bool) {
	if !allowed || !b.cfg.AutoCreateTopicsEnable {
		return
	}
	img := b.store.Image()
	var specs []topicSpec
	for _, rt := range topics {
		if rt.Topic == nil || validateTopicName(*rt.Topic) != nil || isInternalTopic(*rt.Topic) {
			continue
		}
		if _, ok := img.Topic(*rt.Topic); ok {
			continue
		}
		if slices.ContainsFunc(specs, func(s topicSpec) bool { return s.name == *rt.Topic }) {
			continue
		}
		specs = append(specs, topicSpec{name: *rt.Topic, numPartitions: -1, replicationFactor: -1})
	}
	if len(specs) == 0 {
		return
	}
	_, errs := b.createTopicsFromAnyNode(specs) // through the controller in a cluster
	for i, err := range errs {
		if err != nil && err.err != kerr.TopicAlreadyExists {
			b.log.Warn("auto-creating topic failed", "topic", specs[i].name, "err", err.msg)
		} else if err == nil {
			b.log.Info("auto-created topic", "topic", specs[i].name)
		}
	}
}

// metadataTopic describes one topic as Metadata answers it.
func (b *Broker) metadataTopic(t *metadata.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = &t.Name
	mt.TopicID = t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Partition
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		mp.OfflineReplicas = []int32{}
		if p.Leader == b.nodeID() {
			// The image is published before the registry catches up with
			// it (reconcile runs right after the append).
			switch err := b.replicaState(t.ID, p.Partition); {
			case errors.Is(err, errUnknownTopicOrPartition):
				mp.ErrorCode = kerr.LeaderNotAvailable.Code
			case err != nil:
				mp.ErrorCode = kerr.KafkaStorageError.Code
				mp.OfflineReplicas = []int32{b.nodeID()}
			}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
