package broker

import (
	"context"
	"errors"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/partition"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The leader's side of ISR changes (KIP-497): one goroutine for every
// partition this broker leads collects their proposals and sends them to
// the controller as one AlterPartition. The outcome comes back through the
// image (applyRoles → ApplyISR); a refused proposal is dropped
// (ClearPendingISR) so the next round proposes again.

// isrCheckInterval is how often proposals are collected: half of
// replica.lag.time.max.ms, so a laggard leaves the ISR at most half that
// late, and never more often than every 50 ms.
func (b *Broker) isrCheckInterval() time.Duration {
	return max(msDuration(b.cfg.ReplicaLagTimeMaxMs)/2, 50*time.Millisecond)
}

// isrProposal is one partition's proposal, with what it was made against.
type isrProposal struct {
	p    *partition.Partition
	item metadata.AlterPartitionItem
}

func (b *Broker) runISRUpdates(stop <-chan struct{}) {
	t := time.NewTicker(b.isrCheckInterval())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			proposals := b.collectISRProposals(now)
			if len(proposals) == 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), b.isrCheckInterval())
			b.sendISRProposals(ctx, proposals)
			cancel()
		}
	}
}

// maxISRProposals bounds one AlterPartition request.
const maxISRProposals = 10_000

func (b *Broker) collectISRProposals(now time.Time) []isrProposal {
	b.controlMu.Lock()
	defer b.controlMu.Unlock()
	var out []isrProposal
	for key, r := range b.cluster.roles {
		if r.leader != b.nodeID() || len(out) >= maxISRProposals {
			continue
		}
		isr, ok := r.p.ISRChangeProposal(now, b.cfg.ReplicaLagTimeMaxMs)
		if !ok {
			continue
		}
		out = append(out, isrProposal{p: r.p, item: metadata.AlterPartitionItem{
			TopicID: key.topic, Partition: key.partition, LeaderEpoch: r.leaderEpoch,
			NewISR: isr, PartitionEpoch: r.partitionEpoch,
		}})
	}
	return out
}

// sendISRProposals sends the proposals to the controller (in-process when
// it is this node) and drops those it refused.
func (b *Broker) sendISRProposals(ctx context.Context, proposals []isrProposal) {
	req := metadata.AlterPartitionRequest{NodeID: b.nodeID(), BrokerEpoch: b.cluster.brokerEpoch.Load()}
	for _, pr := range proposals {
		req.Partitions = append(req.Partitions, pr.item)
	}
	failed := make([]bool, len(proposals))
	var err error
	if b.cluster.quorum.IsLeader() {
		var results []metadata.AlterPartitionResult
		err = b.ctlDo(func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
			res, recs, err := c.AlterPartition(now, req)
			results = res
			return recs, err
		})
		for i, r := range results {
			failed[i] = r.Err != nil
		}
	} else {
		err = b.sendAlterPartition(ctx, req, failed)
	}
	for i, pr := range proposals {
		if err != nil || failed[i] {
			pr.p.ClearPendingISR()
		}
		if err == nil && failed[i] {
			// Usually a stale partition or broker epoch, retried with the
			// next proposal; logged so a change that never lands shows.
			b.log.Debug("ISR change refused by the controller", "topic_id", pr.item.TopicID,
				"partition", pr.item.Partition, "new_isr", pr.item.NewISR, "partition_epoch", pr.item.PartitionEpoch)
		}
	}
	if err != nil {
		b.log.Debug("AlterPartition failed", "partitions", len(proposals), "err", err)
	}
}

// sendAlterPartition sends req over the wire (v2+: topics by id) and marks
// the partitions the controller refused.
func (b *Broker) sendAlterPartition(ctx context.Context, req metadata.AlterPartitionRequest, failed []bool) error {
	kreq := kmsg.NewPtrAlterPartitionRequest()
	kreq.BrokerID, kreq.BrokerEpoch = req.NodeID, req.BrokerEpoch
	index := map[partitionKey]int{}
	for i, it := range req.Partitions {
		index[partitionKey{it.TopicID, it.Partition}] = i
		kt := kmsg.NewAlterPartitionRequestTopic()
		kt.TopicID = it.TopicID
		kp := kmsg.NewAlterPartitionRequestTopicPartition()
		kp.Partition, kp.LeaderEpoch, kp.NewISR, kp.PartitionEpoch = it.Partition, it.LeaderEpoch, it.NewISR, it.PartitionEpoch
		kt.Partitions = append(kt.Partitions, kp)
		kreq.Topics = append(kreq.Topics, kt)
	}
	resp, err := controllerRequest[*kmsg.AlterPartitionResponse](ctx, b, kreq)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	answered := make([]bool, len(failed))
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if i, ok := index[partitionKey{t.TopidID, p.Partition}]; ok {
				answered[i] = true
				failed[i] = p.ErrorCode != 0
			}
		}
	}
	for i := range failed {
		failed[i] = failed[i] || !answered[i]
	}
	return nil
}

// errorCode is the Kafka error code of a controller decision's error.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	if errors.Is(err, errNotController) {
		return kerr.NotController.Code
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}
