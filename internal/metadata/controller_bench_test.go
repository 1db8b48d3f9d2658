package metadata

import (
	"fmt"
	"testing"
	"time"
)

// benchCluster is 5 brokers and topics of 100 partitions, rf 3, 10,000
// partitions in all.
func benchCluster(b *testing.B) *harness {
	h := newHarness(b, testConfig(), "", "", "", "", "")
	for i := range 100 {
		h.createTopic(fmt.Sprintf("t%d", i), 100, 3)
	}
	return h
}

// BenchmarkControllerTick: a Tick that fences nobody, the common case.
func BenchmarkControllerTick(b *testing.B) {
	h := benchCluster(b)
	b.ResetTimer()
	for range b.N {
		if recs := h.c.Tick(h.now); len(recs) != 0 {
			b.Fatal("fenced")
		}
	}
}

// BenchmarkControllerFenceBroker: computing the batch that fences one of
// five brokers over 10,000 partitions (about 6,000 partition changes).
func BenchmarkControllerFenceBroker(b *testing.B) {
	h := benchCluster(b)
	h.now = h.now.Add(time.Second)
	b.ResetTimer()
	var n int
	for range b.N {
		_, recs, err := h.c.Heartbeat(h.now, BrokerHeartbeat{NodeID: 1, BrokerEpoch: h.epochs[1], CurrentMetadataOffset: h.img.Offset, WantFence: true})
		if err != nil {
			b.Fatal(err)
		}
		n = len(recs)
	}
	b.ReportMetric(float64(n), "records/op")
}

// BenchmarkControllerAlterPartition: one ISR shrink.
func BenchmarkControllerAlterPartition(b *testing.B) {
	h := benchCluster(b)
	tp, _ := h.img.Topic("t0")
	p := tp.Partitions[0]
	req := AlterPartitionRequest{NodeID: p.Leader, BrokerEpoch: h.epochs[p.Leader], Partitions: []AlterPartitionItem{
		{TopicID: tp.ID, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: p.ISR[:2]}}}
	b.ResetTimer()
	for range b.N {
		res, _, err := h.c.AlterPartition(h.now, req)
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res)
		}
	}
}
