package broker

import (
	"errors"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
)

// runRebalance is the active controller's periodic upkeep of partition
// placement, one goroutine on every node that acts only while its node is
// the Raft leader:
//
//   - every heartbeat interval (at most a second) it completes the
//     reassignments the ISR already allows (metadata.Controller.
//     CompleteReassignments; AlterPartition completes most of them as the
//     ISR grows, this catches the rest);
//   - with auto.leader.rebalance.enable, every leader.imbalance.check.
//     interval.seconds it moves leaderships back to preferred replicas
//     whose broker's imbalance is above leader.imbalance.per.broker.
//     percentage (metadata.Controller.RebalanceLeaders), as Kafka does, so
//     a broker that restarted gets its share of leaders back without an
//     operator's ElectLeaders.
func (b *Broker) runRebalance(stop <-chan struct{}) {
	complete := time.NewTicker(min(b.heartbeatInterval(), time.Second))
	defer complete.Stop()
	var rebalance <-chan time.Time
	if b.cfg.AutoLeaderRebalanceEnable {
		t := time.NewTicker(time.Duration(b.cfg.LeaderImbalanceCheckIntervalSeconds) * time.Second)
		defer t.Stop()
		rebalance = t.C
	}
	percentage := int(b.cfg.LeaderImbalancePerBrokerPercentage)
	for {
		var decision func(c *metadata.Controller, now time.Time) ([]metadata.Record, error)
		select {
		case <-stop:
			return
		case <-complete.C:
			decision = func(c *metadata.Controller, _ time.Time) ([]metadata.Record, error) {
				return c.CompleteReassignments(), nil
			}
		case <-rebalance:
			decision = func(c *metadata.Controller, now time.Time) ([]metadata.Record, error) {
				return c.RebalanceLeaders(now, percentage), nil
			}
		}
		if !b.cluster.quorum.IsLeader() {
			continue
		}
		if err := b.ctlDo(decision); err != nil && !errors.Is(err, errNotController) {
			b.log.Warn("controller placement upkeep failed", "err", err)
		}
	}
}
