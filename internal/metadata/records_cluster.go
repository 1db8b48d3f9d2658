package metadata

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// The records the controller writes (docs/design/replication.md): broker
// liveness, leader and ISR changes, producer id blocks. Their Apply checks
// the partition invariants of the design, so a controller bug is refused
// before it reaches the log:
//
//  1. LeaderEpoch increases by one on every leader change and never
//     otherwise; PartitionEpoch increases by one on every change.
//  2. The leader (or -1, no leader) is a member of the ISR, the ISR is a
//     non-empty subset of the replicas, and neither holds a node twice.

const (
	TypeFenceBroker      RecordType = 7
	TypeUnfenceBroker    RecordType = 8
	TypePartitionChange  RecordType = 9
	TypeProducerIDs      RecordType = 10
	TypeUnregisterBroker RecordType = 11
)

// brokerRecordV1 is the BrokerRecord version with Incarnation, BrokerEpoch
// and Fenced.
const brokerRecordV1 = 1

// reassignmentV1 is the PartitionRecord and PartitionChangeRecord version
// with AddingReplicas and RemovingReplicas (a reassignment in progress).
const reassignmentV1 = 1

// NoLeader is the Leader of a partition none of whose ISR is alive.
const NoLeader int32 = -1

// IncarnationID is a random UUID a broker process picks when it starts.
type IncarnationID [16]byte

// FenceBrokerRecord fences a broker: it may no longer lead or be added to
// an ISR. BrokerEpoch must be the broker's current one.
type FenceBrokerRecord struct {
	NodeID      int32
	BrokerEpoch int64
}

// UnfenceBrokerRecord lifts the fence of a broker that heartbeats and has
// caught up with the metadata log.
type UnfenceBrokerRecord struct {
	NodeID      int32
	BrokerEpoch int64
}

// PartitionChangeRecord changes a partition's leader, ISR and, when
// Replicas is not nil, its replicas. It carries the resulting epochs, which
// Apply checks against the partition's current ones (see the invariants
// above).
//
// AddingReplicas and RemovingReplicas (a reassignment in progress) go with
// Replicas: when Replicas is not nil they replace the partition's (empty:
// no reassignment), when it is nil they must be empty and the partition's
// stay. A record with either set is written as version 1, any other as
// version 0, so records of a log written before reassignments decode as
// they always did: a replica change without a reassignment.
type PartitionChangeRecord struct {
	TopicID          TopicID
	Partition        int32
	Leader           int32 // NoLeader for none
	ISR              []int32
	Replicas         []int32 // nil: unchanged
	LeaderEpoch      int32
	PartitionEpoch   int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// ProducerIDsRecord hands the block of producer ids below NextBlockStart
// (from the previous NextBlockStart) to broker NodeID.
type ProducerIDsRecord struct {
	NodeID         int32
	BrokerEpoch    int64
	NextBlockStart int64
}

// UnregisterBrokerRecord removes a broker's registration (UnregisterBroker,
// API 64): it leaves Metadata, placement and the controller's liveness.
// The broker must be fenced, so it leads nothing and is in no ISR; the
// controller fences it in the same batch when it is not. Partitions keep
// naming it as a replica until they are reassigned. A broker that is still
// running registers again at its next heartbeat, as in Kafka.
type UnregisterBrokerRecord struct {
	NodeID      int32
	BrokerEpoch int64
}

func (*UnregisterBrokerRecord) Type() RecordType { return TypeUnregisterBroker }
func (*FenceBrokerRecord) Type() RecordType      { return TypeFenceBroker }
func (*UnfenceBrokerRecord) Type() RecordType    { return TypeUnfenceBroker }
func (*PartitionChangeRecord) Type() RecordType  { return TypePartitionChange }
func (*ProducerIDsRecord) Type() RecordType      { return TypeProducerIDs }

// versionOf is the encoding version of r: the oldest that holds its
// fields, so records that do not use a later field keep their bytes.
func versionOf(r Record) byte {
	switch r := r.(type) {
	case *BrokerRecord:
		if r.Incarnation != (IncarnationID{}) || r.BrokerEpoch != 0 || r.Fenced {
			return brokerRecordV1
		}
	case *PartitionRecord:
		if len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0 {
			return reassignmentV1
		}
	case *PartitionChangeRecord:
		if len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0 {
			return reassignmentV1
		}
	}
	return recordVersion
}

// knownVersion reports whether version is an encoding of typ this code
// reads.
func knownVersion(typ RecordType, version byte) bool {
	switch {
	case version == recordVersion:
		return true
	case typ == TypeBroker:
		return version == brokerRecordV1
	case typ == TypePartition || typ == TypePartitionChange:
		return version == reassignmentV1
	}
	return false
}

// appendReassignment appends the fields version 1 of the partition
// records adds.
func appendReassignment(dst []byte, adding, removing []int32) []byte {
	dst = appendInt32s(dst, adding)
	return appendInt32s(dst, removing)
}

func appendBrokerRecordV1(dst []byte, r *BrokerRecord) []byte {
	dst = append(dst, r.Incarnation[:]...)
	dst = binary.AppendVarint(dst, r.BrokerEpoch)
	return appendBool(dst, r.Fenced)
}

func decodeBrokerRecordV1(d *decoder, r *BrokerRecord) {
	r.Incarnation = IncarnationID(d.id())
	r.BrokerEpoch = d.Varint()
	r.Fenced = d.Bool()
}

func (r *FenceBrokerRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.NodeID))
	return binary.AppendVarint(dst, r.BrokerEpoch)
}

func (r *UnfenceBrokerRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.NodeID))
	return binary.AppendVarint(dst, r.BrokerEpoch)
}

func (r *UnregisterBrokerRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.NodeID))
	return binary.AppendVarint(dst, r.BrokerEpoch)
}

func (r *PartitionChangeRecord) appendBody(dst []byte) []byte {
	dst = append(dst, r.TopicID[:]...)
	dst = binary.AppendVarint(dst, int64(r.Partition))
	dst = binary.AppendVarint(dst, int64(r.Leader))
	dst = appendInt32s(dst, r.ISR)
	dst = appendBool(dst, r.Replicas != nil)
	if r.Replicas != nil {
		dst = appendInt32s(dst, r.Replicas)
	}
	dst = binary.AppendVarint(dst, int64(r.LeaderEpoch))
	dst = binary.AppendVarint(dst, int64(r.PartitionEpoch))
	if versionOf(r) == reassignmentV1 {
		dst = appendReassignment(dst, r.AddingReplicas, r.RemovingReplicas)
	}
	return dst
}

func (r *ProducerIDsRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.NodeID))
	dst = binary.AppendVarint(dst, r.BrokerEpoch)
	return binary.AppendVarint(dst, r.NextBlockStart)
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// decodeClusterRecord decodes the body of a record of types 7 to 11 at a
// version knownVersion accepts; the caller checks d for failure and
// trailing bytes.
func decodeClusterRecord(d *decoder, typ RecordType, version byte) Record {
	switch typ {
	case TypeFenceBroker:
		return &FenceBrokerRecord{NodeID: d.Varint32(), BrokerEpoch: d.Varint()}
	case TypeUnfenceBroker:
		return &UnfenceBrokerRecord{NodeID: d.Varint32(), BrokerEpoch: d.Varint()}
	case TypeUnregisterBroker:
		return &UnregisterBrokerRecord{NodeID: d.Varint32(), BrokerEpoch: d.Varint()}
	case TypePartitionChange:
		r := &PartitionChangeRecord{TopicID: d.id(), Partition: d.Varint32(), Leader: d.Varint32(), ISR: d.int32s()}
		if d.Bool() {
			r.Replicas = d.int32s()
			if r.Replicas == nil {
				r.Replicas = []int32{} // present but empty: Apply refuses it
			}
		}
		r.LeaderEpoch, r.PartitionEpoch = d.Varint32(), d.Varint32()
		if version == reassignmentV1 {
			r.AddingReplicas, r.RemovingReplicas = d.int32s(), d.int32s()
		}
		return r
	case TypeProducerIDs:
		return &ProducerIDsRecord{NodeID: d.Varint32(), BrokerEpoch: d.Varint(), NextBlockStart: d.Varint()}
	}
	panic(fmt.Sprintf("metadata: decodeClusterRecord of type %d", typ))
}

// applyClusterRecord applies a record of types 7 to 11 to img, which
// Apply has already copied.
func (img *Image) applyClusterRecord(r Record) error {
	switch r := r.(type) {
	case *FenceBrokerRecord:
		return img.setFenced(r.NodeID, r.BrokerEpoch, true)
	case *UnfenceBrokerRecord:
		return img.setFenced(r.NodeID, r.BrokerEpoch, false)
	case *UnregisterBrokerRecord:
		old, ok := img.brokers[r.NodeID]
		switch {
		case !ok:
			return fmt.Errorf("%w: unregistering unknown broker %d", ErrInvalidRecord, r.NodeID)
		case old.BrokerEpoch != r.BrokerEpoch:
			return fmt.Errorf("%w: unregistering broker %d epoch %d, registered with %d", ErrInvalidRecord, r.NodeID, r.BrokerEpoch, old.BrokerEpoch)
		case !old.Fenced:
			return fmt.Errorf("%w: unregistering broker %d, which is not fenced", ErrInvalidRecord, r.NodeID)
		}
		delete(img.brokers, r.NodeID)
		return nil
	case *PartitionChangeRecord:
		return img.applyPartitionChange(r)
	case *ProducerIDsRecord:
		if r.NextBlockStart <= img.nextProducerID {
			return fmt.Errorf("%w: producer ids from %d, below the next free %d", ErrInvalidRecord, r.NextBlockStart, img.nextProducerID)
		}
		img.nextProducerID = r.NextBlockStart
		return nil
	}
	panic(fmt.Sprintf("metadata: applyClusterRecord of %T", r))
}

func (img *Image) setFenced(node int32, epoch int64, fenced bool) error {
	old, ok := img.brokers[node]
	switch {
	case !ok:
		return fmt.Errorf("%w: fencing unknown broker %d", ErrInvalidRecord, node)
	case old.BrokerEpoch != epoch:
		return fmt.Errorf("%w: fencing broker %d epoch %d, registered with %d", ErrInvalidRecord, node, epoch, old.BrokerEpoch)
	case old.Fenced == fenced:
		return fmt.Errorf("%w: broker %d already has fenced=%v", ErrInvalidRecord, node, fenced)
	}
	b := *old
	b.Fenced = fenced
	img.brokers[node] = &b
	return nil
}

func (img *Image) applyPartitionChange(r *PartitionChangeRecord) error {
	name, ok := img.topicIDs[r.TopicID]
	if !ok {
		return fmt.Errorf("%w: change of partition %d of an unknown topic", ErrInvalidRecord, r.Partition)
	}
	old := img.topics[name]
	if r.Partition < 0 || int(r.Partition) >= len(old.Partitions) {
		return fmt.Errorf("%w: change of partition %d of %q (has %d)", ErrInvalidRecord, r.Partition, name, len(old.Partitions))
	}
	p := old.Partitions[r.Partition]
	next := Partition{Partition: r.Partition, Replicas: p.Replicas, ISR: slices.Clone(r.ISR),
		Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
		AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas}
	switch {
	case r.Replicas != nil:
		next.Replicas = slices.Clone(r.Replicas)
		next.AddingReplicas, next.RemovingReplicas = slices.Clone(r.AddingReplicas), slices.Clone(r.RemovingReplicas)
	case len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0:
		return fmt.Errorf("%w: %s-%d: adding or removing replicas without replicas", ErrInvalidRecord, name, r.Partition)
	}
	if err := checkPartition(next); err != nil {
		return fmt.Errorf("%w: %s-%d: %v", ErrInvalidRecord, name, r.Partition, err)
	}
	wantLeaderEpoch := p.LeaderEpoch
	if next.Leader != p.Leader {
		wantLeaderEpoch++
	}
	switch {
	case p.PartitionEpoch == math.MaxInt32 || next.PartitionEpoch != p.PartitionEpoch+1:
		return fmt.Errorf("%w: %s-%d: partition epoch %d after %d", ErrInvalidRecord, name, r.Partition, next.PartitionEpoch, p.PartitionEpoch)
	case next.LeaderEpoch != wantLeaderEpoch || next.LeaderEpoch < p.LeaderEpoch:
		return fmt.Errorf("%w: %s-%d: leader epoch %d after %d, leader %d after %d", ErrInvalidRecord, name, r.Partition,
			next.LeaderEpoch, p.LeaderEpoch, next.Leader, p.Leader)
	case next.Leader == p.Leader && slices.Equal(next.ISR, p.ISR) && slices.Equal(next.Replicas, p.Replicas) &&
		slices.Equal(next.AddingReplicas, p.AddingReplicas) && slices.Equal(next.RemovingReplicas, p.RemovingReplicas):
		return fmt.Errorf("%w: %s-%d: change changes nothing", ErrInvalidRecord, name, r.Partition)
	}
	t := *old
	t.Partitions = slices.Clone(old.Partitions)
	t.Partitions[r.Partition] = next
	img.topics[name] = &t
	return nil
}

// checkPartition checks invariant 2: replicas and ISR are non-empty sets,
// ISR ⊆ replicas, and the leader is NoLeader or a member of the ISR.
func checkPartition(p Partition) error {
	if len(p.Replicas) == 0 || len(p.ISR) == 0 {
		return fmt.Errorf("empty replicas %v or ISR %v", p.Replicas, p.ISR)
	}
	if hasDuplicate(p.Replicas) || hasDuplicate(p.ISR) {
		return fmt.Errorf("duplicate node in replicas %v or ISR %v", p.Replicas, p.ISR)
	}
	if !subset(p.ISR, p.Replicas) {
		return fmt.Errorf("ISR %v is not a subset of the replicas %v", p.ISR, p.Replicas)
	}
	if p.Leader != NoLeader && !slices.Contains(p.ISR, p.Leader) {
		return fmt.Errorf("leader %d not in ISR %v", p.Leader, p.ISR)
	}
	return checkReassignment(p)
}

// checkReassignment checks a reassignment in progress: adding and
// removing replicas are distinct replicas, and no replica is both.
func checkReassignment(p Partition) error {
	a, r := p.AddingReplicas, p.RemovingReplicas
	switch {
	case len(a) == 0 && len(r) == 0:
		return nil
	case hasDuplicate(a) || hasDuplicate(r) || !subset(a, p.Replicas) || !subset(r, p.Replicas):
		return fmt.Errorf("adding %v and removing %v must be distinct replicas of %v", a, r, p.Replicas)
	case hasDuplicate(slices.Concat(a, r)):
		return fmt.Errorf("replicas both adding %v and removing %v", a, r)
	}
	return nil
}

// subset reports whether every element of sub is in set.
func subset(sub, set []int32) bool {
	if len(set) > 32 { // lists from disk may be long: stay linear
		in := make(map[int32]struct{}, len(set))
		for _, id := range set {
			in[id] = struct{}{}
		}
		for _, id := range sub {
			if _, ok := in[id]; !ok {
				return false
			}
		}
		return true
	}
	for _, id := range sub {
		if !slices.Contains(set, id) {
			return false
		}
	}
	return true
}

func hasDuplicate(ids []int32) bool {
	if len(ids) > 32 { // lists from disk may be long: stay linear
		seen := make(map[int32]struct{}, len(ids))
		for _, id := range ids {
			if _, dup := seen[id]; dup {
				return true
			}
			seen[id] = struct{}{}
		}
		return false
	}
	for i, id := range ids {
		if slices.Contains(ids[i+1:], id) {
			return true
		}
	}
	return false
}

// NextProducerID is the first producer id not yet handed to a broker.
func (img *Image) NextProducerID() int64 { return img.nextProducerID }

// Record returns the BrokerRecord that registers b as it is in the image
// (its current fenced state included), for a snapshot of the image.
func (b *Broker) Record() *BrokerRecord {
	return &BrokerRecord{NodeID: b.NodeID, Rack: b.Rack, Endpoints: slices.Clone(b.Endpoints),
		Incarnation: b.Incarnation, BrokerEpoch: b.BrokerEpoch, Fenced: b.Fenced}
}

// ProducerIDsSnapshotRecord returns the record that restores
// NextProducerID in a snapshot of the image, or nil when no producer id was
// ever allocated.
func (img *Image) ProducerIDsSnapshotRecord() Record {
	if img.nextProducerID == 0 {
		return nil
	}
	return &ProducerIDsRecord{NodeID: -1, NextBlockStart: img.nextProducerID}
}
