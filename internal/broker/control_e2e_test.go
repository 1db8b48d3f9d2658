package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func controlCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func controlStr(s string) *string { return &s }

func TestApiVersionsAndMetadata(t *testing.T) {
	b := testbroker.Start(t, nil)
	cl := b.Client(t)
	ctx := controlCtx(t)

	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "gregor-test", "1.0"
	avResp, err := av.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if avResp.ErrorCode != 0 || len(avResp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions: error %d, %d keys", avResp.ErrorCode, len(avResp.ApiKeys))
	}
	for i := 1; i < len(avResp.ApiKeys); i++ {
		if avResp.ApiKeys[i-1].ApiKey >= avResp.ApiKeys[i].ApiKey {
			t.Fatalf("ApiVersions keys not sorted: %+v", avResp.ApiKeys)
		}
	}

	md := kmsg.NewPtrMetadataRequest()
	mdResp, err := md.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(mdResp.Brokers) != 1 || mdResp.Brokers[0].NodeID != 1 || mdResp.ControllerID != 1 {
		t.Fatalf("Metadata brokers %+v controller %d", mdResp.Brokers, mdResp.ControllerID)
	}
	if mdResp.ClusterID == nil || len(*mdResp.ClusterID) != 22 {
		t.Fatalf("cluster id %v", mdResp.ClusterID)
	}
}

func TestTopicLifecycle(t *testing.T) {
	b := testbroker.Start(t, nil)
	adm := b.Admin(t)
	ctx := controlCtx(t)

	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": controlStr("60000"), "cleanup.policy": controlStr("compact, delete")}, "orders")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v %s", err, resp.Err, resp.ErrMessage)
	}
	if resp.ID == [16]byte{} || resp.NumPartitions != 3 || resp.ReplicationFactor != 1 {
		t.Fatalf("create response %+v", resp)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := topics["orders"]
	if !ok || len(d.Partitions) != 3 || d.ID != resp.ID {
		t.Fatalf("list: %+v", topics)
	}
	for _, p := range d.Partitions {
		if p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
			t.Fatalf("partition %+v", p)
		}
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"retention.ms":   {"60000", kmsg.ConfigSourceDynamicTopicConfig},
		"cleanup.policy": {"compact,delete", kmsg.ConfigSourceDynamicTopicConfig},
		"segment.bytes":  {"1073741824", kmsg.ConfigSourceDefaultConfig},
		"flush.messages": {"1", kmsg.ConfigSourceDefaultConfig},
		"segment.ms":     {"604800000", kmsg.ConfigSourceDefaultConfig},
	}
	for _, c := range rc.Configs {
		if w, ok := want[c.Key]; ok {
			if c.MaybeValue() != w.value || c.Source != w.source {
				t.Errorf("%s = %q (source %v), want %q (%v)", c.Key, c.MaybeValue(), c.Source, w.value, w.source)
			}
			delete(want, c.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("configs missing: %v", want)
	}

	del, err := adm.DeleteTopics(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := del.Error(); err != nil {
		t.Fatal(err)
	}
	// A fresh client: kgo caches metadata for MetadataMinAge.
	topics, err = b.Admin(t).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("orders") {
		t.Fatalf("topic still listed after delete")
	}
	del, _ = adm.DeleteTopics(ctx, "orders")
	if err := del["orders"].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestCreateTopicErrors(t *testing.T) {
	b := testbroker.Start(t, nil)
	adm := b.Admin(t)
	ctx := controlCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "a.b"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       error
	}{
		{".", 1, 1, nil, kerr.InvalidTopicException},
		{"..", 1, 1, nil, kerr.InvalidTopicException},
		{"has space", 1, 1, nil, kerr.InvalidTopicException},
		{strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"a.b", 1, 1, nil, kerr.TopicAlreadyExists},
		{"a_b", 1, 1, nil, kerr.InvalidTopicException},
		{"zero", 0, 1, nil, kerr.InvalidPartitions},
		{"negative", -5, 1, nil, kerr.InvalidPartitions},
		{"rf3", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"rf0", 1, 0, nil, kerr.InvalidReplicationFactor},
		{"badvalue", 1, 1, map[string]*string{"retention.ms": controlStr("soon")}, kerr.InvalidConfig},
		{"badrange", 1, 1, map[string]*string{"min.insync.replicas": controlStr("0")}, kerr.InvalidConfig},
		{"badenum", 1, 1, map[string]*string{"cleanup.policy": controlStr("forever")}, kerr.InvalidConfig},
		{"unknown", 1, 1, map[string]*string{"no.such.config": controlStr("1")}, kerr.InvalidConfig},
		{"nullvalue", 1, 1, map[string]*string{"retention.ms": nil}, kerr.InvalidConfig},
	} {
		resp, err := adm.CreateTopic(ctx, tc.partitions, tc.rf, tc.configs, tc.name)
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("create %.20q: got %v, want %v", tc.name, err, tc.want)
		}
	}

	// Defaults (-1) and validate-only.
	vr, err := adm.ValidateCreateTopics(ctx, -1, -1, nil, "validated")
	if err != nil || vr["validated"].Err != nil || vr["validated"].NumPartitions != 1 {
		t.Fatalf("validate only: %v %+v", err, vr)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("validated") || len(topics) != 1 {
		t.Fatalf("validate-only created a topic: %v", topics.Names())
	}
}

func TestConfigsRoundTrip(t *testing.T) {
	b := testbroker.Start(t, map[string]string{"log.retention.hours": "24"})
	adm := b.Admin(t)
	ctx := controlCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "cfg"); err != nil {
		t.Fatal(err)
	}
	describe := func() map[string]*kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("cfg", nil)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*kadm.Config{}
		for _, c := range rc.Configs {
			m[c.Key] = &c
		}
		return m
	}
	// The broker's static log.retention.hours shows through as the default.
	ret := describe()["retention.ms"]
	if ret.MaybeValue() != "86400000" || ret.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("retention.ms %+v", ret)
	}
	if len(ret.Synonyms) == 0 || ret.Synonyms[0].Key != "log.retention.hours" {
		t.Fatalf("retention.ms synonyms %+v", ret.Synonyms)
	}

	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: controlStr("1000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: controlStr("compact")},
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: controlStr("2048")},
	}, "cfg")
	if err != nil || alter[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, alter)
	}
	got := describe()
	if got["retention.ms"].MaybeValue() != "1000" || got["cleanup.policy"].MaybeValue() != "delete,compact" ||
		got["max.message.bytes"].MaybeValue() != "2048" {
		t.Fatalf("after incremental alter: %v %v %v", got["retention.ms"], got["cleanup.policy"], got["max.message.bytes"])
	}

	alter, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
		{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: controlStr("delete")},
	}, "cfg")
	if err != nil || alter[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, alter)
	}
	got = describe()
	if got["retention.ms"].MaybeValue() != "86400000" || got["cleanup.policy"].MaybeValue() != "compact" {
		t.Fatalf("after delete/subtract: %v %v", got["retention.ms"], got["cleanup.policy"])
	}

	alter, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: controlStr("1")}}, "cfg")
	if err != nil || !errors.Is(alter[0].Err, kerr.InvalidConfig) {
		t.Fatalf("invalid alter: %v %+v", err, alter)
	}

	// The non-incremental AlterConfigs replaces the whole set.
	alter, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: controlStr("3600000")}}, "cfg")
	if err != nil || alter[0].Err != nil {
		t.Fatalf("alter state: %v %+v", err, alter)
	}
	got = describe()
	if got["segment.ms"].Source != kmsg.ConfigSourceDynamicTopicConfig || got["max.message.bytes"].Source == kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("after alter state: %+v %+v", got["segment.ms"], got["max.message.bytes"])
	}

	// Broker configs: readable; the static ones are not alterable (the
	// dynamic ones: dynamic_configs_e2e_test.go).
	brcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	brc, err := brcs.On("1", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range brc.Configs {
		if c.Key == "log.retention.hours" {
			found = c.MaybeValue() == "24" && c.Source == kmsg.ConfigSourceStaticBrokerConfig
		}
	}
	if !found {
		t.Fatalf("log.retention.hours not described as static 24")
	}
	balter, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: controlStr("3")}}, 1)
	if err != nil || !errors.Is(balter[0].Err, kerr.InvalidRequest) {
		t.Fatalf("broker alter: %v %+v", err, balter)
	}
}

func TestCreatePartitions(t *testing.T) {
	b := testbroker.Start(t, nil)
	adm := b.Admin(t)
	ctx := controlCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	resp, err := adm.UpdatePartitions(ctx, 3, "grow")
	if err != nil || resp["grow"].Err != nil {
		t.Fatalf("grow: %v %+v", err, resp)
	}
	resp, err = adm.UpdatePartitions(ctx, 2, "grow")
	if err != nil || !errors.Is(resp["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v %+v", err, resp)
	}
	resp, err = adm.UpdatePartitions(ctx, 2, "missing")
	if err != nil || !errors.Is(resp["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing: %v %+v", err, resp)
	}
	topics, err := adm.ListTopics(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(topics["grow"].Partitions); n != 3 {
		t.Fatalf("%d partitions, want 3", n)
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	ctx := controlCtx(t)
	b := testbroker.Start(t, map[string]string{"num.partitions": "2"})
	cl := b.Client(t)

	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	for _, name := range []string{"auto", "bad name"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = controlStr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 2 {
		t.Fatalf("topics %+v", resp.Topics)
	}
	if tp := resp.Topics[0]; tp.ErrorCode != 0 || len(tp.Partitions) != 2 || tp.TopicID == [16]byte{} {
		t.Fatalf("auto-created topic %+v", tp)
	}
	if tp := resp.Topics[1]; tp.ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid topic: error %d", tp.ErrorCode)
	}

	// By id (v12), and unknown ids.
	byID := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = resp.Topics[0].TopicID
	unknown := kmsg.NewMetadataRequestTopic()
	unknown.TopicID = [16]byte{1, 2, 3}
	byID.Topics = append(byID.Topics, rt, unknown)
	idResp, err := byID.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if idResp.Topics[0].Topic == nil || *idResp.Topics[0].Topic != "auto" || idResp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("by id: %+v", idResp.Topics)
	}

	off := testbroker.Start(t, map[string]string{"auto.create.topics.enable": "false"})
	resp, err = req.RequestWith(ctx, off.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto-create disabled: error %d", resp.Topics[0].ErrorCode)
	}
}

func TestDescribeClusterAndLogDirs(t *testing.T) {
	b := testbroker.Start(t, map[string]string{"broker.rack": "r1"})
	adm := b.Admin(t)
	ctx := controlCtx(t)

	dc := kmsg.NewPtrDescribeClusterRequest()
	dcResp, err := dc.RequestWith(ctx, b.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if dcResp.ErrorCode != 0 || dcResp.ClusterID == "" || dcResp.ControllerID != 1 || len(dcResp.Brokers) != 1 ||
		dcResp.Brokers[0].Rack == nil || *dcResp.Brokers[0].Rack != "r1" {
		t.Fatalf("describe cluster %+v", dcResp)
	}

	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "dirs"); err != nil {
		t.Fatal(err)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	dirs.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil || d.TotalBytes <= 0 || d.UsableBytes <= 0 {
			t.Errorf("dir %+v", d)
		}
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "dirs" {
				n++
			}
		})
	})
	if n != 2 {
		t.Fatalf("%d partitions of dirs described, want 2", n)
	}
}

func TestRestartKeepsTopics(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx := controlCtx(t)
	adm := b.Admin(t)
	created, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": controlStr("5000")}, "durable")
	if err != nil {
		t.Fatal(err)
	}
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Restart()
	adm = b.Admin(t)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := topics["durable"]; d.ID != created.ID || len(d.Partitions) != 2 {
		t.Fatalf("after restart: %+v", topics)
	}
	md2, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.Cluster != md2.Cluster {
		t.Fatalf("cluster id changed across restart: %s -> %s", md.Cluster, md2.Cluster)
	}
}

// TestKgoClientUsesBroker runs a plain kgo client's metadata path.
func TestKgoClientUsesBroker(t *testing.T) {
	b := testbroker.Start(t, nil)
	cl := b.Client(t, kgo.AllowAutoTopicCreation())
	ctx := controlCtx(t)
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCreateTopicsRequestDetails(t *testing.T) {
	b := testbroker.Start(t, nil)
	cl := b.Client(t)
	ctx := controlCtx(t)
	topic := func(name string, assignment ...[]int32) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
		for p, replicas := range assignment {
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: int32(p), Replicas: replicas})
		}
		return rt
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Topics = append(req.Topics,
		topic("assigned", []int32{1}, []int32{1}),
		topic("other-broker", []int32{2}),
		topic("twice-in-replicas", []int32{1, 1}),
		topic("dup"), topic("dup"),
	)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := []int16{0, kerr.InvalidReplicaAssignment.Code, kerr.InvalidReplicaAssignment.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}
	for i, rt := range resp.Topics {
		if rt.ErrorCode != want[i] {
			t.Errorf("%s: error %d, want %d (%v)", rt.Topic, rt.ErrorCode, want[i], rt.ErrorMessage)
		}
	}
	if r := resp.Topics[0]; r.NumPartitions != 2 || r.ReplicationFactor != 1 || r.TopicID == [16]byte{} || len(r.Configs) == 0 {
		t.Fatalf("created topic: %+v", r)
	}

	// DescribeConfigs with documentation and synonyms, and a wrong broker id.
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.IncludeDocumentation, dc.IncludeSynonyms = true, true
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = kmsg.ConfigResourceTypeTopic, "assigned", []string{"segment.ms"}
	wrong := kmsg.NewDescribeConfigsRequestResource()
	wrong.ResourceType, wrong.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	dc.Resources = append(dc.Resources, res, wrong)
	// Straight to node 1: kgo would route the broker-7 resource to node 7.
	raw, err := cl.Broker(1).Request(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	dcResp := raw.(*kmsg.DescribeConfigsResponse)
	r0 := dcResp.Resources[0]
	if r0.ErrorCode != 0 || len(r0.Configs) != 1 {
		t.Fatalf("describe: %+v", r0)
	}
	c := r0.Configs[0]
	if c.Documentation == nil || *c.Documentation == "" || c.ConfigType != kmsg.ConfigTypeLong || len(c.ConfigSynonyms) != 1 ||
		c.ConfigSynonyms[0].Name != "log.roll.hours" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.ms described as %+v", c)
	}
	if dcResp.Resources[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("wrong broker id: %+v", dcResp.Resources[1])
	}
}
