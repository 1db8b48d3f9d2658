package metadata

import (
	"bytes"
	"testing"
)

// A snapshot must rebuild the image exactly, including what the controller
// added: broker epochs, incarnations, fencing and the producer-id
// high-water mark. Losing them would unfence a dead broker or hand out
// producer ids twice after a Raft snapshot.
func TestSnapshotKeepsControllerState(t *testing.T) {
	img := Empty()
	inc := IncarnationID{1, 2, 3}
	batches := [][]Record{
		{&ClusterRecord{ClusterID: "c"}},
		{&BrokerRecord{NodeID: 1, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 1}}, Incarnation: inc, BrokerEpoch: 2}},
		{&BrokerRecord{NodeID: 2, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 2}}, Incarnation: IncarnationID{9}, BrokerEpoch: 3}},
		{&FenceBrokerRecord{NodeID: 2, BrokerEpoch: 3}},
		{&ProducerIDsRecord{NodeID: 1, BrokerEpoch: 2, NextBlockStart: 5000}},
	}
	for _, b := range batches {
		next, err := img.Apply(b...)
		if err != nil {
			t.Fatalf("apply %T: %v", b[0], err)
		}
		img = next
	}
	rebuilt, err := ImageFromRecords(img.Offset, img.Records())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(EncodeBatch(rebuilt.Records()), EncodeBatch(img.Records())) {
		t.Fatal("snapshot records differ after a round trip")
	}
	b2, ok := rebuilt.Broker(2)
	if !ok || !b2.Fenced || b2.BrokerEpoch != 3 {
		t.Fatalf("broker 2 after snapshot: %+v", b2)
	}
	b1, _ := rebuilt.Broker(1)
	if b1.Incarnation != inc {
		t.Fatalf("broker 1 incarnation lost: %+v", b1)
	}
	if rebuilt.NextProducerID() != img.NextProducerID() || img.NextProducerID() != 5000 {
		t.Fatalf("next producer id %d, want %d", rebuilt.NextProducerID(), img.NextProducerID())
	}
}
