package broker

import "github.com/gregor-log/gregor/internal/config"

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

// brokerConfigEntries lists every broker config. They are all read-only:
// dynamic broker configs are not supported yet, a restart applies changes.
func (b *Broker) brokerConfigEntries() []configEntry {
	names := config.BrokerKeys()
	out := make([]configEntry, 0, len(names))
	for _, name := range names {
		typ, doc, _ := config.BrokerKeyInfo(name)
		e := configEntry{name: name, source: config.SourceDefault, readOnly: true, typ: typ, doc: doc}
		if v, ok := b.cfg.Get(name); ok {
			e.value = &v
		}
		if b.cfg.IsSet(name) {
			e.source = config.SourceStaticBroker
		}
		if e.value != nil {
			e.synonyms = []config.SynonymValue{{Name: name, Value: *e.value, Source: e.source}}
		}
		out = append(out, e)
	}
	return out
}
