package broker

import (
	"context"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics v2-v7 (v2 is the Kafka 2.1 baseline; v5 returns configs,
// v7 topic ids).
func init() { register(kmsg.CreateTopics, 2, 7, handleCreateTopics) }

func handleCreateTopics(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	if resp, ok := b.forwardToController(ctx, req); ok {
		return resp, nil // only the controller writes the metadata log
	}
	r := req.Body.(*kmsg.CreateTopicsRequest)
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)

	count := map[string]int{}
	for _, t := range r.Topics {
		count[t.Topic]++
	}
	specs := make([]topicSpec, 0, len(r.Topics))
	index := make([]int, len(r.Topics)) // request topic -> spec, or -1
	errs := make([]*apiError, len(r.Topics))
	for i, t := range r.Topics {
		index[i] = -1
		if count[t.Topic] > 1 {
			errs[i] = errorf(kerr.InvalidRequest, "Create topics request from client contains duplicate topic name %q.", t.Topic)
			continue
		}
		spec, err := createSpec(t)
		if err != nil {
			errs[i] = err
			continue
		}
		index[i] = len(specs)
		specs = append(specs, spec)
	}
	created, createErrs := b.createTopics(specs, r.ValidateOnly)

	for i, t := range r.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		err := errs[i]
		if j := index[i]; j >= 0 {
			err = createErrs[j]
			if err == nil {
				ct := created[j]
				if !r.ValidateOnly {
					rt.TopicID = ct.id
				}
				rt.NumPartitions, rt.ReplicationFactor = ct.numPartitions, ct.replicationFactor
				for _, e := range b.topicConfigEntries(ct.configs) {
					c := kmsg.NewCreateTopicsResponseTopicConfig()
					c.Name, c.Value, c.ReadOnly, c.Source = e.name, e.value, e.readOnly, int8(e.source)
					rt.Configs = append(rt.Configs, c)
				}
			}
		}
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = err.code(), err.message()
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// createSpec turns one requested topic into a topicSpec.
func createSpec(t kmsg.CreateTopicsRequestTopic) (topicSpec, *apiError) {
	spec := topicSpec{name: t.Topic, numPartitions: t.NumPartitions, replicationFactor: t.ReplicationFactor}
	if len(t.Configs) > 0 {
		spec.configs = make(map[string]*string, len(t.Configs))
		for _, c := range t.Configs {
			if _, dup := spec.configs[c.Name]; dup {
				return spec, errorf(kerr.InvalidRequest, "Duplicate config %q.", c.Name)
			}
			spec.configs[c.Name] = c.Value
		}
	}
	if len(t.ReplicaAssignment) > 0 {
		if len(t.ReplicaAssignment) > maxPartitionsPerTopic {
			return spec, errorf(kerr.InvalidPartitions, "Too many partitions in the replica assignment: %d.", len(t.ReplicaAssignment))
		}
		spec.assignment = make([][]int32, len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(spec.assignment) || spec.assignment[a.Partition] != nil {
				return spec, errorf(kerr.InvalidReplicaAssignment, "Partitions of the replica assignment must be 0 to %d, each once.", len(spec.assignment)-1)
			}
			spec.assignment[a.Partition] = a.Replicas
		}
	}
	return spec, nil
}
