package config

import (
	"fmt"
	"maps"
	"math"
	"sort"
	"strconv"
)

// Dynamic broker configs (Kafka's KIP-226): values set at run time with
// IncrementalAlterConfigs or AlterConfigs on a BROKER resource, kept in the
// cluster metadata, for one node (resource "<node.id>") or as the
// cluster-wide default (resource ""). They sit above the static value:
// per node, then cluster default, then file/env/flags, then the default.
//
// Only the broker configs that give topic configs their defaults
// (log.retention.ms, log.segment.bytes, message.max.bytes, ...) are
// dynamic here: a change applies to every topic without its own override,
// at once, as in Kafka. The others are read at start-up and need a
// restart.

// Kafka's sources for dynamic broker configs.
const (
	SourceDynamicBroker        Source = 2 // DYNAMIC_BROKER_CONFIG: set for this node
	SourceDynamicDefaultBroker Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG: the cluster-wide default
)

// DynamicBrokerConfigs are the dynamic values in effect for one node.
type DynamicBrokerConfigs struct {
	Node    map[string]string // this node's resource
	Cluster map[string]string // the cluster-wide default, resource ""
}

// dynamicNames are the broker configs that may change at run time: every
// synonym of a topic config, and the replication quotas follower.
// replication.throttled.rate and leader.replication.throttled.rate (an
// operator slows a reassignment's copy down while it runs).
var dynamicNames = func() map[string]bool {
	out := map[string]bool{"follower.replication.throttled.rate": true, "leader.replication.throttled.rate": true}
	for _, k := range topicKeyList {
		for _, s := range k.Synonyms {
			out[s.Name] = true
		}
	}
	return out
}()

// IsDynamicBrokerConfig reports whether the broker config name can be
// changed at run time.
func IsDynamicBrokerConfig(name string) bool { return dynamicNames[name] }

// DynamicBrokerConfigNames lists the dynamic broker configs, sorted.
func DynamicBrokerConfigNames() []string {
	out := make([]string, 0, len(dynamicNames))
	for n := range dynamicNames {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ValidateDynamicBrokerConfig checks a value for a dynamic broker config:
// it must parse as the broker config's type and, as the default of the
// topic configs it stands for, pass their checks.
func ValidateDynamicBrokerConfig(name, value string) error {
	if !dynamicNames[name] {
		if _, ok := brokerKeys[name]; !ok {
			return fmt.Errorf("%w %q", ErrUnknownKey, name)
		}
		return fmt.Errorf("%w: %s cannot be changed at run time; set it in the config file, GREGOR_* environment or flags and restart", ErrInvalidValue, name)
	}
	scratch := Default()
	if err := scratch.Set(name, value); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidValue, err)
	}
	v, _ := scratch.Get(name)
	if name == "follower.replication.throttled.rate" && scratch.FollowerReplicationThrottledRate < 1 ||
		name == "leader.replication.throttled.rate" && scratch.LeaderReplicationThrottledRate < 1 {
		return fmt.Errorf("%w: %s must be >= 1 (bytes per second)", ErrInvalidValue, name)
	}
	for _, k := range topicKeyList {
		for _, s := range k.Synonyms {
			if s.Name != name {
				continue
			}
			if err := k.validate(scaleSynonym(v, s.Scale)); err != nil {
				return fmt.Errorf("%s (the default of %s): %w", name, k.Name, err)
			}
		}
	}
	return nil
}

// SetDynamic installs the dynamic broker configs in effect; the broker
// calls it whenever the metadata changes them. d's maps are copied.
func (c *Config) SetDynamic(d DynamicBrokerConfigs) {
	c.dynamic.Store(&DynamicBrokerConfigs{Node: maps.Clone(d.Node), Cluster: maps.Clone(d.Cluster)})
}

// Dynamic returns the dynamic broker configs in effect (maps not to be
// modified).
func (c *Config) Dynamic() DynamicBrokerConfigs {
	if d := c.dynamic.Load(); d != nil {
		return *d
	}
	return DynamicBrokerConfigs{}
}

// BrokerValue resolves a broker config with its dynamic layers: its value
// (ok false for an unset nullable config), source, and the synonym list
// DescribeConfigs reports (every layer with a value, strongest first).
func (c *Config) BrokerValue(name string) (value string, source Source, synonyms []SynonymValue, ok bool) {
	synonyms = c.brokerLayers(name, 1)
	if len(synonyms) == 0 {
		src := SourceDefault
		if c.IsSet(name) {
			src = SourceStaticBroker
		}
		return "", src, nil, false
	}
	return synonyms[0].Value, synonyms[0].Source, synonyms, true
}

// brokerLayers returns name's values from the strongest layer to the
// weakest, each converted by scale (a topic config's unit).
func (c *Config) brokerLayers(name string, scale int64) []SynonymValue {
	var out []SynonymValue
	d := c.Dynamic()
	if v, ok := d.Node[name]; ok {
		out = append(out, SynonymValue{name, scaleSynonym(v, scale), SourceDynamicBroker})
	}
	if v, ok := d.Cluster[name]; ok {
		out = append(out, SynonymValue{name, scaleSynonym(v, scale), SourceDynamicDefaultBroker})
	}
	if v, ok := c.Get(name); ok {
		src := SourceDefault
		if c.IsSet(name) {
			src = SourceStaticBroker
		}
		out = append(out, SynonymValue{name, scaleSynonym(v, scale), src})
	}
	return out
}

// scaleSynonym converts a broker synonym's value to the topic config's
// unit (hours to milliseconds, ...), saturating; other values pass as they
// are.
func scaleSynonym(v string, scale int64) string {
	if scale == 1 {
		return v
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return v
	}
	if n > math.MaxInt64/scale {
		return strconv.FormatInt(math.MaxInt64, 10)
	}
	return strconv.FormatInt(n*scale, 10)
}
