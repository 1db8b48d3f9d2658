package broker_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDynamicBrokerConfigs: the defaults of topic configs change at run
// time for the cluster (resource "") or one node, apply at once to topics
// without their own override, show with Kafka's sources, and survive a
// restart; static broker configs are refused with INVALID_REQUEST.
func TestDynamicBrokerConfigs(t *testing.T) {
	b := testbroker.Start(t, map[string]string{"log.retention.ms": "5000"})
	adm := b.Admin(t)
	ctx := controlCtx(t)
	for _, name := range []string{"plain", "own"} {
		var configs map[string]*string
		if name == "own" {
			configs = map[string]*string{"retention.ms": controlStr("1234")}
		}
		if resp, err := adm.CreateTopic(ctx, 1, 1, configs, name); err != nil || resp.Err != nil {
			t.Fatalf("create %s: %v %v", name, err, resp.Err)
		}
	}
	topicConfig := func(topic, key string) kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rc.Configs {
			if c.Key == key {
				return c
			}
		}
		t.Fatalf("%s has no config %s", topic, key)
		return kadm.Config{}
	}
	brokerConfig := func(node int32, key string) kadm.Config {
		t.Helper()
		var rcs kadm.ResourceConfigs
		var err error
		if node < 0 {
			rcs, err = adm.DescribeBrokerConfigs(ctx)
		} else {
			rcs, err = adm.DescribeBrokerConfigs(ctx, node)
		}
		if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
			t.Fatalf("describe broker %d: %v %+v", node, err, rcs)
		}
		for _, c := range rcs[0].Configs {
			if c.Key == key {
				return c
			}
		}
		t.Fatalf("broker %d has no config %s", node, key)
		return kadm.Config{}
	}

	// The cluster-wide default.
	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "log.retention.ms", Value: controlStr("60000")},
		{Op: kadm.SetConfig, Name: "message.max.bytes", Value: controlStr("2048")},
	})
	if err != nil || resps[0].Err != nil {
		t.Fatalf("alter cluster default: %v %+v", err, resps)
	}
	if c := topicConfig("plain", "retention.ms"); c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("plain retention.ms after the cluster default: %+v", c)
	}
	if c := topicConfig("own", "retention.ms"); c.MaybeValue() != "1234" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("an override must beat the cluster default: %+v", c)
	}
	if c := brokerConfig(1, "log.retention.ms"); c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("broker log.retention.ms: %+v", c)
	}
	if c := brokerConfig(-1, "message.max.bytes"); c.MaybeValue() != "2048" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("cluster default message.max.bytes: %+v", c)
	}
	// The cluster default resource lists only what was set for it.
	if rcs, err := adm.DescribeBrokerConfigs(ctx); err != nil || len(rcs) != 1 || len(rcs[0].Configs) != 2 {
		t.Fatalf("describe the cluster default: %v %+v", err, rcs)
	}

	// Applied live to the open partition: a batch over the new limit is
	// refused.
	cl := b.Client(t, kgo.DefaultProduceTopic("plain"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("x", 4096))}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce over a dynamic message.max.bytes: %v", err)
	}

	// One node's value beats the cluster default.
	resps, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: controlStr("70000")}}, 1)
	if err != nil || resps[0].Err != nil {
		t.Fatalf("alter node 1: %v %+v", err, resps)
	}
	if c := topicConfig("plain", "retention.ms"); c.MaybeValue() != "70000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("plain retention.ms after the node value: %+v", c)
	}

	// Static configs and bad values are refused, nothing is changed.
	for _, c := range []struct {
		name, value string
		want        error
	}{
		{"num.partitions", "3", kerr.InvalidRequest},
		{"no.such.config", "3", kerr.InvalidRequest},
		{"log.retention.ms", "soon", kerr.InvalidConfig},
		{"log.cleanup.policy", "shred", kerr.InvalidConfig},
	} {
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: c.name, Value: controlStr(c.value)}})
		if err != nil || !errors.Is(resps[0].Err, c.want) {
			t.Fatalf("%s=%s: %v %+v, want %v", c.name, c.value, err, resps, c.want)
		}
	}

	// Kept in the metadata: a restart brings them back.
	b.Restart()
	adm = b.Admin(t)
	if c := topicConfig("plain", "retention.ms"); c.MaybeValue() != "70000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("plain retention.ms after a restart: %+v", c)
	}
	cl = b.Client(t, kgo.DefaultProduceTopic("plain"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("x", 4096))}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce over a dynamic message.max.bytes after a restart: %v", err)
	}

	// Deleting them brings the static value back, live.
	if resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.retention.ms"}}, 1); err != nil || resps[0].Err != nil {
		t.Fatalf("delete node value: %v %+v", err, resps)
	}
	if resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.retention.ms"}, {Op: kadm.DeleteConfig, Name: "message.max.bytes"}}); err != nil || resps[0].Err != nil {
		t.Fatalf("delete cluster default: %v %+v", err, resps)
	}
	if c := topicConfig("plain", "retention.ms"); c.MaybeValue() != "5000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("plain retention.ms after deleting the dynamic values: %+v", c)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("x", 4096))}).FirstErr(); err != nil {
		t.Fatalf("produce after deleting the dynamic message.max.bytes: %v", err)
	}
}
