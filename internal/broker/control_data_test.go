package broker_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The control plane's effect on data: topics deleted and recreated start
// empty, data and topics survive a restart, and config changes reach the
// open partitions.

func produce(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	for range n {
		if err := cl.ProduceSync(controlCtx(t), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func endOffset(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	offs, err := adm.ListEndOffsets(controlCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %+v", topic, o)
	}
	return o.Offset
}

func TestRecreatedTopicStartsEmpty(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx := controlCtx(t)
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "again"); err != nil {
		t.Fatal(err)
	}
	produce(t, b.Client(t), "again", 5)
	if got := endOffset(t, adm, "again"); got != 5 {
		t.Fatalf("end offset %d, want 5", got)
	}

	// Delete by id (DeleteTopics v6), then recreate under the same name.
	topics, err := adm.ListTopics(ctx, "again")
	if err != nil {
		t.Fatal(err)
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = topics["again"].ID
	del.Topics = append(del.Topics, dt)
	delResp, err := del.RequestWith(ctx, b.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if r := delResp.Topics[0]; r.ErrorCode != 0 || r.Topic == nil || *r.Topic != "again" {
		t.Fatalf("delete by id: %+v", r)
	}

	adm = b.Admin(t) // fresh metadata cache
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "again"); err != nil {
		t.Fatal(err)
	}
	if got := endOffset(t, adm, "again"); got != 0 {
		t.Fatalf("recreated topic has end offset %d", got)
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx := controlCtx(t)
	if _, err := b.Admin(t).CreateTopic(ctx, 1, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}
	produce(t, b.Client(t), "kept", 3)
	b.Restart()
	if got := endOffset(t, b.Admin(t), "kept"); got != 3 {
		t.Fatalf("end offset after restart %d, want 3", got)
	}
	produce(t, b.Client(t), "kept", 1)
	if got := endOffset(t, b.Admin(t), "kept"); got != 4 {
		t.Fatalf("end offset %d, want 4", got)
	}
}

func TestMaxMessageBytesAppliedLive(t *testing.T) {
	b := testbroker.Start(t, nil)
	ctx := controlCtx(t)
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "small"); err != nil {
		t.Fatal(err)
	}
	cl := b.Client(t, kgo.ProducerBatchMaxBytes(1<<20), kgo.RecordRetries(0))
	big := make([]byte, 4000)
	rand.Read(big) // incompressible: kgo compresses batches by default
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: big}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	v := "1000"
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, "small"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "small", Value: big}).FirstErr(); err == nil {
		t.Fatal("a batch above the new max.message.bytes was accepted")
	}
}
