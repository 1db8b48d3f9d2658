package broker_test

import (
	"errors"
	"testing"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDeleteRecordsCompactOnlyTopic: Kafka refuses DeleteRecords with
// POLICY_VIOLATION on a topic whose cleanup.policy lacks delete, where the
// log start belongs to the cleaner; compact,delete topics accept it.
func TestDeleteRecordsCompactOnlyTopic(t *testing.T) {
	b := testbroker.Start(t, nil)
	adm := b.Admin(t)
	ctx := feCtx(t)
	for _, c := range []struct {
		topic, policy string
		want          error
	}{
		{"compacted", "compact", kerr.PolicyViolation},
		{"both", "compact,delete", nil},
		{"deleted", "delete", nil},
	} {
		policy := c.policy
		if resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &policy}, c.topic); err != nil || resp.Err != nil {
			t.Fatalf("create %s: %v %v", c.topic, err, resp.Err)
		}
		cl := b.Client(t, kgo.DefaultProduceTopic(c.topic))
		recs := []*kgo.Record{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", c.topic, err)
		}
		to := kadm.Offsets{}
		to.Add(kadm.Offset{Topic: c.topic, Partition: 0, At: 1})
		resps, err := adm.DeleteRecords(ctx, to)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := resps.Lookup(c.topic, 0)
		if !ok || !errors.Is(r.Err, c.want) && r.Err != c.want {
			t.Fatalf("%s (cleanup.policy=%s): DeleteRecords answered %+v, want error %v", c.topic, c.policy, r, c.want)
		}
		if c.want == nil && r.LowWatermark != 1 {
			t.Fatalf("%s: low watermark %d, want 1", c.topic, r.LowWatermark)
		}
	}
	// Internal topics are the broker's to trim, as in Kafka.
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "deleted", Partition: 0, At: 1, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "g", commit); err != nil {
		t.Fatal(err)
	}
	internal := kadm.Offsets{}
	internal.Add(kadm.Offset{Topic: "__consumer_offsets", Partition: 0, At: -1})
	if resps, err := adm.DeleteRecords(ctx, internal); err != nil {
		t.Fatal(err)
	} else if r, _ := resps.Lookup("__consumer_offsets", 0); !errors.Is(r.Err, kerr.InvalidTopicException) {
		t.Fatalf("DeleteRecords on __consumer_offsets: %+v", r)
	}

	// A partition that does not exist is unknown before it is refused.
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 5000
	req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "compacted", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 7, Offset: 1}}}}
	// Straight to the broker: kgo would answer for a partition it has no
	// leader for without asking.
	resp, err := req.RequestWith(ctx, b.Client(t).Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown partition of a compacted topic: error %d", p.ErrorCode)
	}
}
