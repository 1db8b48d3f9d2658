package metadata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// clusterSample is a log exercising the controller's records on top of the
// records of sample().
func clusterSample() [][]Record {
	inc := IncarnationID{0: 7, 15: 9}
	return [][]Record{
		{&ClusterRecord{ClusterID: "c1"}},
		{&BrokerRecord{NodeID: 1, Rack: "r1", Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h1", Port: 1}},
			Incarnation: inc, BrokerEpoch: 2, Fenced: true}},
		{&BrokerRecord{NodeID: 2, Rack: "r2", Incarnation: inc, BrokerEpoch: 3, Fenced: true}},
		{&UnfenceBrokerRecord{NodeID: 1, BrokerEpoch: 2}, &UnfenceBrokerRecord{NodeID: 2, BrokerEpoch: 3}},
		{
			&TopicRecord{Name: "a", ID: idA},
			&PartitionRecord{TopicID: idA, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		},
		{&PartitionChangeRecord{TopicID: idA, Partition: 0, Leader: 2, ISR: []int32{2}, LeaderEpoch: 1, PartitionEpoch: 1}},
		{&FenceBrokerRecord{NodeID: 2, BrokerEpoch: 3},
			&PartitionChangeRecord{TopicID: idA, Partition: 0, Leader: NoLeader, ISR: []int32{2}, LeaderEpoch: 2, PartitionEpoch: 2}},
		{&PartitionChangeRecord{TopicID: idA, Partition: 0, Leader: 1, ISR: []int32{1}, Replicas: []int32{1, 3},
			LeaderEpoch: 3, PartitionEpoch: 3}},
		{&ProducerIDsRecord{NodeID: 1, BrokerEpoch: 2, NextBlockStart: 1000}},
		{&BrokerRecord{NodeID: 4, Incarnation: inc, BrokerEpoch: 5, Fenced: true}},
		{&UnregisterBrokerRecord{NodeID: 4, BrokerEpoch: 5}},
	}
}

func TestClusterRecordsApply(t *testing.T) {
	img := applyAll(t, clusterSample())
	b1, _ := img.Broker(1)
	b2, _ := img.Broker(2)
	if b1.Fenced || b1.BrokerEpoch != 2 || b1.Incarnation[0] != 7 || !b2.Fenced || b2.BrokerEpoch != 3 {
		t.Fatalf("brokers %+v %+v", b1, b2)
	}
	a, _ := img.Topic("a")
	want := Partition{Partition: 0, Replicas: []int32{1, 3}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3}
	if !reflect.DeepEqual(a.Partitions[0], want) {
		t.Fatalf("partition %+v, want %+v", a.Partitions[0], want)
	}
	if img.NextProducerID() != 1000 {
		t.Fatalf("next producer id %d", img.NextProducerID())
	}
	if b4, ok := img.Broker(4); ok {
		t.Fatalf("unregistered broker 4 is still there: %+v", b4)
	}
	// Round trip through the encoding, record by record.
	for _, batch := range clusterSample() {
		got, err := DecodeBatch(EncodeBatch(batch))
		if err != nil || !reflect.DeepEqual(got, batch) {
			t.Fatalf("round trip of %v: %v %v", batch, got, err)
		}
	}
}

func TestClusterRecordsApplyRejects(t *testing.T) {
	base := applyAll(t, clusterSample()[:5]) // a-0: replicas [1 2], ISR [1 2], leader 1, epochs 0
	change := func(leader int32, isr []int32, leaderEpoch, partitionEpoch int32) *PartitionChangeRecord {
		return &PartitionChangeRecord{TopicID: idA, Leader: leader, ISR: isr, LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch}
	}
	for _, tc := range []struct {
		name string
		rec  Record
	}{
		{"leader not in ISR", change(2, []int32{1}, 1, 1)},
		{"ISR not in replicas", change(1, []int32{1, 3}, 0, 1)},
		{"empty ISR", change(NoLeader, nil, 1, 1)},
		{"duplicate in ISR", change(1, []int32{1, 1}, 0, 1)},
		{"leader epoch not bumped on leader change", change(2, []int32{1, 2}, 0, 1)},
		{"leader epoch bumped without leader change", change(1, []int32{1}, 1, 1)},
		{"leader epoch bumped twice", change(2, []int32{2}, 2, 1)},
		{"partition epoch not bumped", change(1, []int32{1}, 0, 0)},
		{"partition epoch skips", change(1, []int32{1}, 0, 2)},
		{"no change", change(1, []int32{1, 2}, 0, 1)},
		{"unknown partition", &PartitionChangeRecord{TopicID: idA, Partition: 1, Leader: 1, ISR: []int32{1}, PartitionEpoch: 1}},
		{"unknown topic", &PartitionChangeRecord{TopicID: idB, Leader: 1, ISR: []int32{1}, PartitionEpoch: 1}},
		{"empty replicas", &PartitionChangeRecord{TopicID: idA, Leader: 1, ISR: []int32{1}, Replicas: []int32{}, PartitionEpoch: 1}},
		{"fence unknown broker", &FenceBrokerRecord{NodeID: 9}},
		{"fence with a stale epoch", &FenceBrokerRecord{NodeID: 1, BrokerEpoch: 1}},
		{"unfence an unfenced broker", &UnfenceBrokerRecord{NodeID: 1, BrokerEpoch: 2}},
		{"register with an older epoch", &BrokerRecord{NodeID: 1, BrokerEpoch: 2, Fenced: true}},
		{"producer ids backwards", &ProducerIDsRecord{NodeID: 1, NextBlockStart: 0}},
		{"unregister unknown broker", &UnregisterBrokerRecord{NodeID: 9}},
		{"unregister with a stale epoch", &UnregisterBrokerRecord{NodeID: 1, BrokerEpoch: 1}},
		{"unregister an unfenced broker", &UnregisterBrokerRecord{NodeID: 1, BrokerEpoch: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := base.Apply(tc.rec); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Apply: %v, want ErrInvalidRecord", err)
			}
		})
	}
	// Leader NoLeader with a kept ISR is valid, and so is a version 0
	// registration over a version 1 one (a log written by an older broker).
	if _, err := base.Apply(change(NoLeader, []int32{1}, 1, 1), &BrokerRecord{NodeID: 1}); err != nil {
		t.Fatal(err)
	}
}

// legacyEncodeBatch encodes records as the encoder before the controller's
// records did (every record at version 0, the fields of version 0 only),
// written out here independently of AppendRecord.
func legacyEncodeBatch(t *testing.T, records []Record) []byte {
	t.Helper()
	varint := binary.AppendVarint
	str := func(dst []byte, s string) []byte { return append(binary.AppendUvarint(dst, uint64(len(s))), s...) }
	ints := func(dst []byte, vs []int32) []byte {
		dst = binary.AppendUvarint(dst, uint64(len(vs)))
		for _, v := range vs {
			dst = varint(dst, int64(v))
		}
		return dst
	}
	out := binary.AppendUvarint(nil, uint64(len(records)))
	for _, r := range records {
		b := []byte{byte(r.Type()), 0}
		switch r := r.(type) {
		case *ClusterRecord:
			b = str(b, r.ClusterID)
		case *BrokerRecord:
			b = str(varint(b, int64(r.NodeID)), r.Rack)
			b = binary.AppendUvarint(b, uint64(len(r.Endpoints)))
			for _, e := range r.Endpoints {
				b = varint(str(str(b, e.Name), e.Host), int64(e.Port))
			}
		case *TopicRecord:
			b = append(str(b, r.Name), r.ID[:]...)
			if len(r.Configs) > 1 {
				t.Fatal("legacy encoder of the test handles at most one config")
			}
			b = binary.AppendUvarint(b, uint64(len(r.Configs)))
			for k, v := range r.Configs {
				b = str(str(b, k), v)
			}
		case *PartitionRecord:
			b = ints(varint(append(b, r.TopicID[:]...), int64(r.Partition)), r.Replicas)
			b = varint(varint(varint(ints(b, r.ISR), int64(r.Leader)), int64(r.LeaderEpoch)), int64(r.PartitionEpoch))
		case *ConfigRecord:
			b = str(str(append(b, byte(r.Resource)), r.ResourceName), r.Name)
			if r.Value == nil {
				b = append(b, 0)
			} else {
				b = str(append(b, 1), *r.Value)
			}
		case *RemoveTopicRecord:
			b = append(b, r.ID[:]...)
		default:
			t.Fatalf("no legacy encoding for %T", r)
		}
		out = append(binary.AppendUvarint(out, uint64(len(b))), b...)
	}
	return out
}

// TestLegacyLogReplays: a LocalStore file written by the encoder before the
// controller's records replays to the same image as before, and today's
// encoder still writes those records byte for byte as it did.
func TestLegacyLogReplays(t *testing.T) {
	dir := t.TempDir()
	var file []byte
	for _, batch := range sample() {
		payload := legacyEncodeBatch(t, batch)
		if got := EncodeBatch(batch); !bytes.Equal(got, payload) {
			t.Fatalf("encoding of %v changed:\n got %x\nwant %x", batch, got, payload)
		}
		frame := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
		frame = binary.BigEndian.AppendUint32(frame, crc32.Checksum(payload, castagnoli))
		file = append(file, append(frame, payload...)...)
	}
	if err := os.WriteFile(filepath.Join(dir, LogFileName), file, 0o644); err != nil {
		t.Fatal(err)
	}
	s, torn, err := OpenLocal(dir)
	if err != nil || torn != 0 {
		t.Fatalf("OpenLocal: torn %d, %v", torn, err)
	}
	defer s.Close()
	img := s.Image()
	want := applyAll(t, sample())
	if !reflect.DeepEqual(img, want) {
		t.Fatalf("replayed image differs:\n got %+v\nwant %+v", img, want)
	}
	b, _ := img.Broker(1)
	if b.Fenced || b.BrokerEpoch != 0 || b.Incarnation != (IncarnationID{}) || img.NextProducerID() != 0 {
		t.Fatalf("legacy broker %+v, next producer id %d", b, img.NextProducerID())
	}
	// New batches append after the legacy ones and replay too.
	if err := s.Append(&BrokerRecord{NodeID: 1, BrokerEpoch: 13, Fenced: true}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, _, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if b, _ := s2.Image().Broker(1); !b.Fenced || b.BrokerEpoch != 13 {
		t.Fatalf("after reopen: %+v", b)
	}
}

func TestClusterRecordsDecodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"broker version 2", []byte{byte(TypeBroker), 2, 2, 0, 0}},
		{"fence version 1", []byte{byte(TypeFenceBroker), 1, 2, 0}},
		{"fence truncated", []byte{byte(TypeFenceBroker), 0, 2}},
		{"bad bool", append(AppendRecord(nil, &BrokerRecord{NodeID: 1, Fenced: true})[:len(AppendRecord(nil, &BrokerRecord{NodeID: 1, Fenced: true}))-1], 2)},
		{"trailing byte", append(AppendRecord(nil, &UnfenceBrokerRecord{NodeID: 1}), 0)},
		{"unknown type", []byte{11, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeRecord(tc.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecord(%x): %v", tc.b, err)
			}
		})
	}
}

// FuzzDecodeClusterRecords: as FuzzDecodeBatch, seeded with the
// controller's records, and what decodes applies without panic on top of
// an image that has brokers and a partition to change.
func FuzzDecodeClusterRecords(f *testing.F) {
	for _, b := range clusterSample() {
		f.Add(EncodeBatch(b))
	}
	f.Add(AppendRecord(nil, &PartitionChangeRecord{TopicID: idA, Leader: 1, ISR: []int32{1}, Replicas: []int32{}}))
	base, err := Empty().Apply(slicesConcat(clusterSample()[:5])...)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeBatch(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		enc := EncodeBatch(recs)
		recs2, err := DecodeBatch(enc)
		if err != nil || !bytes.Equal(EncodeBatch(recs2), enc) {
			t.Fatalf("re-encoding is not stable: %v", err)
		}
		if _, err := base.Apply(recs...); err != nil && !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("Apply error %v is not ErrInvalidRecord", err)
		} else if err != nil && !strings.Contains(err.Error(), "record") {
			t.Fatalf("Apply error without context: %v", err)
		}
	})
}

func slicesConcat(batches [][]Record) []Record {
	var out []Record
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}
