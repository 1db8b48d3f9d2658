package broker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Control-plane operations on topics, shared by the API handlers
// (CreateTopics, Metadata's auto-creation, DeleteTopics, CreatePartitions,
// the config APIs). Each validates against the current image, appends one
// batch of metadata records, and reconciles the open partitions with the
// new image. Failures are Kafka errors with a message, as the APIs answer
// them.

// apiError is a Kafka error code with the message that goes with it.
type apiError struct {
	err *kerr.Error
	msg string
}

func errorf(err *kerr.Error, format string, args ...any) *apiError {
	return &apiError{err: err, msg: fmt.Sprintf(format, args...)}
}

func (e *apiError) code() int16 {
	if e == nil {
		return 0
	}
	return e.err.Code
}

// message is the error message for responses (nil when there is no error).
func (e *apiError) message() *string {
	if e == nil {
		return nil
	}
	return &e.msg
}

const (
	maxTopicNameLength = 249
	// maxPartitionsPerTopic bounds what one request can make this broker
	// open; far above any real topic.
	maxPartitionsPerTopic = 100_000
	// reservedTopic is the name of the metadata log's directory prefix.
	reservedTopic = "__cluster_metadata"
	// Internal topics, reported as such in Metadata.
	consumerOffsetsTopic  = "__consumer_offsets"
	transactionStateTopic = "__transaction_state"
)

// validateTopicName applies Kafka's rules for topic names.
func validateTopicName(name string) *apiError {
	switch {
	case name == "":
		return errorf(kerr.InvalidTopicException, "Topic name is illegal, it can't be empty")
	case name == "." || name == "..":
		return errorf(kerr.InvalidTopicException, "Topic name cannot be \".\" or \"..\"")
	case len(name) > maxTopicNameLength:
		return errorf(kerr.InvalidTopicException, "Topic name is illegal, it can't be longer than %d characters, topic name: %s", maxTopicNameLength, name)
	case name == reservedTopic:
		return errorf(kerr.InvalidTopicException, "Topic name %s is reserved for the metadata log", name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errorf(kerr.InvalidTopicException, "Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}

// collisionName maps '.' to '_': Kafka's metric names would clash for
// topics that differ only there, so it refuses the second one.
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

func isInternalTopic(name string) bool {
	return name == consumerOffsetsTopic || name == transactionStateTopic
}

// topicSpec is one topic to create.
type topicSpec struct {
	name              string
	numPartitions     int32     // -1: num.partitions
	replicationFactor int16     // -1: default.replication.factor
	assignment        [][]int32 // explicit replicas per partition, or nil
	configs           map[string]*string
}

// createdTopic is what CreateTopics v5+ reports back.
type createdTopic struct {
	id                metadata.TopicID
	numPartitions     int32
	replicationFactor int16
	configs           map[string]string
}

// createTopics validates specs against img and, unless validateOnly,
// creates the valid ones in one metadata batch. Results are by index.
func (b *Broker) createTopics(specs []topicSpec, validateOnly bool) ([]createdTopic, []*apiError) {
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	img := b.store.Image()
	created := make([]createdTopic, len(specs))
	errs := make([]*apiError, len(specs))
	var records []metadata.Record
	collisions := map[string]string{}
	for _, t := range img.Topics() {
		collisions[collisionName(t.Name)] = t.Name
	}
	for i, spec := range specs {
		recs, ct, err := b.planTopic(img, spec, collisions)
		if err != nil {
			errs[i] = err
			continue
		}
		created[i] = ct
		collisions[collisionName(spec.name)] = spec.name
		records = append(records, recs...)
	}
	if validateOnly || len(records) == 0 {
		return created, errs
	}
	if err := b.store.Append(records...); err != nil {
		b.log.Error("creating topics: metadata append failed", "err", err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = b.metadataAppendError(err)
			}
		}
		return created, errs
	}
	b.reconcile(b.store.Image())
	return created, errs
}

// planTopic checks one spec and returns the records that create it.
func (b *Broker) planTopic(img *metadata.Image, spec topicSpec, collisions map[string]string) ([]metadata.Record, createdTopic, *apiError) {
	var ct createdTopic
	if err := validateTopicName(spec.name); err != nil {
		return nil, ct, err
	}
	if _, exists := img.Topic(spec.name); exists {
		return nil, ct, errorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", spec.name)
	}
	if other, ok := collisions[collisionName(spec.name)]; ok {
		if other == spec.name {
			return nil, ct, errorf(kerr.TopicAlreadyExists, "Topic '%s' is given twice.", spec.name)
		}
		return nil, ct, errorf(kerr.InvalidTopicException, "Topic '%s' collides with existing topic: %s", spec.name, other)
	}
	live := b.placeableBrokers(img)
	if live == 0 {
		live = 1 // this broker, before it registered
	}
	var assignment [][]int32
	if spec.assignment != nil {
		if spec.numPartitions != -1 || spec.replicationFactor != -1 {
			return nil, ct, errorf(kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
		}
		if err := b.checkAssignment(img, spec.assignment); err != nil {
			return nil, ct, err
		}
		assignment = spec.assignment
	} else {
		n, rf := spec.numPartitions, spec.replicationFactor
		if n == -1 {
			n = b.cfg.NumPartitions
		}
		if rf == -1 {
			rf = b.cfg.DefaultReplicationFactor
		}
		if n <= 0 {
			return nil, ct, errorf(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
		}
		if n > maxPartitionsPerTopic {
			return nil, ct, errorf(kerr.InvalidPartitions, "Number of partitions %d is above this broker's limit of %d.", n, maxPartitionsPerTopic)
		}
		if rf <= 0 {
			return nil, ct, errorf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
		}
		if rf > live {
			return nil, ct, errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, live)
		}
		brokers := b.placementBrokers(img)
		var aerr *apiError
		if assignment, aerr = assignReplicas(brokers, randomPlacement(len(brokers)), 0, n, rf); aerr != nil {
			return nil, ct, aerr
		}
	}
	configs := map[string]string{}
	for name, v := range spec.configs {
		if v == nil {
			return nil, ct, errorf(kerr.InvalidConfig, "Null value not supported for topic configs: %s", name)
		}
		if err := config.ValidateTopicConfig(name, *v); err != nil {
			return nil, ct, errorf(kerr.InvalidConfig, "Invalid config value for topic %s: %v", spec.name, err)
		}
		configs[name] = config.NormalizeTopicConfig(name, *v)
	}
	if _, err := b.cfg.TopicSettings(configs); err != nil {
		return nil, ct, errorf(kerr.InvalidConfig, "%v", err)
	}

	id := metadata.NewTopicID()
	for _, exists := img.TopicByID(id); exists; _, exists = img.TopicByID(id) {
		id = metadata.NewTopicID()
	}
	records := []metadata.Record{&metadata.TopicRecord{Name: spec.name, ID: id, Configs: configs}}
	for p, replicas := range assignment {
		records = append(records, &metadata.PartitionRecord{
			TopicID: id, Partition: int32(p), Replicas: replicas, ISR: replicas, Leader: replicas[0],
		})
	}
	ct = createdTopic{id: id, numPartitions: int32(len(assignment)), replicationFactor: int16(len(assignment[0])), configs: configs}
	return records, ct, nil
}

// placementBrokers are the brokers new replicas may go to (placementIDs)
// with their racks (broker.rack, sent in each broker's registration); on a
// single node before it registered, this broker alone.
func (b *Broker) placementBrokers(img *metadata.Image) []metadata.PlacementBroker {
	ids := b.placementIDs(img)
	if len(ids) == 0 {
		return []metadata.PlacementBroker{{NodeID: b.nodeID(), Rack: b.cfg.BrokerRack}}
	}
	out := make([]metadata.PlacementBroker, 0, len(ids))
	for _, id := range ids {
		pb := metadata.PlacementBroker{NodeID: id}
		if br, ok := img.Broker(id); ok {
			pb.Rack = br.Rack
		}
		out = append(out, pb)
	}
	return out
}

// assignReplicas places partitions first..first+count-1 of a topic with
// replication factor rf over brokers with pl (Kafka's way: racks
// alternated, the first replica is the preferred leader, leaderships
// spread evenly). With one broker every partition is [that broker].
func assignReplicas(brokers []metadata.PlacementBroker, pl metadata.Placement, first, count int32, rf int16) ([][]int32, *apiError) {
	if int(rf) > len(brokers) {
		return nil, errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, len(brokers))
	}
	assignment, err := pl.Place(brokers, int(first), int(count), int(rf))
	if err != nil {
		// Unreachable with the checks above; answered, not panicked, as
		// the arguments come from a request.
		return nil, errorf(kerr.InvalidReplicaAssignment, "Placing the replicas failed: %v", err)
	}
	return assignment, nil
}

// randomPlacement is the placement of a new topic: Start and Shift drawn
// at random, so that topics do not all put partition 0's leader and its
// followers on the same brokers.
func randomPlacement(brokers int) metadata.Placement {
	n := max(brokers, 1)
	return metadata.Placement{Start: rand.IntN(n), Shift: rand.IntN(n)}
}

// continuedPlacement is the placement of partitions added to a topic whose
// partition 0 has preferredLeader first: Start is that broker's position
// in the placement order, so new partition p gets the leader it would
// have had if the topic had been created with p+1 partitions over today's
// brokers, and leaderships stay spread. This is Kafka's choice (it starts
// from partition 0's first replica too); like Kafka the follower shift is
// drawn anew, as the original one is not recorded. When preferredLeader
// can no longer take replicas (fenced, or gone) there is no pattern to
// continue and Start is random.
func continuedPlacement(brokers []metadata.PlacementBroker, preferredLeader int32) metadata.Placement {
	pl := randomPlacement(len(brokers))
	// With Start 0 and one replica, Place lists partition i on the i-th
	// broker of its order: that is the order itself.
	order, err := metadata.Placement{}.Place(brokers, 0, len(brokers), 1)
	if err != nil {
		return pl
	}
	for i, replicas := range order {
		if replicas[0] == preferredLeader {
			pl.Start = i
			break
		}
	}
	return pl
}

func (b *Broker) checkAssignment(img *metadata.Image, assignment [][]int32) *apiError {
	if len(assignment) == 0 || len(assignment) > maxPartitionsPerTopic {
		return errorf(kerr.InvalidPartitions, "Invalid number of partitions in the replica assignment: %d.", len(assignment))
	}
	rf := len(assignment[0])
	for p, replicas := range assignment {
		if replicas == nil {
			return errorf(kerr.InvalidReplicaAssignment, "Partitions must be numbered 0 to %d without gaps; partition %d is missing.", len(assignment)-1, p)
		}
		if len(replicas) == 0 || len(replicas) != rf {
			return errorf(kerr.InvalidReplicaAssignment, "All partitions should have the same number of replicas (partition %d has %d, want %d).", p, len(replicas), rf)
		}
		seen := map[int32]bool{}
		for _, id := range replicas {
			if _, ok := img.Broker(id); !ok && id != b.nodeID() {
				return errorf(kerr.InvalidReplicaAssignment, "Replica assignment of partition %d names broker %d, which is not registered.", p, id)
			}
			if seen[id] {
				return errorf(kerr.InvalidReplicaAssignment, "Duplicate broker %d in the replica assignment of partition %d.", id, p)
			}
			seen[id] = true
		}
	}
	return nil
}

// deleteTopic removes a topic (by name, or by id when name is "") and its
// data. It returns the topic's name and id for the response.
func (b *Broker) deleteTopic(name string, id metadata.TopicID) (string, metadata.TopicID, *apiError) {
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	img := b.store.Image()
	var t *metadata.Topic
	var ok bool
	if name != "" {
		t, ok = img.Topic(name)
		if !ok {
			return name, id, errorf(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
		}
	} else {
		t, ok = img.TopicByID(id)
		if !ok {
			return "", id, errorf(kerr.UnknownTopicID, "This server does not host this topic ID.")
		}
	}
	if !b.cfg.DeleteTopicEnable {
		return t.Name, t.ID, errorf(kerr.TopicDeletionDisabled, "Topic deletion is disabled (delete.topic.enable=false).")
	}
	if isInternalTopic(t.Name) {
		// Deleting __consumer_offsets would drop every group's committed
		// offsets under a running coordinator; Kafka's tools refuse it, and
		// Gregor refuses it for every client.
		return t.Name, t.ID, errorf(kerr.InvalidTopicException, "Internal topics cannot be deleted.")
	}
	if err := b.store.Append(&metadata.RemoveTopicRecord{ID: t.ID}); err != nil {
		return t.Name, t.ID, b.metadataAppendError(err)
	}
	b.reconcile(b.store.Image())
	return t.Name, t.ID, nil
}

// createPartitions raises a topic's partition count to total.
func (b *Broker) createPartitions(name string, total int32, assignment [][]int32, validateOnly bool) *apiError {
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	img := b.store.Image()
	t, ok := img.Topic(name)
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
	}
	have := int32(len(t.Partitions))
	switch {
	case total < have:
		return errorf(kerr.InvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", have, total)
	case total == have:
		return errorf(kerr.InvalidPartitions, "Topic already has %d partitions.", have)
	case total > maxPartitionsPerTopic:
		return errorf(kerr.InvalidPartitions, "Number of partitions %d is above this broker's limit of %d.", total, maxPartitionsPerTopic)
	}
	rf := int16(len(t.Partitions[0].Replicas))
	add := total - have
	if assignment != nil {
		if int32(len(assignment)) != add {
			return errorf(kerr.InvalidReplicaAssignment, "Increasing the number of partitions by %d but %d assignments provided.", add, len(assignment))
		}
		for _, a := range assignment {
			if len(a) != int(rf) {
				return errorf(kerr.InvalidReplicaAssignment, "Inconsistent replication factor between partitions, partition 0 has %d while new partitions have %d.", rf, len(a))
			}
		}
		if err := b.checkAssignment(img, assignment); err != nil {
			return err
		}
	} else {
		brokers := b.placementBrokers(img)
		var aerr *apiError
		preferred := int32(-1)
		if replicas := t.Partitions[0].Replicas; len(replicas) > 0 {
			preferred = replicas[0]
		}
		pl := continuedPlacement(brokers, preferred)
		if assignment, aerr = assignReplicas(brokers, pl, have, add, rf); aerr != nil {
			return aerr
		}
	}
	if validateOnly {
		return nil
	}
	records := make([]metadata.Record, 0, add)
	for i, replicas := range assignment {
		records = append(records, &metadata.PartitionRecord{
			TopicID: t.ID, Partition: have + int32(i), Replicas: replicas, ISR: replicas, Leader: replicas[0],
		})
	}
	if err := b.store.Append(records...); err != nil {
		return b.metadataAppendError(err)
	}
	b.reconcile(b.store.Image())
	return nil
}

// setTopicConfigs makes the topic's overrides exactly want (after
// validation), appending one ConfigRecord per change.
func (b *Broker) setTopicConfigs(name string, want map[string]string, validateOnly bool) *apiError {
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	return b.setTopicConfigsLocked(name, func(map[string]string) (map[string]string, *apiError) { return want, nil }, validateOnly)
}

// setTopicConfigsLocked computes the new overrides from the current ones
// with change, validates them and records the difference.
func (b *Broker) setTopicConfigsLocked(name string, change func(cur map[string]string) (map[string]string, *apiError), validateOnly bool) *apiError {
	if err := validateTopicName(name); err != nil {
		return err
	}
	t, ok := b.store.Image().Topic(name)
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "Topic %s does not exist.", name)
	}
	want, aerr := change(maps.Clone(t.Configs))
	if aerr != nil {
		return aerr
	}
	for k, v := range want {
		if err := config.ValidateTopicConfig(k, v); err != nil {
			return errorf(kerr.InvalidConfig, "Invalid config value for topic %s: %v", name, err)
		}
		want[k] = config.NormalizeTopicConfig(k, v)
	}
	if _, err := b.cfg.TopicSettings(want); err != nil {
		return errorf(kerr.InvalidConfig, "%v", err)
	}
	var records []metadata.Record
	for k, v := range want {
		if cur, ok := t.Configs[k]; !ok || cur != v {
			records = append(records, &metadata.ConfigRecord{Resource: metadata.ConfigResourceTopic, ResourceName: name, Name: k, Value: &v})
		}
	}
	for k := range t.Configs {
		if _, ok := want[k]; !ok {
			records = append(records, &metadata.ConfigRecord{Resource: metadata.ConfigResourceTopic, ResourceName: name, Name: k})
		}
	}
	if validateOnly || len(records) == 0 {
		return nil
	}
	if err := b.store.Append(records...); err != nil {
		return b.metadataAppendError(err)
	}
	b.reconcile(b.store.Image())
	return nil
}
