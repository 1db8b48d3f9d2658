package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Kafka's replication quotas (KIP-73) name the replicas they limit in two
// topic configs, leader.replication.throttled.replicas and
// follower.replication.throttled.replicas: a list of PARTITION:BROKER
// entries ("0:101,0:102,1:102"), or the wildcard "*" for every replica of
// the topic, or "" for none. kafka-reassign-partitions.sh --throttle sets
// them on the topics it moves.

// Names of the two throttled-replicas topic configs.
const (
	LeaderThrottledReplicas   = "leader.replication.throttled.replicas"
	FollowerThrottledReplicas = "follower.replication.throttled.replicas"
)

// maxThrottledReplicas bounds a parsed list: a topic has at most a few
// replicas of each of its partitions, and the list is a config value a
// client sent.
const maxThrottledReplicas = 1 << 16

// ThrottledReplica is one PARTITION:BROKER entry.
type ThrottledReplica struct {
	Partition int32
	Broker    int32
}

// ThrottledReplicas is a parsed throttled-replicas list. The zero value is
// the empty list: nothing throttled.
type ThrottledReplicas struct {
	All      bool               // "*": every replica of the topic
	Replicas []ThrottledReplica // in the order given; duplicates kept
}

// ParseThrottledReplicas parses a throttled-replicas list. Blanks around
// entries and empty entries are ignored, as Kafka does; "*" stands alone.
func ParseThrottledReplicas(s string) (ThrottledReplicas, error) {
	if strings.TrimSpace(s) == "*" {
		return ThrottledReplicas{All: true}, nil
	}
	var out ThrottledReplicas
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if len(out.Replicas) == maxThrottledReplicas {
			return ThrottledReplicas{}, fmt.Errorf("more than %d entries: %w", maxThrottledReplicas, ErrInvalidValue)
		}
		partitionText, brokerText, ok := strings.Cut(entry, ":")
		if !ok {
			return ThrottledReplicas{}, fmt.Errorf("%q is not PARTITION:BROKER (or use \"*\" alone for every replica): %w", entry, ErrInvalidValue)
		}
		partition, perr := parseID(partitionText)
		broker, berr := parseID(brokerText)
		if perr != nil || berr != nil {
			return ThrottledReplicas{}, fmt.Errorf("%q: partition and broker must be integers >= 0: %w", entry, ErrInvalidValue)
		}
		out.Replicas = append(out.Replicas, ThrottledReplica{Partition: partition, Broker: broker})
	}
	return out, nil
}

// parseID parses a partition or broker id: decimal digits only (no sign,
// no blanks inside an entry), fitting an int32.
func parseID(s string) (int32, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, ErrInvalidValue
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, err
	}
	return int32(n), nil
}

// Contains reports whether the list throttles the replica of partition
// on broker.
func (r ThrottledReplicas) Contains(partition, broker int32) bool {
	if r.All {
		return true
	}
	for _, e := range r.Replicas {
		if e.Partition == partition && e.Broker == broker {
			return true
		}
	}
	return false
}

// IsEmpty reports whether the list throttles nothing.
func (r ThrottledReplicas) IsEmpty() bool { return !r.All && len(r.Replicas) == 0 }

// String formats the list as the config stores it: "*", "" or
// "P:B,P:B".
func (r ThrottledReplicas) String() string {
	if r.All {
		return "*"
	}
	var sb strings.Builder
	for i, e := range r.Replicas {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(int64(e.Partition), 10))
		sb.WriteByte(':')
		sb.WriteString(strconv.FormatInt(int64(e.Broker), 10))
	}
	return sb.String()
}

// validThrottledReplicas is the check of the two topic configs.
func validThrottledReplicas(s string) error {
	_, err := ParseThrottledReplicas(s)
	return err
}
