package metadata

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func sp(s string) *string { return &s }

var idA, idB = TopicID{1: 1}, TopicID{1: 2}

// sample is a log exercising every record type.
func sample() [][]Record {
	return [][]Record{
		{&ClusterRecord{ClusterID: "c1"}},
		{&BrokerRecord{NodeID: 1, Rack: "r", Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 9092}}}},
		{
			&TopicRecord{Name: "a", ID: idA, Configs: map[string]string{"retention.ms": "1"}},
			&PartitionRecord{TopicID: idA, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
			&PartitionRecord{TopicID: idA, Partition: 1, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		},
		{&TopicRecord{Name: "b", ID: idB}, &PartitionRecord{TopicID: idB, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}},
		{&ConfigRecord{Resource: ConfigResourceTopic, ResourceName: "a", Name: "segment.ms", Value: sp("5")}},
		{&ConfigRecord{Resource: ConfigResourceTopic, ResourceName: "a", Name: "retention.ms"}},
		{&PartitionRecord{TopicID: idA, Partition: 1, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 4}},
		{&ConfigRecord{Resource: ConfigResourceBroker, ResourceName: "1", Name: "x", Value: sp("y")}},
		{&RemoveTopicRecord{ID: idB}},
	}
}

func applyAll(t *testing.T, batches [][]Record) *Image {
	t.Helper()
	img := Empty()
	for _, b := range batches {
		next, err := img.Apply(b...)
		if err != nil {
			t.Fatal(err)
		}
		img = next
	}
	return img
}

func TestApply(t *testing.T) {
	img := applyAll(t, sample())
	if img.ClusterID != "c1" || img.Offset != 12 || img.NumTopics() != 1 {
		t.Fatalf("image: cluster %q offset %d topics %d", img.ClusterID, img.Offset, img.NumTopics())
	}
	a, ok := img.Topic("a")
	if !ok || len(a.Partitions) != 2 || a.Partitions[1].LeaderEpoch != 3 || a.Partitions[1].PartitionEpoch != 4 {
		t.Fatalf("topic a: %+v", a)
	}
	if !reflect.DeepEqual(a.Configs, map[string]string{"segment.ms": "5"}) {
		t.Fatalf("configs %v", a.Configs)
	}
	if _, ok := img.TopicByID(idB); ok {
		t.Fatalf("removed topic still there")
	}
	if got, _ := img.TopicByID(idA); got != a {
		t.Fatalf("TopicByID")
	}
	if br, ok := img.Broker(1); !ok || br.Rack != "r" || len(img.Brokers()) != 1 {
		t.Fatalf("broker %+v", br)
	}
	if img.BrokerConfigs("1")["x"] != "y" {
		t.Fatalf("broker configs")
	}
}

func TestApplyRejects(t *testing.T) {
	base := applyAll(t, sample()[:3])
	for _, tc := range []struct {
		name string
		recs []Record
	}{
		{"duplicate name", []Record{&TopicRecord{Name: "a", ID: idB}}},
		{"duplicate id", []Record{&TopicRecord{Name: "z", ID: idA}}},
		{"zero id", []Record{&TopicRecord{Name: "z"}}},
		{"partition of unknown topic", []Record{&PartitionRecord{TopicID: idB}}},
		{"partition gap", []Record{&PartitionRecord{TopicID: idA, Partition: 3}}},
		{"negative partition", []Record{&PartitionRecord{TopicID: idA, Partition: -1}}},
		{"config of unknown topic", []Record{&ConfigRecord{Resource: ConfigResourceTopic, ResourceName: "zz", Name: "n"}}},
		{"bad resource", []Record{&ConfigRecord{Resource: 9, Name: "n"}}},
		{"remove unknown", []Record{&RemoveTopicRecord{ID: idB}}},
		{"other cluster id", []Record{&ClusterRecord{ClusterID: "c2"}}},
		// A batch is all or nothing: the valid first record is not applied.
		{"second record bad", []Record{&TopicRecord{Name: "ok", ID: idB}, &PartitionRecord{TopicID: idB, Partition: 5}}},
	} {
		next, err := base.Apply(tc.recs...)
		if !errors.Is(err, ErrInvalidRecord) || next != nil {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}
	if _, ok := base.Topic("ok"); ok || base.NumTopics() != 1 {
		t.Fatalf("a rejected batch changed the image")
	}
}

func TestImageIsImmutable(t *testing.T) {
	before := applyAll(t, sample()[:3])
	a, _ := before.Topic("a")
	snapshot := *a
	after, err := before.Apply(
		&PartitionRecord{TopicID: idA, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 9},
		&ConfigRecord{Resource: ConfigResourceTopic, ResourceName: "a", Name: "retention.ms", Value: sp("2")},
		&TopicRecord{Name: "c", ID: idB},
	)
	if err != nil {
		t.Fatal(err)
	}
	if a2, _ := before.Topic("a"); a2 != a || !reflect.DeepEqual(*a2, snapshot) || before.NumTopics() != 1 {
		t.Fatalf("the old image changed")
	}
	if a3, _ := after.Topic("a"); a3.Partitions[0].LeaderEpoch != 9 || a3.Configs["retention.ms"] != "2" {
		t.Fatalf("the new image misses the change: %+v", a3)
	}
}

func TestBatchRoundTrip(t *testing.T) {
	for _, batch := range sample() {
		enc := EncodeBatch(batch)
		dec, err := DecodeBatch(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(EncodeBatch(dec), enc) {
			t.Fatalf("round trip changed %v", batch)
		}
	}
}

func openStore(t *testing.T, dir string) *LocalStore {
	t.Helper()
	s, _, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLocalStoreReplays(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	changed := s.Changed()
	for _, b := range sample() {
		if err := s.Append(b...); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not signalled")
	}
	want := s.Image()
	s.Close()
	if err := s.Append(&ClusterRecord{ClusterID: "c1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	s2 := openStore(t, dir)
	if !reflect.DeepEqual(s2.Image(), want) {
		t.Fatalf("replayed image differs")
	}
	// A rejected batch writes nothing.
	if err := s2.Append(&RemoveTopicRecord{ID: idB}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("invalid append: %v", err)
	}
	s2.Close()
	s3 := openStore(t, dir)
	if s3.Image().Offset != want.Offset {
		t.Fatalf("offset %d, want %d", s3.Image().Offset, want.Offset)
	}
}

func TestLocalStoreTruncatesTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"half a header", func(b []byte) []byte { return append(b, 0, 0, 0) }},
		{"half a payload", func(b []byte) []byte { return b[:len(b)-3] }},
		{"bad crc", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }},
		{"huge length", func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			batches := sample()
			for _, b := range batches[:len(batches)-1] {
				if err := s.Append(b...); err != nil {
					t.Fatal(err)
				}
			}
			good := s.Image()
			if err := s.Append(batches[len(batches)-1]...); err != nil {
				t.Fatal(err)
			}
			s.Close()
			path := filepath.Join(dir, LogFileName)
			raw, _ := os.ReadFile(path)
			damaged := tc.damage(raw)
			os.WriteFile(path, damaged, 0o644)

			s2, torn, err := OpenLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			wantImg := good
			if tc.name == "half a header" || tc.name == "huge length" {
				wantImg = nil // the last whole batch survives
			}
			if wantImg != nil && !reflect.DeepEqual(s2.Image(), wantImg) {
				t.Fatalf("image after truncation: offset %d, want %d", s2.Image().Offset, wantImg.Offset)
			}
			if torn <= 0 {
				t.Fatalf("torn = %d", torn)
			}
			// The store appends after the truncation point.
			if err := s2.Append(&ClusterRecord{ClusterID: "c1"}); err != nil {
				t.Fatal(err)
			}
			want := s2.Image()
			s2.Close()
			s3 := openStore(t, dir)
			if !reflect.DeepEqual(s3.Image(), want) {
				t.Fatalf("reopen after truncation differs")
			}
		})
	}
}

func TestTopicIDs(t *testing.T) {
	id := NewTopicID()
	parsed, err := ParseTopicID(id.String())
	if err != nil || parsed != id || len(id.String()) != 22 {
		t.Fatalf("id %v parsed %v err %v", id, parsed, err)
	}
	if c := NewClusterID(); len(c) != 22 || c[0] == '-' {
		t.Fatalf("cluster id %q", c)
	}
	if _, err := ParseTopicID("short"); err == nil {
		t.Fatal("parsed a bad id")
	}
}
