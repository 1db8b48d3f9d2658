package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/gregor-log/gregor/internal/binread"
)

// RecordType identifies a record's kind in its encoding. Values are
// persisted: never reuse or renumber them.
type RecordType uint8

const (
	TypeCluster     RecordType = 1
	TypeBroker      RecordType = 2
	TypeTopic       RecordType = 3
	TypePartition   RecordType = 4
	TypeConfig      RecordType = 5
	TypeRemoveTopic RecordType = 6
	// Types 7 to 11 (the controller's records) are in records_cluster.go.
)

// ErrCorrupt: bytes that do not decode as a record.
var ErrCorrupt = errors.New("metadata: corrupt record")

// Record is one entry of the metadata log.
type Record interface {
	Type() RecordType
	// appendBody appends the fields (not the type and version bytes).
	appendBody(dst []byte) []byte
}

// TopicID is a topic's UUID, as Kafka's topic ids (KIP-516).
type TopicID [16]byte

// ClusterRecord sets the cluster id; it is the first record of a new log.
type ClusterRecord struct {
	ClusterID string
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name string // listener name, PLAINTEXT
	Host string
	Port int32
}

// BrokerRecord registers a broker (or updates its registration).
//
// Version 0 holds NodeID, Rack and Endpoints: a broker registered that way
// is unfenced with broker epoch 0. Version 1, written by the controller's
// BrokerRegistration, adds the incarnation, the broker epoch and the fenced
// flag. A record whose added fields are all zero is written as version 0,
// so the bytes of such records are what they always were.
type BrokerRecord struct {
	NodeID    int32
	Rack      string // "" for none
	Endpoints []Endpoint

	// Incarnation is random per broker process start: a second process
	// registering the same NodeID while the first is alive is refused.
	Incarnation IncarnationID
	// BrokerEpoch orders registrations of one node: each is larger than
	// the last, and heartbeats and AlterPartition carry it so requests of
	// an earlier registration are refused (STALE_BROKER_EPOCH).
	BrokerEpoch int64
	// Fenced: the broker may not lead or join an ISR. A new registration
	// is fenced until its heartbeat shows it caught up with the log.
	Fenced bool
}

// TopicRecord creates a topic. Its partitions follow as PartitionRecords
// in the same batch.
type TopicRecord struct {
	Name    string
	ID      TopicID
	Configs map[string]string // topic overrides, Kafka names
}

// PartitionRecord creates or replaces one partition's assignment and
// leadership. PartitionEpoch increases with every change of the record.
//
// Version 1 adds AddingReplicas and RemovingReplicas (a reassignment in
// progress, as a snapshot restores it); a record without them is written
// as version 0.
type PartitionRecord struct {
	TopicID          TopicID
	Partition        int32
	Replicas         []int32
	ISR              []int32
	Leader           int32
	LeaderEpoch      int32
	PartitionEpoch   int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// ConfigResource is the kind of thing a ConfigRecord configures, with
// Kafka's resource type codes.
type ConfigResource int8

const (
	ConfigResourceTopic  ConfigResource = 2
	ConfigResourceBroker ConfigResource = 4
)

// ConfigRecord sets (Value != nil) or deletes (Value == nil) one config of
// a topic (ResourceName: the topic's name) or broker (the node id, or ""
// for the cluster-wide default).
type ConfigRecord struct {
	Resource     ConfigResource
	ResourceName string
	Name         string
	Value        *string
}

// RemoveTopicRecord deletes a topic, its partitions and its configs.
type RemoveTopicRecord struct {
	ID TopicID
}

func (*ClusterRecord) Type() RecordType     { return TypeCluster }
func (*BrokerRecord) Type() RecordType      { return TypeBroker }
func (*TopicRecord) Type() RecordType       { return TypeTopic }
func (*PartitionRecord) Type() RecordType   { return TypePartition }
func (*ConfigRecord) Type() RecordType      { return TypeConfig }
func (*RemoveTopicRecord) Type() RecordType { return TypeRemoveTopic }

// recordVersion is the encoding version of every record type but
// BrokerRecord's version 1 and the reassignment versions of the partition
// records (see versionOf); a field added later bumps it for that type.
const recordVersion = 0

// AppendRecord appends r's encoding: type, version, fields.
func AppendRecord(dst []byte, r Record) []byte {
	dst = append(dst, byte(r.Type()), versionOf(r))
	return r.appendBody(dst)
}

func (r *ClusterRecord) appendBody(dst []byte) []byte { return appendString(dst, r.ClusterID) }

func (r *BrokerRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.NodeID))
	dst = appendString(dst, r.Rack)
	dst = binary.AppendUvarint(dst, uint64(len(r.Endpoints)))
	for _, e := range r.Endpoints {
		dst = appendString(dst, e.Name)
		dst = appendString(dst, e.Host)
		dst = binary.AppendVarint(dst, int64(e.Port))
	}
	if versionOf(r) == brokerRecordV1 {
		dst = appendBrokerRecordV1(dst, r)
	}
	return dst
}

func (r *TopicRecord) appendBody(dst []byte) []byte {
	dst = appendString(dst, r.Name)
	dst = append(dst, r.ID[:]...)
	keys := make([]string, 0, len(r.Configs))
	for k := range r.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic bytes
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendString(dst, k)
		dst = appendString(dst, r.Configs[k])
	}
	return dst
}

func (r *PartitionRecord) appendBody(dst []byte) []byte {
	dst = append(dst, r.TopicID[:]...)
	dst = binary.AppendVarint(dst, int64(r.Partition))
	dst = appendInt32s(dst, r.Replicas)
	dst = appendInt32s(dst, r.ISR)
	dst = binary.AppendVarint(dst, int64(r.Leader))
	dst = binary.AppendVarint(dst, int64(r.LeaderEpoch))
	dst = binary.AppendVarint(dst, int64(r.PartitionEpoch))
	if versionOf(r) == reassignmentV1 {
		dst = appendReassignment(dst, r.AddingReplicas, r.RemovingReplicas)
	}
	return dst
}

func (r *ConfigRecord) appendBody(dst []byte) []byte {
	dst = append(dst, byte(r.Resource))
	dst = appendString(dst, r.ResourceName)
	dst = appendString(dst, r.Name)
	if r.Value == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	return appendString(dst, *r.Value)
}

func (r *RemoveTopicRecord) appendBody(dst []byte) []byte { return append(dst, r.ID[:]...) }

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendInt32s(dst []byte, vs []int32) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	for _, v := range vs {
		dst = binary.AppendVarint(dst, int64(v))
	}
	return dst
}

// DecodeRecord decodes one record's bytes (as written by AppendRecord),
// which must be consumed exactly.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	typ, version := RecordType(b[0]), b[1]
	if !knownVersion(typ, version) {
		return nil, fmt.Errorf("%w: type %d version %d", ErrCorrupt, typ, version)
	}
	d := &decoder{binread.New(b[2:])}
	var r Record
	switch typ {
	case TypeCluster:
		r = &ClusterRecord{ClusterID: d.Text()}
	case TypeBroker:
		br := &BrokerRecord{NodeID: d.Varint32(), Rack: d.Text()}
		n := d.Count(3)
		for range n {
			br.Endpoints = append(br.Endpoints, Endpoint{Name: d.Text(), Host: d.Text(), Port: d.Varint32()})
		}
		if version == brokerRecordV1 {
			decodeBrokerRecordV1(d, br)
		}
		r = br
	case TypeTopic:
		t := &TopicRecord{Name: d.Text(), ID: d.id()}
		n := d.Count(2)
		if n > 0 {
			t.Configs = make(map[string]string, n)
		}
		for range n {
			k := d.Text()
			t.Configs[k] = d.Text()
		}
		r = t
	case TypePartition:
		pr := &PartitionRecord{TopicID: d.id(), Partition: d.Varint32(), Replicas: d.int32s(), ISR: d.int32s(),
			Leader: d.Varint32(), LeaderEpoch: d.Varint32(), PartitionEpoch: d.Varint32()}
		if version == reassignmentV1 {
			pr.AddingReplicas, pr.RemovingReplicas = d.int32s(), d.int32s()
		}
		r = pr
	case TypeConfig:
		c := &ConfigRecord{Resource: ConfigResource(d.Byte()), ResourceName: d.Text(), Name: d.Text()}
		switch d.Byte() {
		case 0:
		case 1:
			v := d.Text()
			c.Value = &v
		default:
			d.Fail()
		}
		r = c
	case TypeRemoveTopic:
		r = &RemoveTopicRecord{ID: d.id()}
	case TypeFenceBroker, TypeUnfenceBroker, TypePartitionChange, TypeProducerIDs, TypeUnregisterBroker:
		r = decodeClusterRecord(d, typ, version)
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrCorrupt, typ)
	}
	if d.Bad() || d.Len() != 0 {
		return nil, fmt.Errorf("%w: type %d", ErrCorrupt, typ)
	}
	return r, nil
}

// decoder reads a record's fields (binread.Reader) and the types only
// metadata records have.
type decoder struct{ binread.Reader }

func (d *decoder) id() (id TopicID) {
	copy(id[:], d.Fixed(len(id)))
	return id
}

func (d *decoder) int32s() []int32 {
	n := d.Count(1)
	if n == 0 {
		return nil
	}
	vs := make([]int32, n)
	for i := range vs {
		vs[i] = d.Varint32()
	}
	return vs
}
