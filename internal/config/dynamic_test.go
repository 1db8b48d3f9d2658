package config

import (
	"errors"
	"testing"
)

func TestDynamicBrokerConfigsLayer(t *testing.T) {
	c := Default()
	if err := c.Set("log.retention.ms", "5000"); err != nil {
		t.Fatal(err)
	}
	type want struct {
		value  string
		source Source
	}
	cases := []struct {
		name    string
		dynamic DynamicBrokerConfigs
		topic   string
		want    want
	}{
		{"static wins without dynamic values", DynamicBrokerConfigs{}, "retention.ms", want{"5000", SourceStaticBroker}},
		{"cluster default above static", DynamicBrokerConfigs{Cluster: map[string]string{"log.retention.ms": "7000"}}, "retention.ms", want{"7000", SourceDynamicDefaultBroker}},
		{"node above cluster default", DynamicBrokerConfigs{Node: map[string]string{"log.retention.ms": "9000"}, Cluster: map[string]string{"log.retention.ms": "7000"}}, "retention.ms", want{"9000", SourceDynamicBroker}},
		// Kafka resolves synonyms by name first: a dynamic hours value
		// does not beat a static milliseconds one.
		{"a weaker synonym name stays weaker", DynamicBrokerConfigs{Cluster: map[string]string{"log.retention.hours": "1"}}, "retention.ms", want{"5000", SourceStaticBroker}},
		{"scaled like the static value", DynamicBrokerConfigs{Cluster: map[string]string{"log.roll.hours": "2"}}, "segment.ms", want{"7200000", SourceDynamicDefaultBroker}},
		{"max.message.bytes", DynamicBrokerConfigs{Node: map[string]string{"message.max.bytes": "2048"}}, "max.message.bytes", want{"2048", SourceDynamicBroker}},
	}
	for _, tc := range cases {
		c.SetDynamic(tc.dynamic)
		v, src, syns, ok := c.TopicValue(tc.topic, nil)
		if !ok || v != tc.want.value || src != tc.want.source {
			t.Errorf("%s: %s = %q (source %d), want %q (source %d); synonyms %+v", tc.name, tc.topic, v, src, tc.want.value, tc.want.source, syns)
		}
		// A topic override still beats every broker layer.
		if v, src, _, _ := c.TopicValue(tc.topic, map[string]string{tc.topic: "42"}); v != "42" || src != SourceDynamicTopic {
			t.Errorf("%s: override gave %q (source %d)", tc.name, v, src)
		}
	}
	c.SetDynamic(DynamicBrokerConfigs{Cluster: map[string]string{"log.segment.bytes": "1048576"}})
	if s, err := c.TopicSettings(nil); err != nil || s.SegmentBytes != 1048576 {
		t.Fatalf("TopicSettings with a dynamic default: %+v %v", s.SegmentBytes, err)
	}
	if v, src, syns, ok := c.BrokerValue("log.segment.bytes"); !ok || v != "1048576" || src != SourceDynamicDefaultBroker || len(syns) != 2 {
		t.Fatalf("BrokerValue: %q %d %+v %v", v, src, syns, ok)
	}
}

func TestValidateDynamicBrokerConfig(t *testing.T) {
	cases := []struct {
		name, value string
		want        error
	}{
		{"log.retention.ms", "60000", nil},
		{"log.cleanup.policy", "compact,delete", nil},
		{"log.cleanup.policy", "shred", ErrInvalidValue},
		{"log.segment.bytes", "ten", ErrInvalidValue},
		{"num.partitions", "3", ErrInvalidValue}, // static: needs a restart
		{"no.such.config", "1", ErrUnknownKey},
	}
	for _, tc := range cases {
		err := ValidateDynamicBrokerConfig(tc.name, tc.value)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s=%s: %v, want %v", tc.name, tc.value, err, tc.want)
		}
	}
}
