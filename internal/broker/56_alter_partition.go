package broker

import (
	"context"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartition v0-v2 (KIP-497): a leader's ISR proposals, decided by the
// active controller (metadata.Controller.AlterPartition). Registered only
// in a cluster (clusterAPIs). v3's broker epochs per ISR member (KIP-903)
// are not served yet.
func init() { registerClusterAPI(kmsg.AlterPartition, 0, 2, handleAlterPartition) }

func handleAlterPartition(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.AlterPartitionRequest)
	resp := r.ResponseKind().(*kmsg.AlterPartitionResponse)
	areq := metadata.AlterPartitionRequest{NodeID: r.BrokerID, BrokerEpoch: r.BrokerEpoch}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			areq.Partitions = append(areq.Partitions, metadata.AlterPartitionItem{
				TopicID: t.TopicID, Topic: t.Topic, Partition: p.Partition, LeaderEpoch: p.LeaderEpoch,
				NewISR: p.NewISR, PartitionEpoch: p.PartitionEpoch,
			})
		}
	}
	var results []metadata.AlterPartitionResult
	err := b.ctlDo(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
		res, recs, err := c.AlterPartition(now, areq)
		results = res
		return recs, err
	})
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	i := 0
	for _, t := range r.Topics {
		rt := kmsg.NewAlterPartitionResponseTopic()
		rt.Topic, rt.TopidID = t.Topic, t.TopicID
		for range t.Partitions {
			res := results[i]
			i++
			rp := kmsg.NewAlterPartitionResponseTopicPartition()
			rp.Partition, rp.ErrorCode = res.Partition, errorCode(res.Err)
			if res.Err == nil {
				rp.LeaderID, rp.LeaderEpoch, rp.ISR, rp.PartitionEpoch = res.Leader, res.LeaderEpoch, res.ISR, res.PartitionEpoch
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
