package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxVoters matches the quorum's limit: five voters tolerate two failures.
const maxVoters = 5

// Clustered reports whether controller.quorum.voters is set: the node then
// joins a Raft metadata quorum and replicates partitions. Otherwise it is
// a single-node cluster of its own, exactly as before replication existed.
//
// A node whose node.id is in the voters is a controller voter; any other
// node is a Raft learner that asks the voters to add it (a broker added to
// a running cluster, or any broker beyond five). Both need
// controller.listener, and every node lists the same voters.
func (c *Config) Clustered() bool { return len(c.ControllerQuorumVoters) > 0 }

// Voters parses controller.quorum.voters (id@host:port, ...) into node id
// → Raft transport address. Empty when not clustered.
func (c *Config) Voters() (map[int32]string, error) {
	return ParseVoters(c.ControllerQuorumVoters)
}

// IsVoter reports whether this node is a controller voter: clustered and
// listed in controller.quorum.voters (otherwise, in a cluster, a learner).
func (c *Config) IsVoter() bool {
	v, err := c.Voters()
	_, ok := v[c.NodeID]
	return err == nil && ok
}

// ParseVoters parses voter entries of the form id@host:port.
func ParseVoters(entries []string) (map[int32]string, error) {
	out := make(map[int32]string, len(entries))
	for _, e := range entries {
		idText, addr, ok := strings.Cut(strings.TrimSpace(e), "@")
		if !ok {
			return nil, fmt.Errorf("controller.quorum.voters: %q is not id@host:port: %w", e, ErrInvalidValue)
		}
		id, err := strconv.ParseInt(idText, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: %q: node id must be an integer >= 0: %w", e, ErrInvalidValue)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controller.quorum.voters: %q: address is not host:port: %w", e, ErrInvalidValue)
		}
		if _, dup := out[int32(id)]; dup {
			return nil, fmt.Errorf("controller.quorum.voters: node %d given twice: %w", id, ErrInvalidValue)
		}
		out[int32(id)] = addr
	}
	if len(out) > maxVoters {
		return nil, fmt.Errorf("controller.quorum.voters: %d voters, at most %d: %w", len(out), maxVoters, ErrInvalidValue)
	}
	return out, nil
}

// validateCluster checks the replication settings; Validate calls it.
func (c *Config) validateCluster() []error {
	var errs []error
	bad := func(name, want string) {
		v, _ := c.Get(name)
		errs = append(errs, fmt.Errorf("%s=%q: %s: %w", name, v, want, ErrInvalidValue))
	}
	if _, err := c.Voters(); err != nil {
		errs = append(errs, err)
	}
	if c.Clustered() {
		if _, _, err := net.SplitHostPort(c.ControllerListener); err != nil {
			bad("controller.listener", "host:port of the Raft transport, required with controller.quorum.voters")
		}
	}
	if c.BrokerHeartbeatIntervalMs < 1 {
		bad("broker.heartbeat.interval.ms", "must be >= 1")
	}
	if c.BrokerSessionTimeoutMs <= c.BrokerHeartbeatIntervalMs {
		bad("broker.session.timeout.ms", "must be above broker.heartbeat.interval.ms")
	}
	if c.ReplicaLagTimeMaxMs < 1 {
		bad("replica.lag.time.max.ms", "must be >= 1")
	}
	if c.ReplicaHighWatermarkCheckpointIntervalMs < 1 {
		bad("replica.high.watermark.checkpoint.interval.ms", "must be >= 1")
	}
	if c.ReplicaFetchMinBytes < 1 {
		bad("replica.fetch.min.bytes", "must be >= 1")
	}
	if c.ReplicaFetchWaitMaxMs < 0 {
		bad("replica.fetch.wait.max.ms", "must be >= 0")
	}
	if c.ReplicaFetchMaxBytes < 1 {
		bad("replica.fetch.max.bytes", "must be >= 1")
	}
	if c.ReplicaFetchResponseMaxBytes < 1 {
		bad("replica.fetch.response.max.bytes", "must be >= 1")
	}
	if c.ReplicaFetchBackoffMs < 0 {
		bad("replica.fetch.backoff.ms", "must be >= 0")
	}
	if c.LeaderImbalanceCheckIntervalSeconds < 1 {
		bad("leader.imbalance.check.interval.seconds", "must be >= 1")
	}
	if c.LeaderImbalancePerBrokerPercentage < 0 || c.LeaderImbalancePerBrokerPercentage > 100 {
		bad("leader.imbalance.per.broker.percentage", "must be between 0 and 100")
	}
	if c.FollowerReplicationThrottledRate < 1 {
		bad("follower.replication.throttled.rate", "must be >= 1 (bytes per second)")
	}
	if c.LeaderReplicationThrottledRate < 1 {
		bad("leader.replication.throttled.rate", "must be >= 1 (bytes per second)")
	}
	return errs
}
