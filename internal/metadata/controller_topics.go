package metadata

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

const (
	maxTopicNameLength = 249
	// MaxPartitionsPerTopic bounds what one request can create: far above
	// any real topic, far below what would exhaust memory.
	MaxPartitionsPerTopic = 100_000
	// metadataTopic is the name of Kafka's metadata log, reserved.
	metadataTopic = "__cluster_metadata"
)

// CreateTopicRequest is one topic of a CreateTopics request (API 19).
type CreateTopicRequest struct {
	Name              string
	NumPartitions     int32     // -1: DefaultNumPartitions
	ReplicationFactor int16     // -1: DefaultReplicationFactor
	Assignment        [][]int32 // replicas of partition i at i, or nil to place them
	// Configs are the topic's overrides, already validated and normalised
	// by the caller (the config package knows their types).
	Configs map[string]string
}

// CreatedTopic is what CreateTopics reports of a created topic.
type CreatedTopic struct {
	ID                TopicID
	NumPartitions     int32
	ReplicationFactor int16
}

// CreateTopic is CreateTopics with one topic.
func (c *Controller) CreateTopic(now time.Time, req CreateTopicRequest) (CreatedTopic, []Record, error) {
	created, errs, records := c.CreateTopics(now, []CreateTopicRequest{req})
	return created[0], records, errs[0]
}

// CreateTopics validates each topic against the image and the topics
// before it in reqs, and returns the records that create the valid ones,
// as one batch; results are by index. Replicas are placed over the
// eligible (unfenced, not shutting down) brokers by Placement from a
// random start; the ISR of a new partition is its eligible replicas and
// its leader the first of them.
func (c *Controller) CreateTopics(now time.Time, reqs []CreateTopicRequest) ([]CreatedTopic, []error, []Record) {
	created := make([]CreatedTopic, len(reqs))
	errs := make([]error, len(reqs))
	var records []Record
	img := c.img
	for i, req := range reqs {
		recs, ct, err := c.planTopic(img, req)
		if err != nil {
			errs[i] = err
			continue
		}
		next, err := img.Apply(recs...)
		if err != nil {
			panic(fmt.Sprintf("metadata: controller planned topic %q that does not apply: %v", req.Name, err))
		}
		img, created[i] = next, ct
		records = append(records, recs...)
	}
	return created, errs, records
}

func (c *Controller) planTopic(img *Image, req CreateTopicRequest) ([]Record, CreatedTopic, error) {
	var ct CreatedTopic
	if err := validateTopicName(req.Name); err != nil {
		return nil, ct, err
	}
	if _, ok := img.Topic(req.Name); ok {
		return nil, ct, controllerErr(kerr.TopicAlreadyExists, "Topic '%s' already exists.", req.Name)
	}
	for _, t := range img.Topics() {
		if collisionName(t.Name) == collisionName(req.Name) {
			return nil, ct, controllerErr(kerr.InvalidTopicException, "Topic '%s' collides with existing topic: %s", req.Name, t.Name)
		}
	}
	assignment := req.Assignment
	if assignment != nil {
		if req.NumPartitions != -1 || req.ReplicationFactor != -1 {
			return nil, ct, controllerErr(kerr.InvalidRequest,
				"Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
		}
		if len(assignment) == 0 || len(assignment) > MaxPartitionsPerTopic {
			return nil, ct, controllerErr(kerr.InvalidPartitions, "Invalid number of partitions in the replica assignment: %d.", len(assignment))
		}
		if err := c.checkAssignment(img, assignment, len(assignment[0])); err != nil {
			return nil, ct, err
		}
	} else {
		n, rf := req.NumPartitions, req.ReplicationFactor
		if n == -1 {
			n = c.cfg.DefaultNumPartitions
		}
		if rf == -1 {
			rf = c.cfg.DefaultReplicationFactor
		}
		switch {
		case n <= 0:
			return nil, ct, controllerErr(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
		case n > MaxPartitionsPerTopic:
			return nil, ct, controllerErr(kerr.InvalidPartitions, "Number of partitions %d is above the limit of %d.", n, MaxPartitionsPerTopic)
		case rf <= 0:
			return nil, ct, controllerErr(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
		}
		var err error
		if assignment, err = c.place(img, 0, int(n), int(rf)); err != nil {
			return nil, ct, err
		}
	}
	id := c.newTopicID(img)
	records := []Record{&TopicRecord{Name: req.Name, ID: id, Configs: maps.Clone(req.Configs)}}
	for p, replicas := range assignment {
		records = append(records, c.newPartition(id, int32(p), replicas))
	}
	ct = CreatedTopic{ID: id, NumPartitions: int32(len(assignment)), ReplicationFactor: int16(len(assignment[0]))}
	return records, ct, nil
}

// CreatePartitions returns the records that raise topic name's partition
// count to total (CreatePartitions, API 37), the new partitions placed as
// CreateTopics places them unless assignment gives their replicas.
func (c *Controller) CreatePartitions(now time.Time, name string, total int32, assignment [][]int32) ([]Record, error) {
	t, ok := c.img.Topic(name)
	if !ok {
		return nil, controllerErr(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
	}
	have := int32(len(t.Partitions))
	switch {
	case total < have:
		return nil, controllerErr(kerr.InvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", have, total)
	case total == have:
		return nil, controllerErr(kerr.InvalidPartitions, "Topic already has %d partitions.", have)
	case total > MaxPartitionsPerTopic:
		return nil, controllerErr(kerr.InvalidPartitions, "Number of partitions %d is above the limit of %d.", total, MaxPartitionsPerTopic)
	}
	if have == 0 {
		return nil, controllerErr(kerr.InvalidPartitions, "Topic '%s' has no partitions to copy the replication factor of.", name)
	}
	rf := len(t.Partitions[0].Replicas)
	if rf == 0 {
		return nil, controllerErr(kerr.InvalidReplicationFactor, "Partition 0 of '%s' has no replicas.", name)
	}
	add := int(total - have)
	if assignment != nil {
		if len(assignment) != add {
			return nil, controllerErr(kerr.InvalidReplicaAssignment, "Increasing the number of partitions by %d but %d assignments provided.", add, len(assignment))
		}
		if err := c.checkAssignment(c.img, assignment, rf); err != nil {
			return nil, err
		}
	} else {
		var err error
		if assignment, err = c.place(c.img, int(have), add, rf); err != nil {
			return nil, err
		}
	}
	records := make([]Record, 0, add)
	for i, replicas := range assignment {
		records = append(records, c.newPartition(t.ID, have+int32(i), replicas))
	}
	return records, nil
}

// newPartition is the record of a new partition: its ISR is its eligible
// replicas, led by the first (assignments are checked to have one).
func (c *Controller) newPartition(id TopicID, p int32, replicas []int32) *PartitionRecord {
	isr := slices.DeleteFunc(slices.Clone(replicas), func(id int32) bool { return !c.eligible(id) })
	return &PartitionRecord{TopicID: id, Partition: p, Replicas: slices.Clone(replicas), ISR: isr, Leader: isr[0]}
}

// place places count partitions from first over the eligible brokers.
func (c *Controller) place(img *Image, first, count, rf int) ([][]int32, error) {
	var brokers []PlacementBroker
	for _, b := range img.Brokers() {
		if c.eligible(b.NodeID) {
			brokers = append(brokers, PlacementBroker{NodeID: b.NodeID, Rack: b.Rack})
		}
	}
	if rf > len(brokers) {
		return nil, controllerErr(kerr.InvalidReplicationFactor,
			"Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered and unfenced.",
			rf, rf, len(brokers))
	}
	pl := Placement{Start: c.rng.IntN(len(brokers)), Shift: c.rng.IntN(len(brokers))}
	assignment, err := pl.Place(brokers, first, count, rf)
	if err != nil {
		panic(fmt.Sprintf("metadata: placement of checked arguments failed: %v", err))
	}
	return assignment, nil
}

// checkAssignment checks explicit replicas: each partition rf distinct
// registered brokers, at least one of them eligible to lead.
func (c *Controller) checkAssignment(img *Image, assignment [][]int32, rf int) error {
	for p, replicas := range assignment {
		if len(replicas) == 0 || len(replicas) != rf {
			return controllerErr(kerr.InvalidReplicaAssignment,
				"All partitions should have the same number of replicas (partition %d has %d, want %d).", p, len(replicas), rf)
		}
		if hasDuplicate(replicas) {
			return controllerErr(kerr.InvalidReplicaAssignment, "Duplicate broker in the replica assignment of partition %d: %v.", p, replicas)
		}
		for _, id := range replicas {
			if _, ok := img.Broker(id); !ok {
				return controllerErr(kerr.InvalidReplicaAssignment, "Replica assignment of partition %d names broker %d, which is not registered.", p, id)
			}
		}
		if !slices.ContainsFunc(replicas, c.eligible) {
			return controllerErr(kerr.InvalidReplicaAssignment, "All brokers specified in the partition assignment for partition %d are fenced.", p)
		}
	}
	return nil
}

// newTopicID draws a version 4 UUID from the controller's source that is
// neither the zero id, Kafka's reserved metadata topic id, nor in use.
func (c *Controller) newTopicID(img *Image) TopicID {
	for {
		var id TopicID
		for i := 0; i < len(id); i += 8 {
			v := c.rng.Uint64()
			for j := range 8 {
				id[i+j] = byte(v >> (8 * j))
			}
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if _, used := img.TopicByID(id); !used && id != (TopicID{}) && id != (TopicID{15: 1}) {
			return id
		}
	}
}

// validateTopicName applies Kafka's rules for topic names.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return controllerErr(kerr.InvalidTopicException, "Topic name is illegal, it can't be empty")
	case name == "." || name == "..":
		return controllerErr(kerr.InvalidTopicException, "Topic name cannot be \".\" or \"..\"")
	case len(name) > maxTopicNameLength:
		return controllerErr(kerr.InvalidTopicException, "Topic name is illegal, it can't be longer than %d characters", maxTopicNameLength)
	case name == metadataTopic:
		return controllerErr(kerr.InvalidTopicException, "Topic name %s is reserved for the metadata log", name)
	}
	for _, ch := range []byte(name) {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return controllerErr(kerr.InvalidTopicException,
				"Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}

// collisionName maps '.' to '_': Kafka's metric names would clash for
// topics that differ only there, so it refuses the second one.
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }
