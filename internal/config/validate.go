package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Type is a config's type, with Kafka's DescribeConfigs codes.
type Type int8

const (
	TypeBoolean Type = 1
	TypeString  Type = 2
	TypeInt     Type = 3
	TypeShort   Type = 4
	TypeLong    Type = 5
	TypeDouble  Type = 6
	TypeList    Type = 7
)

// Source is where a config's value comes from, with Kafka's codes.
type Source int8

const (
	SourceDynamicTopic Source = 1 // DYNAMIC_TOPIC_CONFIG: a topic override
	SourceStaticBroker Source = 4 // STATIC_BROKER_CONFIG: file, env or flags
	SourceDefault      Source = 5 // DEFAULT_CONFIG
)

// Listener is one parsed listener URI, NAME://host:port.
type Listener struct {
	Name string // security protocol / listener name; only PLAINTEXT for now
	Host string // "" means every interface
	Port int    // 0 means any free port (tests)
}

// String prints the listener as a URI.
func (l Listener) String() string {
	return l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// ParseListener parses NAME://host:port; an IPv6 host is bracketed.
func ParseListener(s string) (Listener, error) {
	name, hostPort, ok := strings.Cut(strings.TrimSpace(s), "://")
	if !ok || name == "" {
		return Listener{}, fmt.Errorf("listener %q: want NAME://host:port: %w", s, ErrInvalidValue)
	}
	host, portStr, err := net.SplitHostPort(hostPort)
	if err != nil {
		return Listener{}, fmt.Errorf("listener %q: %v: %w", s, err, ErrInvalidValue)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return Listener{}, fmt.Errorf("listener %q: bad port: %w", s, ErrInvalidValue)
	}
	name = strings.ToUpper(name)
	if name != "PLAINTEXT" {
		return Listener{}, fmt.Errorf("listener %q: only PLAINTEXT is supported: %w", s, ErrInvalidValue)
	}
	return Listener{Name: name, Host: host, Port: port}, nil
}

// ParsedListeners returns the listeners, parsed (Validate has checked them).
func (c *Config) ParsedListeners() []Listener { return mustListeners(c.Listeners) }

// ParsedAdvertisedListeners returns advertised.listeners, or the listeners
// when it is not set.
func (c *Config) ParsedAdvertisedListeners() []Listener {
	if len(c.AdvertisedListeners) == 0 {
		return c.ParsedListeners()
	}
	return mustListeners(c.AdvertisedListeners)
}

func mustListeners(uris []string) []Listener {
	out := make([]Listener, 0, len(uris))
	for _, u := range uris {
		l, err := ParseListener(u)
		if err != nil {
			panic("config: listener not validated: " + err.Error())
		}
		out = append(out, l)
	}
	return out
}

// LogDir is the single data directory.
func (c *Config) LogDir() string { return c.LogDirs[0] }

// SegmentMs is the effective log.roll.ms.
func (c *Config) SegmentMs() int64 {
	v, _, _ := c.topicValue(topicKeys["segment.ms"], nil)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// RetentionMs is the effective log.retention.ms (-1: unlimited).
func (c *Config) RetentionMs() int64 {
	v, _, _ := c.topicValue(topicKeys["retention.ms"], nil)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// Validate checks every value's range; Load calls it.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, name, want string) {
		if !ok {
			v, _ := c.Get(name)
			errs = append(errs, fmt.Errorf("%s=%q: %s: %w", name, v, want, ErrInvalidValue))
		}
	}
	check(c.NodeID >= 0, "node.id", "must be >= 0")
	check(len(c.Listeners) > 0, "listeners", "at least one listener")
	for _, uris := range [][]string{c.Listeners, c.AdvertisedListeners} {
		names := map[string]bool{}
		for _, u := range uris {
			l, err := ParseListener(u)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if names[l.Name] {
				errs = append(errs, fmt.Errorf("listener name %s used twice: %w", l.Name, ErrInvalidValue))
			}
			names[l.Name] = true
		}
	}
	check(len(c.LogDirs) == 1, "log.dirs", "exactly one directory (several are not supported yet)")
	if _, _, err := net.SplitHostPort(c.AdminListener); c.AdminListener != "" && err != nil {
		check(false, "admin.listener", "host:port (or empty to disable)")
	}
	check(c.NumPartitions >= 1, "num.partitions", "must be >= 1")
	check(c.DefaultReplicationFactor >= 1, "default.replication.factor", "must be >= 1")
	check(c.MessageMaxBytes >= 0, "message.max.bytes", "must be >= 0")
	check(c.FetchMaxBytes >= 1024, "fetch.max.bytes", "must be >= 1024")
	check(c.GroupConsumerSessionTimeoutMs > 0, "group.consumer.session.timeout.ms", "must be > 0")
	check(c.GroupConsumerHeartbeatIntervalMs > 0, "group.consumer.heartbeat.interval.ms", "must be > 0")
	check(c.OffsetsRetentionCheckIntervalMs > 0, "offsets.retention.check.interval.ms", "must be > 0")
	check(c.OffsetMetadataMaxBytes >= 0, "offset.metadata.max.bytes", "must be >= 0")
	for _, a := range c.GroupConsumerAssignors {
		check(a == "uniform" || a == "range", "group.consumer.assignors", "known assignors are uniform and range")
	}
	check(c.MaxIncrementalFetchSessionCacheSlots >= 0, "max.incremental.fetch.session.cache.slots", "must be >= 0")
	check(c.SocketRequestMaxBytes >= 1, "socket.request.max.bytes", "must be >= 1")
	check(c.ConnectionsMaxIdleMs >= -1, "connections.max.idle.ms", "must be >= -1")
	check(c.LogRollHours >= 1, "log.roll.hours", "must be >= 1")
	check(c.LogFlushSchedulerIntervalMs >= 0, "log.flush.scheduler.interval.ms", "must be >= 0")
	check(c.LogRetentionHours >= -1, "log.retention.hours", "must be >= -1")
	if c.LogRetentionMinutes != nil {
		check(*c.LogRetentionMinutes >= -1, "log.retention.minutes", "must be >= -1")
	}
	check(c.LogRetentionCheckIntervalMs >= 1, "log.retention.check.interval.ms", "must be >= 1")
	check(c.LogCleanerThreads >= 1, "log.cleaner.threads", "must be >= 1")
	check(c.LogCleanerBackoffMs >= 1, "log.cleaner.backoff.ms", "must be >= 1")
	check(c.LogCleanerDedupeBufferSize >= 1<<20, "log.cleaner.dedupe.buffer.size", "must be >= 1048576")
	check(c.OffsetsTopicNumPartitions >= 1, "offsets.topic.num.partitions", "must be >= 1")
	check(c.OffsetsTopicReplicationFactor >= 1, "offsets.topic.replication.factor", "must be >= 1")
	check(c.TransactionStateLogNumPartitions >= 1, "transaction.state.log.num.partitions", "must be >= 1")
	check(c.GroupMinSessionTimeoutMs <= c.GroupMaxSessionTimeoutMs, "group.min.session.timeout.ms", "must be <= group.max.session.timeout.ms")
	check(c.GroupMaxSize >= 1, "group.max.size", "must be >= 1")
	errs = append(errs, c.validateCluster()...)
	// Every broker config that is a topic config's synonym must also be a
	// valid value for that topic config.
	for _, tk := range topicKeyList {
		v, src, _ := c.topicValue(tk, nil)
		if src == SourceDefault && !tk.hasSynonymSet(c) {
			continue
		}
		if err := tk.validate(v); err != nil {
			errs = append(errs, fmt.Errorf("%s (as topic default %s): %w", tk.synonymNames(), tk.Name, err))
		}
	}
	return errors.Join(errs...)
}

// enumList checks a comma-separated list against allowed values.
func enumList(allowed ...string) func(string) error {
	return func(s string) error {
		items := splitList(s)
		if len(items) == 0 {
			return fmt.Errorf("empty list, want some of %v: %w", allowed, ErrInvalidValue)
		}
		for _, it := range items {
			if !slices.Contains(allowed, it) {
				return fmt.Errorf("%q is not one of %v: %w", it, allowed, ErrInvalidValue)
			}
		}
		return nil
	}
}

func enum(allowed ...string) func(string) error {
	return func(s string) error {
		if !slices.Contains(allowed, s) {
			return fmt.Errorf("%q is not one of %v: %w", s, allowed, ErrInvalidValue)
		}
		return nil
	}
}
