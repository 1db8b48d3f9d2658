package group

import (
	"crypto/rand"
	"encoding/hex"
)

// Config holds the coordinator's settings, named after Kafka's broker
// configs. Zero fields take the defaults of DefaultConfig (see withDefaults).
type Config struct {
	// OffsetsTopicPartitions is offsets.topic.num.partitions: how many
	// partitions __consumer_offsets has, hence how groups are spread.
	OffsetsTopicPartitions int32
	// GroupMinSessionTimeoutMs and GroupMaxSessionTimeoutMs are
	// group.min.session.timeout.ms and group.max.session.timeout.ms: the
	// session timeouts a classic member may ask for.
	GroupMinSessionTimeoutMs int32
	GroupMaxSessionTimeoutMs int32
	// GroupInitialRebalanceDelayMs is group.initial.rebalance.delay.ms: how
	// long the first rebalance of an empty group waits for more members.
	// Negative means no delay (zero takes the default).
	GroupInitialRebalanceDelayMs int32
	// GroupMaxSize is group.max.size. Kafka's default is unbounded; Gregor
	// bounds every map keyed by client input, so the default is 10,000.
	GroupMaxSize int
	// MaxGroups bounds the number of groups one coordinator holds (Gregor's
	// own limit, no Kafka equivalent). Requests that would create one more
	// answer COORDINATOR_NOT_AVAILABLE.
	MaxGroups int
	// OffsetsRetentionMs is offsets.retention.minutes in milliseconds: how
	// long committed offsets outlive an empty group (or, for groups without
	// members ever, their commit).
	OffsetsRetentionMs int64
	// OffsetsRetentionCheckIntervalMs is offsets.retention.check.interval.ms.
	OffsetsRetentionCheckIntervalMs int64
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int
	// ConsumerSessionTimeoutMs and ConsumerHeartbeatIntervalMs are
	// group.consumer.session.timeout.ms and
	// group.consumer.heartbeat.interval.ms (KIP-848 groups).
	ConsumerSessionTimeoutMs    int32
	ConsumerHeartbeatIntervalMs int32
	// ConsumerAssignors is group.consumer.assignors: the server-side
	// assignors offered to KIP-848 members; the first is the default.
	// Known names: "uniform", "range".
	ConsumerAssignors []string
	// NewMemberID returns a fresh member id for a client; tests make it
	// deterministic. The default is clientID + "-" + 128 random bits.
	NewMemberID func(clientID string) string
}

// DefaultConfig returns Kafka's defaults (with the bounds noted above).
func DefaultConfig() Config {
	return Config{
		OffsetsTopicPartitions:          50,
		GroupMinSessionTimeoutMs:        6000,
		GroupMaxSessionTimeoutMs:        1800000,
		GroupInitialRebalanceDelayMs:    3000,
		GroupMaxSize:                    10000,
		MaxGroups:                       100000,
		OffsetsRetentionMs:              7 * 24 * 3600 * 1000,
		OffsetsRetentionCheckIntervalMs: 600000,
		OffsetMetadataMaxBytes:          4096,
		ConsumerSessionTimeoutMs:        45000,
		ConsumerHeartbeatIntervalMs:     5000,
		ConsumerAssignors:               []string{"uniform", "range"},
		NewMemberID:                     randomMemberID,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.OffsetsTopicPartitions <= 0 {
		c.OffsetsTopicPartitions = d.OffsetsTopicPartitions
	}
	if c.GroupMinSessionTimeoutMs <= 0 {
		c.GroupMinSessionTimeoutMs = d.GroupMinSessionTimeoutMs
	}
	if c.GroupMaxSessionTimeoutMs <= 0 {
		c.GroupMaxSessionTimeoutMs = d.GroupMaxSessionTimeoutMs
	}
	if c.GroupInitialRebalanceDelayMs == 0 {
		c.GroupInitialRebalanceDelayMs = d.GroupInitialRebalanceDelayMs
	} else if c.GroupInitialRebalanceDelayMs < 0 {
		c.GroupInitialRebalanceDelayMs = 0
	}
	if c.GroupMaxSize <= 0 {
		c.GroupMaxSize = d.GroupMaxSize
	}
	if c.MaxGroups <= 0 {
		c.MaxGroups = d.MaxGroups
	}
	if c.OffsetsRetentionMs <= 0 {
		c.OffsetsRetentionMs = d.OffsetsRetentionMs
	}
	if c.OffsetsRetentionCheckIntervalMs <= 0 {
		c.OffsetsRetentionCheckIntervalMs = d.OffsetsRetentionCheckIntervalMs
	}
	if c.OffsetMetadataMaxBytes <= 0 {
		c.OffsetMetadataMaxBytes = d.OffsetMetadataMaxBytes
	}
	if c.ConsumerSessionTimeoutMs <= 0 {
		c.ConsumerSessionTimeoutMs = d.ConsumerSessionTimeoutMs
	}
	if c.ConsumerHeartbeatIntervalMs <= 0 {
		c.ConsumerHeartbeatIntervalMs = d.ConsumerHeartbeatIntervalMs
	}
	if len(c.ConsumerAssignors) == 0 {
		c.ConsumerAssignors = d.ConsumerAssignors
	}
	if c.NewMemberID == nil {
		c.NewMemberID = d.NewMemberID
	}
	return c
}

func randomMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics on a broken system)
	return clientID + "-" + hex.EncodeToString(b[:])
}
