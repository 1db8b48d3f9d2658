package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"gopkg.in/yaml.v3"
)

// Errors Load, Set and the topic-config functions return.
var (
	ErrUnknownKey   = errors.New("config: unknown key")
	ErrInvalidValue = errors.New("config: invalid value")
)

// Config holds a broker's settings, by Kafka's names. Pointer fields are
// Kafka's "null by default" settings: nil means "not set, use the next
// synonym" (log.roll.ms before log.roll.hours).
//
// A Config is built by Default or Load and then treated as immutable.
type Config struct {
	NodeID              int32    `yaml:"node.id" doc:"The id of this node in the cluster."`
	Listeners           []string `yaml:"listeners" doc:"Comma-separated listener URIs, NAME://host:port. Only PLAINTEXT is supported. Host localhost listens on 127.0.0.1 and [::1]; an empty host on every interface."`
	AdvertisedListeners []string `yaml:"advertised.listeners" doc:"Listener URIs given to clients in Metadata; defaults to listeners (with the bound port when the port is 0)."`
	LogDirs             []string `yaml:"log.dirs" doc:"The directory holding partition logs and the metadata log (exactly one for now)."`
	AdminListener       string   `yaml:"admin.listener" doc:"host:port of the HTTP admin endpoint (metrics, health)."`
	BrokerRack          string   `yaml:"broker.rack" doc:"Rack of this broker, reported in Metadata."`

	AutoCreateTopicsEnable   bool  `yaml:"auto.create.topics.enable" doc:"Create a topic when a client asks Metadata about it."`
	NumPartitions            int32 `yaml:"num.partitions" doc:"Default number of partitions of a new topic."`
	DefaultReplicationFactor int16 `yaml:"default.replication.factor" doc:"Default replication factor of a new topic."`
	DeleteTopicEnable        bool  `yaml:"delete.topic.enable" doc:"Allow DeleteTopics."`

	MessageMaxBytes       int32 `yaml:"message.max.bytes" doc:"Largest record batch accepted (topic: max.message.bytes)."`
	SocketRequestMaxBytes int32 `yaml:"socket.request.max.bytes" doc:"Largest request frame accepted; bigger frames close the connection."`
	ConnectionsMaxIdleMs  int64 `yaml:"connections.max.idle.ms" doc:"Idle connections are closed after this many milliseconds."`

	FetchMaxBytes                        int32 `yaml:"fetch.max.bytes" doc:"Largest number of record bytes one Fetch response returns, whatever the request asks."`
	MaxIncrementalFetchSessionCacheSlots int32 `yaml:"max.incremental.fetch.session.cache.slots" doc:"Incremental fetch sessions (KIP-227) kept at once; 0 turns sessions off."`

	LogSegmentBytes             int32    `yaml:"log.segment.bytes" doc:"Maximum size of one log segment file."`
	LogRollMs                   *int64   `yaml:"log.roll.ms" doc:"Roll a new segment after this many milliseconds; takes precedence over log.roll.hours."`
	LogRollHours                int32    `yaml:"log.roll.hours" doc:"Roll a new segment after this many hours."`
	LogIndexIntervalBytes       int32    `yaml:"log.index.interval.bytes" doc:"Bytes of log between two offset index entries."`
	LogIndexSizeMaxBytes        int32    `yaml:"log.index.size.max.bytes" doc:"Maximum size of one offset index file."`
	LogFlushIntervalMessages    int64    `yaml:"log.flush.interval.messages" doc:"Messages accumulated before an fsync. Gregor's default is 1 (fsync before acknowledging, with group commit), unlike Kafka's Long.MaxValue."`
	LogFlushIntervalMs          *int64   `yaml:"log.flush.interval.ms" doc:"Maximum milliseconds unflushed data stays in the page cache; defaults to log.flush.scheduler.interval.ms."`
	LogFlushSchedulerIntervalMs int64    `yaml:"log.flush.scheduler.interval.ms" doc:"How often the flusher checks whether a log needs flushing."`
	LogRetentionMs              *int64   `yaml:"log.retention.ms" doc:"Delete segments older than this many milliseconds (-1: never); takes precedence over minutes and hours."`
	LogRetentionMinutes         *int32   `yaml:"log.retention.minutes" doc:"Retention in minutes; takes precedence over log.retention.hours."`
	LogRetentionHours           int32    `yaml:"log.retention.hours" doc:"Retention in hours."`
	LogRetentionBytes           int64    `yaml:"log.retention.bytes" doc:"Delete old segments when a partition is larger than this (-1: no limit)."`
	LogRetentionCheckIntervalMs int64    `yaml:"log.retention.check.interval.ms" doc:"How often retention is applied."`
	LogSegmentDeleteDelayMs     int64    `yaml:"log.segment.delete.delay.ms" doc:"Delay before a deleted segment's files are removed."`
	LogCleanupPolicy            []string `yaml:"log.cleanup.policy" doc:"delete, compact, or both."`
	LogCleanerEnable            bool     `yaml:"log.cleaner.enable" doc:"Run the log cleaner for compacted topics."`
	LogCleanerDeleteRetentionMs int64    `yaml:"log.cleaner.delete.retention.ms" doc:"How long tombstones are kept in compacted topics."`
	LogCleanerMinCompactionLag  int64    `yaml:"log.cleaner.min.compaction.lag.ms" doc:"Minimum age of a record before it can be compacted."`
	LogCleanerMaxCompactionLag  int64    `yaml:"log.cleaner.max.compaction.lag.ms" doc:"Maximum time a record stays uncompacted."`
	LogCleanerMinCleanableRatio float64  `yaml:"log.cleaner.min.cleanable.ratio" doc:"Minimum dirty ratio before a log is cleaned."`
	// Log cleaner resources (retention and compaction owner: storage, broker/cleaner.go).
	LogCleanerThreads             int32  `yaml:"log.cleaner.threads" doc:"Threads cleaning compacted logs at once."`
	LogCleanerIoMaxBytesPerSecond int64  `yaml:"log.cleaner.io.max.bytes.per.second" doc:"Read plus write bytes per second of all cleaner threads together (<= 0: no limit)."`
	LogCleanerBackoffMs           int64  `yaml:"log.cleaner.backoff.ms" doc:"How long the cleaner sleeps when no log needs cleaning."`
	LogCleanerDedupeBufferSize    int64  `yaml:"log.cleaner.dedupe.buffer.size" doc:"Memory for the cleaner's key map, in bytes, shared by its threads (a key costs about 48 bytes)."`
	LogPreallocate                bool   `yaml:"log.preallocate" doc:"Accepted for compatibility; Gregor does not preallocate segments."`
	LogMessageTimestampType       string `yaml:"log.message.timestamp.type" doc:"CreateTime or LogAppendTime."`
	LogMessageTimestampBeforeMs   int64  `yaml:"log.message.timestamp.before.max.ms" doc:"Reject batches whose timestamp is this much older than the broker's clock."`
	LogMessageTimestampAfterMs    int64  `yaml:"log.message.timestamp.after.max.ms" doc:"Reject batches whose timestamp is this much newer than the broker's clock."`
	CompressionType               string `yaml:"compression.type" doc:"Final compression of stored batches; producer keeps the producer's."`

	MinInsyncReplicas           int32 `yaml:"min.insync.replicas" doc:"Minimum ISR size for acks=all produces."`
	UncleanLeaderElectionEnable bool  `yaml:"unclean.leader.election.enable" doc:"Allow a replica outside the ISR to become leader."`

	// Replication and the controller quorum (issue #5, cluster.go). With
	// no voters the node is a single-node cluster of its own.
	ControllerQuorumVoters                   []string `yaml:"controller.quorum.voters" doc:"Raft voters of the metadata quorum, id@host:port comma-separated (at most 5); a node not listed joins as a learner. Empty: a single-node cluster."`
	ControllerListener                       string   `yaml:"controller.listener" doc:"host:port of this node's Raft transport (required with controller.quorum.voters)."`
	BrokerSessionTimeoutMs                   int64    `yaml:"broker.session.timeout.ms" doc:"A broker silent for this long is fenced by the controller."`
	BrokerHeartbeatIntervalMs                int64    `yaml:"broker.heartbeat.interval.ms" doc:"How often a broker heartbeats to the active controller."`
	ReplicaLagTimeMaxMs                      int64    `yaml:"replica.lag.time.max.ms" doc:"A follower not caught up for this long leaves the ISR."`
	ReplicaHighWatermarkCheckpointIntervalMs int64    `yaml:"replica.high.watermark.checkpoint.interval.ms" doc:"How often a replicated partition writes its high watermark to disk (when it moved); a restarted replica starts from it."`
	ReplicaFetchMinBytes                     int32    `yaml:"replica.fetch.min.bytes" doc:"Bytes a follower's fetch waits for."`
	ReplicaFetchWaitMaxMs                    int32    `yaml:"replica.fetch.wait.max.ms" doc:"Longest wait of a follower's fetch."`
	ReplicaFetchMaxBytes                     int32    `yaml:"replica.fetch.max.bytes" doc:"Bytes per partition a follower fetches at once."`
	ReplicaFetchResponseMaxBytes             int32    `yaml:"replica.fetch.response.max.bytes" doc:"Bytes one follower fetch response holds at most."`
	ReplicaFetchBackoffMs                    int32    `yaml:"replica.fetch.backoff.ms" doc:"Pause of a follower after a fetch error."`
	ControlledShutdownEnable                 bool     `yaml:"controlled.shutdown.enable" doc:"In a cluster, a stopping broker first hands its leaderships over through the controller (bounded by broker.session.timeout.ms)."`

	// Leadership balance and reassignment copies (broker/cluster_rebalance.go).
	AutoLeaderRebalanceEnable           bool  `yaml:"auto.leader.rebalance.enable" doc:"In a cluster, the active controller moves leaderships back to each partition's preferred replica (the first) when it is an ISR member and its broker is imbalanced."`
	LeaderImbalanceCheckIntervalSeconds int64 `yaml:"leader.imbalance.check.interval.seconds" doc:"How often the active controller checks the leadership balance."`
	LeaderImbalancePerBrokerPercentage  int32 `yaml:"leader.imbalance.per.broker.percentage" doc:"Share of the partitions a broker prefers but does not lead, in percent, above which their leaderships move back to it."`
	FollowerReplicationThrottledRate    int64 `yaml:"follower.replication.throttled.rate" doc:"Bytes per second this broker copies, over all leaders, for the replicas it is adding in a partition reassignment or that follower.replication.throttled.replicas lists (dynamic)."`
	LeaderReplicationThrottledRate      int64 `yaml:"leader.replication.throttled.rate" doc:"Bytes per second this broker, as leader, sends to followers for the replicas leader.replication.throttled.replicas lists (dynamic)."`

	OffsetsTopicNumPartitions         int32    `yaml:"offsets.topic.num.partitions" doc:"Partitions of the committed-offsets topic."`
	OffsetsTopicReplicationFactor     int16    `yaml:"offsets.topic.replication.factor" doc:"Replication factor of the committed-offsets topic. Unset: 1 on a single node; in a cluster 3, capped at the number of controller voters."`
	OffsetsRetentionMinutes           int32    `yaml:"offsets.retention.minutes" doc:"Committed offsets of empty groups expire after this."`
	GroupInitialRebalanceDelayMs      int32    `yaml:"group.initial.rebalance.delay.ms" doc:"Delay of the first rebalance of a new group."`
	GroupMinSessionTimeoutMs          int32    `yaml:"group.min.session.timeout.ms" doc:"Smallest session timeout a member may ask for."`
	GroupMaxSessionTimeoutMs          int32    `yaml:"group.max.session.timeout.ms" doc:"Largest session timeout a member may ask for."`
	GroupMaxSize                      int32    `yaml:"group.max.size" doc:"Largest number of members in one group (Kafka's unbounded default becomes 10,000 in Gregor, which bounds everything keyed by client input)."`
	GroupConsumerSessionTimeoutMs     int32    `yaml:"group.consumer.session.timeout.ms" doc:"Session timeout of KIP-848 consumer group members."`
	GroupConsumerHeartbeatIntervalMs  int32    `yaml:"group.consumer.heartbeat.interval.ms" doc:"Heartbeat interval given to KIP-848 consumer group members."`
	GroupConsumerAssignors            []string `yaml:"group.consumer.assignors" doc:"Server-side assignors offered to KIP-848 members (uniform, range); the first is the default."`
	OffsetsRetentionCheckIntervalMs   int64    `yaml:"offsets.retention.check.interval.ms" doc:"How often expired committed offsets are removed."`
	OffsetMetadataMaxBytes            int32    `yaml:"offset.metadata.max.bytes" doc:"Largest metadata string of one committed offset."`
	ProducerIDExpirationMs            int32    `yaml:"producer.id.expiration.ms" doc:"Idempotent producer state expires after this idle time (checked on appends, snapshots and each retention check)."`
	TransactionalIDExpirationMs       int32    `yaml:"transactional.id.expiration.ms" doc:"Transactional id state expires after this idle time."`
	TransactionMaxTimeoutMs           int32    `yaml:"transaction.max.timeout.ms" doc:"Largest transaction timeout a producer may ask for."`
	TransactionStateLogNumPartitions  int32    `yaml:"transaction.state.log.num.partitions" doc:"Partitions of the transaction state topic."`
	TransactionStateLogReplicationFac int16    `yaml:"transaction.state.log.replication.factor" doc:"Replication factor of the transaction state topic."`

	// set records which keys were given explicitly (file, env or
	// overrides): DescribeConfigs reports those as STATIC_BROKER_CONFIG.
	set map[string]bool
	// dynamic holds the dynamic broker configs in effect (dynamic.go);
	// nil means none.
	dynamic atomic.Pointer[DynamicBrokerConfigs]
}

// Default returns the defaults (Kafka's, except where the field's doc says
// otherwise).
func Default() *Config {
	return &Config{
		NodeID:                                   1,
		Listeners:                                []string{"PLAINTEXT://localhost:9092"},
		LogDirs:                                  []string{"gregor-data"},
		AdminListener:                            "127.0.0.1:9644",
		AutoCreateTopicsEnable:                   true,
		NumPartitions:                            1,
		DefaultReplicationFactor:                 1,
		DeleteTopicEnable:                        true,
		MessageMaxBytes:                          1048588,
		SocketRequestMaxBytes:                    104857600,
		ConnectionsMaxIdleMs:                     600000,
		FetchMaxBytes:                            57671680,
		MaxIncrementalFetchSessionCacheSlots:     1000,
		LogSegmentBytes:                          1 << 30,
		LogRollHours:                             168,
		LogIndexIntervalBytes:                    4096,
		LogIndexSizeMaxBytes:                     10 << 20,
		LogFlushIntervalMessages:                 1,
		LogFlushSchedulerIntervalMs:              math.MaxInt64,
		LogRetentionHours:                        168,
		LogRetentionBytes:                        -1,
		LogRetentionCheckIntervalMs:              300000,
		LogSegmentDeleteDelayMs:                  60000,
		LogCleanupPolicy:                         []string{"delete"},
		LogCleanerEnable:                         true,
		LogCleanerDeleteRetentionMs:              86400000,
		LogCleanerMinCompactionLag:               0,
		LogCleanerMaxCompactionLag:               math.MaxInt64,
		LogCleanerMinCleanableRatio:              0.5,
		LogCleanerThreads:                        1,
		LogCleanerIoMaxBytesPerSecond:            math.MaxInt64,
		LogCleanerBackoffMs:                      15000,
		LogCleanerDedupeBufferSize:               128 << 20,
		LogMessageTimestampType:                  "CreateTime",
		LogMessageTimestampBeforeMs:              math.MaxInt64,
		LogMessageTimestampAfterMs:               math.MaxInt64,
		CompressionType:                          "producer",
		MinInsyncReplicas:                        1,
		BrokerSessionTimeoutMs:                   9000,
		BrokerHeartbeatIntervalMs:                2000,
		ReplicaLagTimeMaxMs:                      30000,
		ReplicaHighWatermarkCheckpointIntervalMs: 5000,
		ReplicaFetchMinBytes:                     1,
		ReplicaFetchWaitMaxMs:                    500,
		ReplicaFetchMaxBytes:                     1048576,
		ReplicaFetchResponseMaxBytes:             10485760,
		ReplicaFetchBackoffMs:                    1000,
		ControlledShutdownEnable:                 true,
		OffsetsTopicNumPartitions:                50,

		AutoLeaderRebalanceEnable:           true,
		LeaderImbalanceCheckIntervalSeconds: 300,
		LeaderImbalancePerBrokerPercentage:  10,
		FollowerReplicationThrottledRate:    math.MaxInt64,
		LeaderReplicationThrottledRate:      math.MaxInt64,

		OffsetsTopicReplicationFactor:     1,
		OffsetsRetentionMinutes:           10080,
		GroupInitialRebalanceDelayMs:      3000,
		GroupMinSessionTimeoutMs:          6000,
		GroupMaxSessionTimeoutMs:          1800000,
		GroupMaxSize:                      math.MaxInt32,
		GroupConsumerSessionTimeoutMs:     45000,
		GroupConsumerHeartbeatIntervalMs:  5000,
		GroupConsumerAssignors:            []string{"uniform", "range"},
		OffsetsRetentionCheckIntervalMs:   600000,
		OffsetMetadataMaxBytes:            4096,
		ProducerIDExpirationMs:            86400000,
		TransactionalIDExpirationMs:       604800000,
		TransactionMaxTimeoutMs:           900000,
		TransactionStateLogNumPartitions:  50,
		TransactionStateLogReplicationFac: 1,
	}
}

// Load builds a Config: defaults, then file (if not empty), then GREGOR_*
// environment variables, then overrides. It validates the result once.
func Load(file string, overrides map[string]string) (*Config, error) {
	c := Default()
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		kv, err := parseYAML(raw)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", file, err)
		}
		if err := c.setAll(kv, "file "+file); err != nil {
			return nil, err
		}
	}
	if err := c.setAll(envValues(os.Environ()), "environment"); err != nil {
		return nil, err
	}
	if err := c.setAll(overrides, "flags"); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// envPrefix marks environment variables that set configs.
const envPrefix = "GREGOR_"

// envValues maps GREGOR_LOG_DIRS=x to log.dirs=x.
// notBrokerEnv reports the GREGOR_* variables that belong to someone else:
// the client commands' (GREGOR_BROKERS, GREGOR_PROFILE) and test harnesses'
// (GREGOR_TEST_*). Every other GREGOR_* variable must name a broker config,
// so a typo is an error, not a silently ignored setting.
func notBrokerEnv(name string) bool {
	return name == "GREGOR_BROKERS" || name == "GREGOR_PROFILE" || strings.HasPrefix(name, "GREGOR_TEST_")
}

func envValues(environ []string) map[string]string {
	kv := map[string]string{}
	for _, e := range environ {
		name, value, ok := strings.Cut(e, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || notBrokerEnv(name) {
			continue
		}
		key := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, envPrefix)), "_", ".")
		kv[key] = value
	}
	return kv
}

// parseYAML reads a flat mapping of Kafka names to scalars or lists.
func parseYAML(raw []byte) (map[string]string, error) {
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	kv := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			kv[k] = ""
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			kv[k] = strings.Join(parts, ",")
		case map[string]any:
			return nil, fmt.Errorf("%q: nested maps are not config values (keys are flat Kafka names, e.g. log.dirs): %w", k, ErrInvalidValue)
		case float64:
			kv[k] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			kv[k] = fmt.Sprint(v)
		}
	}
	return kv, nil
}

// setAll applies kv in a stable order so that error messages are stable.
func (c *Config) setAll(kv map[string]string, origin string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := c.Set(k, kv[k]); err != nil {
			return fmt.Errorf("%w (from %s)", err, origin)
		}
	}
	return nil
}

// brokerKey describes one field of Config.
type brokerKey struct {
	name  string
	doc   string
	index int
	typ   Type
}

// brokerKeys lists every broker config, by name; built from Config's tags.
var brokerKeys, brokerKeyNames = func() (map[string]brokerKey, []string) {
	t := reflect.TypeFor[Config]()
	keys := map[string]brokerKey{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("yaml")
		if name == "" {
			continue
		}
		keys[name] = brokerKey{name: name, doc: f.Tag.Get("doc"), index: i, typ: typeOf(f.Type)}
		names = append(names, name)
	}
	sort.Strings(names)
	return keys, names
}()

func typeOf(t reflect.Type) Type {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return TypeBoolean
	case reflect.String:
		return TypeString
	case reflect.Int16:
		return TypeShort
	case reflect.Int32:
		return TypeInt
	case reflect.Int64:
		return TypeLong
	case reflect.Float64:
		return TypeDouble
	case reflect.Slice:
		return TypeList
	}
	panic("config: unsupported field type " + t.String())
}

// BrokerKeys returns the names of every broker config, sorted.
func BrokerKeys() []string { return slices.Clone(brokerKeyNames) }

// BrokerKeyInfo returns a broker config's type and documentation.
func BrokerKeyInfo(name string) (typ Type, doc string, ok bool) {
	k, ok := brokerKeys[name]
	return k.typ, k.doc, ok
}

// Set parses value into the config named name and marks it as set. An
// empty value for a nullable (pointer) config unsets it.
func (c *Config) Set(name, value string) error {
	k, ok := brokerKeys[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownKey, name)
	}
	f := reflect.ValueOf(c).Elem().Field(k.index)
	if f.Kind() == reflect.Pointer {
		if strings.TrimSpace(value) == "" {
			f.SetZero()
			c.markSet(name)
			return nil
		}
		p := reflect.New(f.Type().Elem())
		if err := parseInto(p.Elem(), value); err != nil {
			return fmt.Errorf("%s=%q: %w", name, value, err)
		}
		f.Set(p)
	} else if err := parseInto(f, value); err != nil {
		return fmt.Errorf("%s=%q: %w", name, value, err)
	}
	c.markSet(name)
	return nil
}

func (c *Config) markSet(name string) {
	if c.set == nil {
		c.set = map[string]bool{}
	}
	c.set[name] = true
}

// IsSet reports whether name was given explicitly rather than defaulted.
func (c *Config) IsSet(name string) bool { return c.set[name] }

// Get returns the config's value as Kafka prints it, and false for an
// unset nullable config (or an unknown name).
func (c *Config) Get(name string) (string, bool) {
	k, ok := brokerKeys[name]
	if !ok {
		return "", false
	}
	f := reflect.ValueOf(c).Elem().Field(k.index)
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return "", false
		}
		f = f.Elem()
	}
	return format(f), true
}

func parseInto(f reflect.Value, s string) error {
	s = strings.TrimSpace(s)
	switch f.Kind() {
	case reflect.Bool:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %w", ErrInvalidValue)
		}
		f.SetBool(v)
	case reflect.String:
		f.SetString(s)
	case reflect.Int16, reflect.Int32, reflect.Int64:
		v, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("not an integer of %d bits: %w", f.Type().Bits(), ErrInvalidValue)
		}
		f.SetInt(v)
	case reflect.Float64:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("not a number: %w", ErrInvalidValue)
		}
		f.SetFloat(v)
	case reflect.Slice:
		f.Set(reflect.ValueOf(splitList(s)))
	default:
		panic("config: unsupported kind " + f.Kind().String())
	}
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	out := []string{}
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func format(f reflect.Value) string {
	switch f.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(f.Bool())
	case reflect.String:
		return f.String()
	case reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(f.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(f.Float(), 'g', -1, 64)
	case reflect.Slice:
		return strings.Join(f.Interface().([]string), ",")
	}
	panic("config: unsupported kind " + f.Kind().String())
}
