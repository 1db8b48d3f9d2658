package group

// The records of __consumer_offsets, in Kafka's schemas (the
// group-coordinator module's OffsetCommitKey/Value and
// GroupMetadataKey/Value), so that Kafka's tools read Gregor's topic.
// Every key and value starts with an int16 schema version.
//
//	offset commit key, version 1 (0 is the same layout):
//	    group string | topic string | partition int32
//	offset commit value, version 3:
//	    offset int64 | leaderEpoch int32 | metadata string | commitTimestamp int64
//	offset commit value, version 1 (written when the client asked for a
//	retention time, OffsetCommit v1-v4):
//	    offset int64 | metadata string | commitTimestamp int64 | expireTimestamp int64
//	group metadata key, version 2:
//	    group string
//	group metadata value, version 3:
//	    protocolType string | generation int32 | protocol nullable string |
//	    leader nullable string | currentStateTimestamp int64 |
//	    members [memberId string | groupInstanceId nullable string |
//	             clientId string | clientHost string | rebalanceTimeout int32 |
//	             sessionTimeout int32 | subscription bytes | assignment bytes]
//
// Strings are an int16 length and UTF-8 bytes (-1: null); bytes an int32
// length; arrays an int32 count. Version 4 of both values is "flexible"
// (compact lengths as unsigned varints of length+1, tagged fields at the end
// of each structure); Gregor reads it but writes version 3. Keys of
// version 3 and up are the records of Kafka 4's new coordinator (KIP-848
// groups), which Gregor neither writes nor needs: replay skips them.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrBadRecord marks a __consumer_offsets record that does not decode.
var ErrBadRecord = errors.New("group: malformed __consumer_offsets record")

const (
	offsetKeyVersion          = 1
	groupKeyVersion           = 2
	offsetValueVersion        = 3
	offsetValueVersionTTL     = 1
	groupValueVersion         = 3
	maxKnownValueVersion      = 4
	firstFlexibleValueVersion = 4

	// maxStringLen is the longest string the schemas can hold. Requests in
	// flexible versions can carry longer ones: every string the coordinator
	// persists is checked against it on the way in.
	maxStringLen = math.MaxInt16
)

type encoder struct{ b []byte }

func (e *encoder) int16(v int16) { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)) }
func (e *encoder) int32(v int32) { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *encoder) int64(v int64) { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }

func (e *encoder) string(s string) {
	if len(s) > maxStringLen {
		panic("group: string longer than the schema allows") // inputs are checked against maxStringLen
	}
	e.int16(int16(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) nullableString(s *string) {
	if s == nil {
		e.int16(-1)
		return
	}
	e.string(*s)
}

func (e *encoder) bytes(b []byte) {
	e.int32(int32(len(b)))
	e.b = append(e.b, b...)
}

func encodeOffsetKey(group, topic string, partition int32) []byte {
	e := encoder{b: make([]byte, 0, 10+len(group)+len(topic))}
	e.int16(offsetKeyVersion)
	e.string(group)
	e.string(topic)
	e.int32(partition)
	return e.b
}

func encodeGroupKey(group string) []byte {
	e := encoder{b: make([]byte, 0, 4+len(group))}
	e.int16(groupKeyVersion)
	e.string(group)
	return e.b
}

func encodeOffsetValue(o *offset) []byte {
	e := encoder{b: make([]byte, 0, 32+len(o.metadata))}
	if o.expireMs >= 0 {
		e.int16(offsetValueVersionTTL)
		e.int64(o.offset)
		e.string(o.metadata)
		e.int64(o.commitMs)
		e.int64(o.expireMs)
		return e.b
	}
	e.int16(offsetValueVersion)
	e.int64(o.offset)
	e.int32(o.leaderEpoch)
	e.string(o.metadata)
	e.int64(o.commitMs)
	return e.b
}

func encodeGroupValue(g *group) []byte {
	cg := &g.classic
	e := encoder{b: make([]byte, 0, 64)}
	e.int16(groupValueVersion)
	e.string(cg.protocolType)
	e.int32(cg.generation)
	e.nullableString(nonEmpty(cg.protocol))
	e.nullableString(nonEmpty(cg.leader))
	e.int64(cg.stateTimeMs)
	ids := sortedKeys(cg.members)
	e.int32(int32(len(ids)))
	for _, id := range ids {
		m := cg.members[id]
		e.string(m.id)
		e.nullableString(m.instanceID)
		e.string(m.clientID)
		e.string(m.clientHost)
		e.int32(m.rebalanceTimeoutMs)
		e.int32(m.sessionTimeoutMs)
		e.bytes(m.metadataFor(cg.protocol))
		e.bytes(m.assignment)
	}
	return e.b
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// decoder reads the schemas above; the first error sticks and every later
// read returns zero values, so callers check once at the end.
type decoder struct {
	b        []byte
	flexible bool
	err      error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadRecord, what)
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) int16(what string) int16 {
	if b := d.take(2, what); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (d *decoder) int32(what string) int32 {
	if b := d.take(4, what); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (d *decoder) int64(what string) int64 {
	if b := d.take(8, what); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// length reads a length: int16 (strings) or int32 (bytes, arrays), or the
// compact uvarint of flexible versions; -1 means null.
func (d *decoder) length(wide bool, what string) int {
	if d.flexible {
		v := d.uvarint(what)
		if v > math.MaxInt32 {
			d.fail(what)
			return 0
		}
		return int(v) - 1
	}
	if wide {
		return int(d.int32(what))
	}
	return int(d.int16(what))
}

func (d *decoder) nullableString(what string) *string {
	n := d.length(false, what)
	if d.err != nil || n == -1 {
		return nil
	}
	s := string(d.take(n, what))
	return &s
}

func (d *decoder) string(what string) string {
	s := d.nullableString(what)
	if s == nil {
		if d.err == nil {
			d.fail(what + " is null")
		}
		return ""
	}
	return *s
}

func (d *decoder) bytes(what string) []byte {
	n := d.length(true, what)
	if d.err != nil || n == -1 {
		return nil
	}
	b := d.take(n, what)
	if b == nil {
		return nil
	}
	return append([]byte{}, b...) // the record buffer is not ours to keep
}

// arrayLen reads an array count; the count is checked against the bytes
// left (each element takes at least minSize bytes), so a corrupt count
// cannot make the caller allocate without bound.
func (d *decoder) arrayLen(minSize int, what string) int {
	n := d.length(true, what)
	if d.err != nil {
		return 0
	}
	if n < 0 || n*minSize > len(d.b) {
		d.fail(what)
		return 0
	}
	return n
}

// skipTags skips a flexible structure's tagged fields.
func (d *decoder) skipTags() {
	if !d.flexible {
		return
	}
	n := d.uvarint("tag count")
	for i := uint64(0); i < n && d.err == nil; i++ {
		d.uvarint("tag")
		size := d.uvarint("tag size")
		if size > uint64(len(d.b)) {
			d.fail("tag size")
			return
		}
		d.take(int(size), "tag")
	}
}

func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Sprintf("%d bytes after %s", len(d.b), what))
	}
	return d.err
}

// recordKey is a decoded __consumer_offsets key.
type recordKey struct {
	kind      keyKind
	group     string
	topic     string
	partition int32
}

type keyKind int8

const (
	keyOffset keyKind = iota
	keyGroup
	keyOther // a record of Kafka 4's new coordinator: not Gregor's to read
)

func decodeKey(b []byte) (recordKey, error) {
	d := decoder{b: b}
	version := d.int16("key version")
	var k recordKey
	switch {
	case d.err != nil:
	case version == 0 || version == 1:
		k.kind = keyOffset
		k.group = d.string("group")
		k.topic = d.string("topic")
		k.partition = d.int32("partition")
	case version == 2:
		k.kind = keyGroup
		k.group = d.string("group")
	case version > 2:
		return recordKey{kind: keyOther}, nil
	default:
		d.fail(fmt.Sprintf("key version %d", version))
	}
	return k, d.done("key")
}

func decodeOffsetValue(b []byte) (*offset, error) {
	d := decoder{b: b}
	version := d.int16("value version")
	if d.err == nil && (version < 0 || version > maxKnownValueVersion) {
		return nil, fmt.Errorf("%w: offset value version %d", ErrBadRecord, version)
	}
	d.flexible = version >= firstFlexibleValueVersion
	o := &offset{leaderEpoch: -1, expireMs: -1}
	o.offset = d.int64("offset")
	if version >= 3 {
		o.leaderEpoch = d.int32("leader epoch")
	}
	o.metadata = d.string("metadata")
	o.commitMs = d.int64("commit timestamp")
	if version == 1 {
		o.expireMs = d.int64("expire timestamp")
	}
	d.skipTags()
	if err := d.done("offset value"); err != nil {
		return nil, err
	}
	return o, nil
}

// groupValue is a decoded group metadata value.
type groupValue struct {
	protocolType string
	generation   int32
	protocol     string
	leader       string
	stateTimeMs  int64
	members      []memberValue
}

type memberValue struct {
	id, clientID, clientHost string
	instanceID               *string
	rebalanceTimeoutMs       int32
	sessionTimeoutMs         int32
	subscription, assignment []byte
}

func decodeGroupValue(b []byte) (*groupValue, error) {
	d := decoder{b: b}
	version := d.int16("value version")
	if d.err == nil && (version < 0 || version > maxKnownValueVersion) {
		return nil, fmt.Errorf("%w: group value version %d", ErrBadRecord, version)
	}
	d.flexible = version >= firstFlexibleValueVersion
	v := &groupValue{stateTimeMs: -1}
	v.protocolType = d.string("protocol type")
	v.generation = d.int32("generation")
	if p := d.nullableString("protocol"); p != nil {
		v.protocol = *p
	}
	if l := d.nullableString("leader"); l != nil {
		v.leader = *l
	}
	if version >= 2 {
		v.stateTimeMs = d.int64("current state timestamp")
	}
	// A member takes at least 8 bytes in any version (two int32s), which
	// bounds what a corrupt count can make us allocate.
	n := d.arrayLen(8, "members")
	for i := 0; i < n && d.err == nil; i++ {
		var m memberValue
		m.id = d.string("member id")
		if version >= 3 {
			m.instanceID = d.nullableString("group instance id")
		}
		m.clientID = d.string("client id")
		m.clientHost = d.string("client host")
		if version >= 1 {
			m.rebalanceTimeoutMs = d.int32("rebalance timeout")
		}
		m.sessionTimeoutMs = d.int32("session timeout")
		if version == 0 {
			m.rebalanceTimeoutMs = m.sessionTimeoutMs
		}
		m.subscription = d.bytes("subscription")
		m.assignment = d.bytes("assignment")
		d.skipTags()
		v.members = append(v.members, m)
	}
	d.skipTags()
	if err := d.done("group value"); err != nil {
		return nil, err
	}
	return v, nil
}
