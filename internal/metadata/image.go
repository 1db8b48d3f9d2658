package metadata

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrInvalidRecord: a record that does not fit the image it is applied to
// (a partition of an unknown topic, a duplicate topic name...).
var ErrInvalidRecord = errors.New("metadata: record does not apply")

// Image is the metadata at one point of the log. It is immutable: Apply
// returns a new Image sharing everything that did not change, so readers
// never lock.
type Image struct {
	// Offset is the number of records applied to build this image: the
	// position in the metadata log a snapshot of it would stand for.
	Offset    int64
	ClusterID string

	topics   map[string]*Topic // by name
	topicIDs map[TopicID]string
	brokers  map[int32]*Broker
	// brokerConfigs holds dynamic broker configs by resource name (a node
	// id, or "" for the cluster default).
	brokerConfigs map[string]map[string]string
	// nextProducerID is the first producer id no broker has been given
	// (ProducerIDsRecord); 0 in a log that never allocated any.
	nextProducerID int64
}

// Topic is one topic in an Image. Immutable, like the Image.
type Topic struct {
	Name       string
	ID         TopicID
	Configs    map[string]string // overrides; do not modify
	Partitions []Partition       // Partitions[i].Partition == i
}

// Partition is one partition's assignment and leadership.
type Partition struct {
	Partition      int32
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress (KIP-455; controller_reassign.go): Replicas is then the
	// target followed by the replicas leaving, AddingReplicas the target's
	// members that are catching up, RemovingReplicas the members that
	// leave once they have. Both are subsets of Replicas, disjoint, and
	// empty (nil) when no reassignment is in progress.
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Broker is a registered broker.
type Broker struct {
	NodeID    int32
	Rack      string
	Endpoints []Endpoint
	// Incarnation, BrokerEpoch and Fenced are those of the latest
	// registration, then Fenced follows Fence/UnfenceBrokerRecords. A
	// broker registered by a version 0 BrokerRecord has zero values:
	// unfenced, epoch 0.
	Incarnation IncarnationID
	BrokerEpoch int64
	Fenced      bool
}

// Empty is the image of an empty log.
func Empty() *Image { return &Image{} }

// Topic returns the topic named name.
func (img *Image) Topic(name string) (*Topic, bool) {
	t, ok := img.topics[name]
	return t, ok
}

// TopicByID returns the topic with this id.
func (img *Image) TopicByID(id TopicID) (*Topic, bool) {
	name, ok := img.topicIDs[id]
	if !ok {
		return nil, false
	}
	return img.topics[name], true
}

// Topics returns every topic, sorted by name.
func (img *Image) Topics() []*Topic {
	ts := slices.Collect(maps.Values(img.topics))
	slices.SortFunc(ts, func(a, b *Topic) int { return strings.Compare(a.Name, b.Name) })
	return ts
}

// NumTopics is the number of topics.
func (img *Image) NumTopics() int { return len(img.topics) }

// Broker returns the registered broker with this node id.
func (img *Image) Broker(id int32) (*Broker, bool) {
	b, ok := img.brokers[id]
	return b, ok
}

// Brokers returns every registered broker, sorted by node id.
func (img *Image) Brokers() []*Broker {
	bs := slices.Collect(maps.Values(img.brokers))
	slices.SortFunc(bs, func(a, b *Broker) int { return int(a.NodeID) - int(b.NodeID) })
	return bs
}

// BrokerConfigs returns the dynamic configs of a broker resource (a node
// id, or "" for the cluster default); do not modify.
func (img *Image) BrokerConfigs(resource string) map[string]string {
	return img.brokerConfigs[resource]
}

// Apply returns the image after records, or ErrInvalidRecord (and no
// image) if any record does not fit. It is pure: img is not modified.
func (img *Image) Apply(records ...Record) (*Image, error) {
	next := *img
	// Copy the top-level maps once per batch; topics are replaced, never
	// modified. Copying is O(topics) per batch, cheap at the scale of one
	// cluster's metadata; a persistent map would remove it if needed.
	next.topics = maps.Clone(img.topics)
	next.topicIDs = maps.Clone(img.topicIDs)
	next.brokers = maps.Clone(img.brokers)
	next.brokerConfigs = maps.Clone(img.brokerConfigs)
	if next.topics == nil {
		next.topics = map[string]*Topic{}
		next.topicIDs = map[TopicID]string{}
	}
	if next.brokers == nil {
		next.brokers = map[int32]*Broker{}
	}
	if next.brokerConfigs == nil {
		next.brokerConfigs = map[string]map[string]string{}
	}
	for i, r := range records {
		if err := next.apply(r); err != nil {
			return nil, fmt.Errorf("record %d of %d (type %d): %w", i+1, len(records), r.Type(), err)
		}
		next.Offset++
	}
	return &next, nil
}

func (img *Image) apply(r Record) error {
	switch r := r.(type) {
	case *ClusterRecord:
		if r.ClusterID == "" {
			return fmt.Errorf("%w: empty cluster id", ErrInvalidRecord)
		}
		if img.ClusterID != "" && img.ClusterID != r.ClusterID {
			return fmt.Errorf("%w: cluster id is already %s", ErrInvalidRecord, img.ClusterID)
		}
		img.ClusterID = r.ClusterID
	case *BrokerRecord:
		if old, ok := img.brokers[r.NodeID]; ok && r.BrokerEpoch != 0 && r.BrokerEpoch <= old.BrokerEpoch {
			return fmt.Errorf("%w: broker %d registers with epoch %d, not above %d", ErrInvalidRecord, r.NodeID, r.BrokerEpoch, old.BrokerEpoch)
		}
		img.brokers[r.NodeID] = &Broker{NodeID: r.NodeID, Rack: r.Rack, Endpoints: slices.Clone(r.Endpoints),
			Incarnation: r.Incarnation, BrokerEpoch: r.BrokerEpoch, Fenced: r.Fenced}
	case *TopicRecord:
		if r.Name == "" || r.ID == (TopicID{}) {
			return fmt.Errorf("%w: topic without a name or id", ErrInvalidRecord)
		}
		if _, ok := img.topics[r.Name]; ok {
			return fmt.Errorf("%w: topic %q exists", ErrInvalidRecord, r.Name)
		}
		if _, ok := img.topicIDs[r.ID]; ok {
			return fmt.Errorf("%w: topic id of %q exists", ErrInvalidRecord, r.Name)
		}
		img.topics[r.Name] = &Topic{Name: r.Name, ID: r.ID, Configs: maps.Clone(r.Configs)}
		img.topicIDs[r.ID] = r.Name
	case *PartitionRecord:
		name, ok := img.topicIDs[r.TopicID]
		if !ok {
			return fmt.Errorf("%w: partition %d of an unknown topic", ErrInvalidRecord, r.Partition)
		}
		old := img.topics[name]
		n := int32(len(old.Partitions))
		if r.Partition < 0 || r.Partition > n {
			return fmt.Errorf("%w: partition %d of %q (has %d)", ErrInvalidRecord, r.Partition, name, n)
		}
		t := *old
		t.Partitions = slices.Clone(old.Partitions)
		p := Partition{Partition: r.Partition, Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR),
			Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
			AddingReplicas: slices.Clone(r.AddingReplicas), RemovingReplicas: slices.Clone(r.RemovingReplicas)}
		if err := checkReassignment(p); err != nil {
			return fmt.Errorf("%w: %s-%d: %v", ErrInvalidRecord, name, r.Partition, err)
		}
		if r.Partition == n {
			t.Partitions = append(t.Partitions, p)
		} else {
			t.Partitions[r.Partition] = p
		}
		img.topics[name] = &t
	case *ConfigRecord:
		switch r.Resource {
		case ConfigResourceTopic:
			old, ok := img.topics[r.ResourceName]
			if !ok {
				return fmt.Errorf("%w: config of unknown topic %q", ErrInvalidRecord, r.ResourceName)
			}
			t := *old
			t.Configs = setOrDelete(old.Configs, r.Name, r.Value)
			img.topics[r.ResourceName] = &t
		case ConfigResourceBroker:
			img.brokerConfigs[r.ResourceName] = setOrDelete(img.brokerConfigs[r.ResourceName], r.Name, r.Value)
		default:
			return fmt.Errorf("%w: config resource type %d", ErrInvalidRecord, r.Resource)
		}
	case *RemoveTopicRecord:
		name, ok := img.topicIDs[r.ID]
		if !ok {
			return fmt.Errorf("%w: removing an unknown topic", ErrInvalidRecord)
		}
		delete(img.topics, name)
		delete(img.topicIDs, r.ID)
	case *FenceBrokerRecord, *UnfenceBrokerRecord, *PartitionChangeRecord, *ProducerIDsRecord, *UnregisterBrokerRecord:
		return img.applyClusterRecord(r)
	default:
		panic(fmt.Sprintf("metadata: unknown record %T", r))
	}
	return nil
}

// setOrDelete returns a copy of m with name set to *value, or removed.
func setOrDelete(m map[string]string, name string, value *string) map[string]string {
	out := maps.Clone(m)
	if value == nil {
		delete(out, name)
		return out
	}
	if out == nil {
		out = map[string]string{}
	}
	out[name] = *value
	return out
}
