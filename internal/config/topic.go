package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Synonym is a broker config that supplies a topic config's default, with
// the factor converting its unit to the topic config's (log.roll.hours is
// segment.ms in hours).
type Synonym struct {
	Name  string
	Scale int64
}

// TopicKey describes one topic-level config.
type TopicKey struct {
	Name string
	Type Type
	// Synonyms are the broker configs that give the default, in Kafka's
	// order of precedence; the last one always has a value.
	Synonyms []Synonym
	// Default is used when there is no broker synonym.
	Default string
	Doc     string
	// check validates a parsed value's range or enum; nil for none.
	check func(string) error
}

func syn(names ...string) []Synonym {
	out := make([]Synonym, len(names))
	for i, n := range names {
		out[i] = Synonym{Name: n, Scale: 1}
	}
	return out
}

// topicKeyList is every topic config Gregor knows, sorted by name.
var topicKeyList = []*TopicKey{
	{Name: "cleanup.policy", Type: TypeList, Synonyms: syn("log.cleanup.policy"), check: enumList("delete", "compact"),
		Doc: "delete: drop old segments by retention.ms/retention.bytes; compact: keep the last record of each key; or both."},
	{Name: "compression.type", Type: TypeString, Synonyms: syn("compression.type"), check: enum("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
		Doc: "Compression of stored batches; producer keeps what the producer sent."},
	{Name: "delete.retention.ms", Type: TypeLong, Synonyms: syn("log.cleaner.delete.retention.ms"), check: atLeast(0),
		Doc: "How long tombstones stay readable in a compacted topic."},
	{Name: "file.delete.delay.ms", Type: TypeLong, Synonyms: syn("log.segment.delete.delay.ms"), check: atLeast(0),
		Doc: "Delay before a deleted segment's files are removed."},
	{Name: "flush.messages", Type: TypeLong, Synonyms: syn("log.flush.interval.messages"), check: atLeast(1),
		Doc: "fsync after this many messages. Gregor's default 1 means every acknowledged batch is on disk (group commit)."},
	{Name: "flush.ms", Type: TypeLong, Synonyms: syn("log.flush.interval.ms", "log.flush.scheduler.interval.ms"), check: atLeast(0),
		Doc: "fsync data older than this many milliseconds."},
	{Name: FollowerThrottledReplicas, Type: TypeList, check: validThrottledReplicas,
		Doc: "Replicas (PARTITION:BROKER,... or * for all) whose copying by their follower is limited by follower.replication.throttled.rate."},
	{Name: "index.interval.bytes", Type: TypeInt, Synonyms: syn("log.index.interval.bytes"), check: atLeast(0),
		Doc: "Bytes of log between two offset index entries."},
	{Name: LeaderThrottledReplicas, Type: TypeList, check: validThrottledReplicas,
		Doc: "Replicas (PARTITION:BROKER,... or * for all) whose leader limits what it sends to followers to leader.replication.throttled.rate."},
	{Name: "max.compaction.lag.ms", Type: TypeLong, Synonyms: syn("log.cleaner.max.compaction.lag.ms"), check: atLeast(1),
		Doc: "Maximum time a record stays uncompacted."},
	{Name: "max.message.bytes", Type: TypeInt, Synonyms: syn("message.max.bytes"), check: atLeast(0),
		Doc: "Largest record batch accepted."},
	{Name: "message.timestamp.after.max.ms", Type: TypeLong, Synonyms: syn("log.message.timestamp.after.max.ms"), check: atLeast(0),
		Doc: "Largest allowed amount a batch's timestamp may be ahead of the broker's clock."},
	{Name: "message.timestamp.before.max.ms", Type: TypeLong, Synonyms: syn("log.message.timestamp.before.max.ms"), check: atLeast(0),
		Doc: "Largest allowed amount a batch's timestamp may be behind the broker's clock."},
	{Name: "message.timestamp.type", Type: TypeString, Synonyms: syn("log.message.timestamp.type"), check: enum("CreateTime", "LogAppendTime"),
		Doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock."},
	{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Synonyms: syn("log.cleaner.min.cleanable.ratio"), check: between(0, 1),
		Doc: "Minimum share of uncompacted log before the cleaner runs."},
	{Name: "min.compaction.lag.ms", Type: TypeLong, Synonyms: syn("log.cleaner.min.compaction.lag.ms"), check: atLeast(0),
		Doc: "Minimum age of a record before it can be compacted."},
	{Name: "min.insync.replicas", Type: TypeInt, Synonyms: syn("min.insync.replicas"), check: atLeast(1),
		Doc: "Minimum ISR size for acks=all produces."},
	{Name: "preallocate", Type: TypeBoolean, Synonyms: syn("log.preallocate"),
		Doc: "Accepted for compatibility; Gregor does not preallocate segments."},
	{Name: "retention.bytes", Type: TypeLong, Synonyms: syn("log.retention.bytes"),
		Doc: "Delete old segments when the partition is larger than this (-1: no limit)."},
	{Name: "retention.ms", Type: TypeLong,
		Synonyms: []Synonym{{"log.retention.ms", 1}, {"log.retention.minutes", 60000}, {"log.retention.hours", 3600000}},
		check:    atLeast(-1),
		Doc:      "Delete segments older than this (-1: no time limit)."},
	{Name: "segment.bytes", Type: TypeInt, Synonyms: syn("log.segment.bytes"), check: atLeast(14),
		Doc: "Maximum size of one segment file."},
	{Name: "segment.index.bytes", Type: TypeInt, Synonyms: syn("log.index.size.max.bytes"), check: atLeast(4),
		Doc: "Maximum size of one offset index file."},
	{Name: "segment.ms", Type: TypeLong, Synonyms: []Synonym{{"log.roll.ms", 1}, {"log.roll.hours", 3600000}}, check: atLeast(1),
		Doc: "Roll a new segment after this many milliseconds."},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Synonyms: syn("unclean.leader.election.enable"),
		Doc: "Allow a replica outside the ISR to become leader (may lose data)."},
}

var topicKeys = func() map[string]*TopicKey {
	m := map[string]*TopicKey{}
	for _, k := range topicKeyList {
		for _, s := range k.Synonyms {
			if _, ok := brokerKeys[s.Name]; !ok {
				panic("config: synonym of " + k.Name + " is not a broker config: " + s.Name)
			}
		}
		m[k.Name] = k
	}
	return m
}()

// TopicKeys returns every topic config, sorted by name. Callers must not
// modify them.
func TopicKeys() []*TopicKey { return topicKeyList }

// LookupTopicKey returns the topic config named name.
func LookupTopicKey(name string) (*TopicKey, bool) {
	k, ok := topicKeys[name]
	return k, ok
}

func atLeast(min float64) func(string) error {
	return func(s string) error {
		v, _ := strconv.ParseFloat(s, 64)
		if v < min {
			return fmt.Errorf("%s is below the minimum %v: %w", s, min, ErrInvalidValue)
		}
		return nil
	}
}

func between(min, max float64) func(string) error {
	return func(s string) error {
		v, _ := strconv.ParseFloat(s, 64)
		if v < min || v > max {
			return fmt.Errorf("%s is not in [%v, %v]: %w", s, min, max, ErrInvalidValue)
		}
		return nil
	}
}

// validate parses value as the key's type and checks its range.
func (k *TopicKey) validate(value string) error {
	value = strings.TrimSpace(value)
	var err error
	switch k.Type {
	case TypeBoolean:
		if value != "true" && value != "false" {
			err = fmt.Errorf("%q is not true or false: %w", value, ErrInvalidValue)
		}
	case TypeShort, TypeInt, TypeLong:
		bits := map[Type]int{TypeShort: 16, TypeInt: 32, TypeLong: 64}[k.Type]
		if _, perr := strconv.ParseInt(value, 10, bits); perr != nil {
			err = fmt.Errorf("%q is not an integer of %d bits: %w", value, bits, ErrInvalidValue)
		}
	case TypeDouble:
		if f, perr := strconv.ParseFloat(value, 64); perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			err = fmt.Errorf("%q is not a number: %w", value, ErrInvalidValue)
		}
	}
	if err == nil && k.check != nil {
		err = k.check(value)
	}
	return err
}

// ValidateTopicConfig checks one topic override: ErrUnknownKey for a
// config Gregor does not know, ErrInvalidValue for a bad value.
func ValidateTopicConfig(name, value string) error {
	k, ok := topicKeys[name]
	if !ok {
		return fmt.Errorf("%w %q (not a topic config)", ErrUnknownKey, name)
	}
	if err := k.validate(value); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// NormalizeTopicConfig returns value as it is stored: trimmed, lists
// without blanks.
func NormalizeTopicConfig(name, value string) string {
	if k, ok := topicKeys[name]; ok && k.Type == TypeList {
		return strings.Join(splitList(value), ",")
	}
	return strings.TrimSpace(value)
}

func (k *TopicKey) hasSynonymSet(c *Config) bool {
	return slices.ContainsFunc(k.Synonyms, func(s Synonym) bool { return c.IsSet(s.Name) })
}

func (k *TopicKey) synonymNames() string {
	names := make([]string, len(k.Synonyms))
	for i, s := range k.Synonyms {
		names[i] = s.Name
	}
	return strings.Join(names, "/")
}

// SynonymValue is one entry of a DescribeConfigs synonym list.
type SynonymValue struct {
	Name   string
	Value  string
	Source Source
}

// topicValue resolves one topic config: override, then broker synonyms,
// then default. It also returns the synonyms that have a value, most
// preferred first (KIP-226's synonym list). Synonyms are taken in Kafka's
// order of names (log.retention.ms before log.retention.hours), each
// name's layers strongest first (dynamic per node, dynamic cluster
// default, static, default): a dynamic log.retention.hours does not beat
// a static log.retention.ms, as in Kafka.
func (c *Config) topicValue(k *TopicKey, overrides map[string]string) (string, Source, []SynonymValue) {
	var syns []SynonymValue
	if v, ok := overrides[k.Name]; ok {
		syns = append(syns, SynonymValue{k.Name, v, SourceDynamicTopic})
	}
	for _, s := range k.Synonyms {
		syns = append(syns, c.brokerLayers(s.Name, s.Scale)...)
	}
	if len(k.Synonyms) == 0 {
		syns = append(syns, SynonymValue{k.Name, k.Default, SourceDefault})
	}
	// Unset nullable synonyms were skipped above, so the first entry is the
	// one in effect.
	best := syns[0]
	return best.Value, best.Source, syns
}

// TopicValue resolves a topic config for a topic with these overrides:
// its value, where it comes from, and its synonyms (most preferred first).
func (c *Config) TopicValue(name string, overrides map[string]string) (value string, source Source, synonyms []SynonymValue, ok bool) {
	k, ok := topicKeys[name]
	if !ok {
		return "", 0, nil, false
	}
	v, src, syns := c.topicValue(k, overrides)
	return v, src, syns, true
}

// TopicSettings are a topic's effective configs, parsed.
type TopicSettings struct {
	CleanupPolicy               []string
	Compacted                   bool // cleanup.policy contains compact
	DeleteByRetention           bool // cleanup.policy contains delete
	CompressionType             string
	DeleteRetentionMs           int64
	FileDeleteDelayMs           int64
	FlushMessages               int64
	FlushMs                     int64
	IndexIntervalBytes          int32
	MaxCompactionLagMs          int64
	MaxMessageBytes             int32
	MessageTimestampAfterMaxMs  int64
	MessageTimestampBeforeMaxMs int64
	LogAppendTime               bool // message.timestamp.type=LogAppendTime
	MinCleanableDirtyRatio      float64
	MinCompactionLagMs          int64
	MinInsyncReplicas           int32
	RetentionBytes              int64
	RetentionMs                 int64
	SegmentBytes                int32
	SegmentIndexBytes           int32
	SegmentMs                   int64
	UncleanLeaderElectionEnable bool
}

// TopicSettings resolves every topic config for a topic with these
// overrides. Overrides must have been validated (ValidateTopicConfig);
// an invalid one is reported as an error and the broker default used.
func (c *Config) TopicSettings(overrides map[string]string) (TopicSettings, error) {
	var s TopicSettings
	var firstErr error
	get := func(name string) string {
		k := topicKeys[name]
		v, _, _ := c.topicValue(k, overrides)
		if err := k.validate(v); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", name, err)
			}
			v, _, _ = c.topicValue(k, nil)
		}
		return v
	}
	i64 := func(name string) int64 { n, _ := strconv.ParseInt(get(name), 10, 64); return n }
	i32 := func(name string) int32 { n, _ := strconv.ParseInt(get(name), 10, 32); return int32(n) }

	s.CleanupPolicy = splitList(get("cleanup.policy"))
	s.Compacted = slices.Contains(s.CleanupPolicy, "compact")
	s.DeleteByRetention = slices.Contains(s.CleanupPolicy, "delete")
	s.CompressionType = get("compression.type")
	s.DeleteRetentionMs = i64("delete.retention.ms")
	s.FileDeleteDelayMs = i64("file.delete.delay.ms")
	s.FlushMessages = i64("flush.messages")
	s.FlushMs = i64("flush.ms")
	s.IndexIntervalBytes = i32("index.interval.bytes")
	s.MaxCompactionLagMs = i64("max.compaction.lag.ms")
	s.MaxMessageBytes = i32("max.message.bytes")
	s.MessageTimestampAfterMaxMs = i64("message.timestamp.after.max.ms")
	s.MessageTimestampBeforeMaxMs = i64("message.timestamp.before.max.ms")
	s.LogAppendTime = get("message.timestamp.type") == "LogAppendTime"
	s.MinCleanableDirtyRatio, _ = strconv.ParseFloat(get("min.cleanable.dirty.ratio"), 64)
	s.MinCompactionLagMs = i64("min.compaction.lag.ms")
	s.MinInsyncReplicas = i32("min.insync.replicas")
	s.RetentionBytes = i64("retention.bytes")
	s.RetentionMs = i64("retention.ms")
	s.SegmentBytes = i32("segment.bytes")
	s.SegmentIndexBytes = i32("segment.index.bytes")
	s.SegmentMs = i64("segment.ms")
	s.UncleanLeaderElectionEnable = get("unclean.leader.election.enable") == "true"
	return s, firstErr
}
