package broker

import (
	"errors"
	"maps"
	"slices"
	"strconv"

	"github.com/gregor-log/gregor/internal/config"
	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// configEntry is one config as DescribeConfigs and CreateTopics v5+
// report it.
type configEntry struct {
	name     string
	value    *string // nil: not set (a nullable broker config)
	source   config.Source
	readOnly bool
	typ      config.Type
	doc      string
	synonyms []config.SynonymValue
}

// topicConfigEntries lists every topic config of a topic with these
// overrides, sorted by name.
func (b *Broker) topicConfigEntries(overrides map[string]string) []configEntry {
	keys := config.TopicKeys()
	out := make([]configEntry, 0, len(keys))
	for _, k := range keys {
		v, src, syns, _ := b.cfg.TopicValue(k.Name, overrides)
		out = append(out, configEntry{name: k.Name, value: &v, source: src, typ: k.Type, doc: k.Doc, synonyms: syns})
	}
	return out
}

// brokerConfigEntries lists every broker config with its dynamic layers.
// Only the dynamic ones (config.IsDynamicBrokerConfig: the defaults of
// topic configs) are writable; the rest need a restart.
func (b *Broker) brokerConfigEntries() []configEntry {
	names := config.BrokerKeys()
	out := make([]configEntry, 0, len(names))
	for _, name := range names {
		typ, doc, _ := config.BrokerKeyInfo(name)
		e := configEntry{name: name, readOnly: !config.IsDynamicBrokerConfig(name), typ: typ, doc: doc}
		v, src, syns, ok := b.cfg.BrokerValue(name)
		e.source, e.synonyms = src, syns
		if ok {
			e.value = &v
		}
		out = append(out, e)
	}
	return out
}

// clusterDefaultConfigEntries lists the cluster-wide dynamic defaults
// (the broker resource ""): only the configs set there, as in Kafka.
func (b *Broker) clusterDefaultConfigEntries() []configEntry {
	set := b.cfg.Dynamic().Cluster
	out := make([]configEntry, 0, len(set))
	for _, name := range slices.Sorted(maps.Keys(set)) {
		typ, doc, _ := config.BrokerKeyInfo(name)
		v := set[name]
		out = append(out, configEntry{name: name, value: &v, source: config.SourceDynamicDefaultBroker, typ: typ, doc: doc,
			synonyms: []config.SynonymValue{{Name: name, Value: v, Source: config.SourceDynamicDefaultBroker}}})
	}
	return out
}

// dynamicBrokerConfigs are the dynamic broker configs img holds for this
// node: its own resource and the cluster-wide default.
func (b *Broker) dynamicBrokerConfigs(img *metadata.Image) config.DynamicBrokerConfigs {
	return config.DynamicBrokerConfigs{
		Node:    img.BrokerConfigs(strconv.Itoa(int(b.nodeID()))),
		Cluster: img.BrokerConfigs(""),
	}
}

// alterBrokerConfigsLocked computes a broker resource's new dynamic configs
// from its current ones with change, validates them, records the
// difference and applies it to every open partition at once. The caller
// holds controlMu.
func (b *Broker) alterBrokerConfigsLocked(resource string, change func(cur map[string]string) (map[string]string, *apiError), validateOnly bool) *apiError {
	if aerr := b.checkBrokerResource(resource); aerr != nil {
		return aerr
	}
	cur := b.store.Image().BrokerConfigs(resource)
	want, aerr := change(maps.Clone(cur))
	if aerr != nil {
		return aerr
	}
	var records []metadata.Record
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v := want[k]
		if err := config.ValidateDynamicBrokerConfig(k, v); err != nil {
			return brokerConfigError(k, err)
		}
		if old, ok := cur[k]; !ok || old != v {
			records = append(records, &metadata.ConfigRecord{Resource: metadata.ConfigResourceBroker, ResourceName: resource, Name: k, Value: &v})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if _, ok := want[k]; !ok {
			records = append(records, &metadata.ConfigRecord{Resource: metadata.ConfigResourceBroker, ResourceName: resource, Name: k})
		}
	}
	if validateOnly || len(records) == 0 {
		return nil
	}
	if err := b.store.Append(records...); err != nil {
		return b.metadataAppendError(err)
	}
	b.applyDynamicBrokerConfigsLocked()
	return nil
}

// applyDynamicBrokerConfigsLocked installs the image's dynamic broker
// configs and hands every open partition its settings under them: topics
// without their own override follow the new defaults at once. The caller
// holds controlMu (reconcile, which also computes settings, runs under it
// too).
//
// It does nothing when they did not change, so a node following the
// metadata log may call it after every image.
func (b *Broker) applyDynamicBrokerConfigsLocked() {
	next, cur := b.dynamicBrokerConfigs(b.store.Image()), b.cfg.Dynamic()
	if maps.Equal(next.Node, cur.Node) && maps.Equal(next.Cluster, cur.Cluster) {
		return
	}
	b.cfg.SetDynamic(next)
	for _, t := range b.currentRegistry().byName {
		pcfg, err := b.partitionConfig(t.configs)
		if err != nil {
			b.log.Error("topic has an invalid config; using broker defaults for it", "topic", t.name, "err", err)
		}
		for _, r := range t.partitions {
			if r.p != nil {
				r.p.SetConfig(pcfg)
			}
		}
	}
}

// brokerConfigError maps a refused dynamic broker config to Kafka's
// answer: INVALID_REQUEST for a config that is unknown or not dynamic,
// INVALID_CONFIG for a bad value.
func brokerConfigError(name string, err error) *apiError {
	switch {
	case errors.Is(err, config.ErrUnknownKey):
		return errorf(kerr.InvalidRequest, "Unknown broker config: %s.", name)
	case !config.IsDynamicBrokerConfig(name):
		return errorf(kerr.InvalidRequest, "Cannot update these configs dynamically: %s. Set them in the config file, GREGOR_* environment or flags and restart.", name)
	default:
		return errorf(kerr.InvalidConfig, "Invalid value for broker config %s: %v", name, err)
	}
}
