package broker_test

import (
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestListOffsetsByTimestampInsideBatches: ListOffsets for a timestamp
// answers the first RECORD at or after it, as Kafka does, not the first
// offset of the batch holding it. kgo batches records produced together
// (here with a linger), so each batch holds several timestamps.
func TestListOffsetsByTimestampInsideBatches(t *testing.T) {
	b := testbroker.Start(t, nil)
	feTopic(t, b, "inbatch", 1)
	cl := b.Client(t, kgo.DefaultProduceTopic("inbatch"), kgo.ProducerLinger(100*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := feCtx(t)
	t0 := time.UnixMilli(1_700_000_000_000)
	// Two batches of five: offsets 0-4 at t0+0..4 s, 5-9 at t0+10..14 s.
	for batch := range 2 {
		recs := make([]*kgo.Record, 5)
		for i := range recs {
			recs[i] = &kgo.Record{Value: []byte{byte(batch*5 + i)}, Timestamp: t0.Add(time.Duration(batch*10+i) * time.Second)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	for _, c := range []struct {
		at   time.Duration
		want int64
	}{
		{0, 0},
		{3 * time.Second, 3},
		{3*time.Second + time.Millisecond, 4},
		{5 * time.Second, 5}, // between batches: the next batch's first record
		{12 * time.Second, 7},
		{14 * time.Second, 9},
		{15 * time.Second, 10}, // none: kadm reports the end offset
	} {
		lo, err := adm.ListOffsetsAfterMilli(ctx, t0.Add(c.at).UnixMilli(), "inbatch")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := lo.Lookup("inbatch", 0); o.Err != nil || o.Offset != c.want {
			t.Errorf("at t0+%v: %+v, want offset %d", c.at, o, c.want)
		}
	}
	// And kgo's consumer, starting at a timestamp, starts at that record.
	cons := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"inbatch": {0: kgo.NewOffset().AfterMilli(t0.Add(12 * time.Second).UnixMilli())},
	}))
	if got := feConsume(t, cons, 1); got[0].Offset != 7 {
		t.Fatalf("consuming after t0+12s starts at offset %d, want 7", got[0].Offset)
	}
}
