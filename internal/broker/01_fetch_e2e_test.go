package broker_test

// End-to-end tests of the read side (Fetch, ListOffsets, DeleteRecords,
// OffsetForLeaderEpoch) with franz-go against an in-process broker.

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func feCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// feTopic creates a topic and returns its id.
func feTopic(t testing.TB, b *testbroker.Broker, name string, partitions int32) [16]byte {
	t.Helper()
	resp, err := b.Admin(t).CreateTopic(feCtx(t), partitions, 1, nil, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
	return resp.ID
}

// feProduce produces n records "v<first>".."v<first+n-1>" to one partition,
// each with timestamp ts0+i, and waits for them.
func feProduce(t testing.TB, cl *kgo.Client, topic string, partition int32, first, n int, ts0 time.Time) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Topic: topic, Partition: partition,
			Value:     []byte("v" + strconv.Itoa(first+i)),
			Timestamp: ts0.Add(time.Duration(i) * time.Millisecond),
		}
	}
	if err := cl.ProduceSync(feCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// feProducer is a client that produces to the partition records name.
func feProducer(t testing.TB, b *testbroker.Broker) *kgo.Client {
	return b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// feConsume polls until it has n records or the context ends.
func feConsume(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := feCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Errorf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

func feValues(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func feWant(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "v" + strconv.Itoa(first+i)
	}
	return out
}

func feSameValues(got, want []string) bool {
	return fmt.Sprint(got) == fmt.Sprint(want)
}

func TestConsumeFromStartEndAndOffset(t *testing.T) {
	b := testbroker.Start(t, nil)
	feTopic(t, b, "events", 1)
	prod := feProducer(t, b)
	feProduce(t, prod, "events", 0, 0, 50, time.Now())

	// From the start: everything, in order, with offsets.
	start := b.Client(t, kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := feConsume(t, start, 50)
	if !feSameValues(feValues(recs), feWant(0, 50)) {
		t.Fatalf("from start: %v", feValues(recs))
	}
	for i, r := range recs {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}

	// From a given offset.
	at := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"events": {0: kgo.NewOffset().At(42)}}))
	if got := feValues(feConsume(t, at, 8)); !feSameValues(got, feWant(42, 8)) {
		t.Fatalf("from offset 42: %v", got)
	}

	// From the end: only what is produced after the consumer knows the end.
	end := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"events": {0: kgo.NewOffset().AtEnd()}}))
	// The first poll resolves the end offset (ListOffsets) and then waits
	// in a fetch; records produced from now on are the ones it must see.
	pollDone := make(chan []*kgo.Record, 1)
	go func() { pollDone <- feConsume(t, end, 5) }()
	adm := kadm.NewClient(prod)
	for {
		// Produce until the consumer has positioned itself; it must then
		// see exactly the records after its start position.
		feProduce(t, prod, "events", 0, 50, 5, time.Now())
		select {
		case got := <-pollDone:
			ends, err := adm.ListEndOffsets(feCtx(t), "events")
			if err != nil {
				t.Fatal(err)
			}
			last := ends["events"][0].Offset
			first := int(got[0].Offset)
			if int64(first+len(got)) > last || first < 50 {
				t.Fatalf("from end: offsets from %d, %d records, log end %d", first, len(got), last)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestConsumerLongPollWakesOnProduce(t *testing.T) {
	b := testbroker.Start(t, nil)
	quietID := feTopic(t, b, "quiet", 1)
	prod := feProducer(t, b)
	// A raw fetch at the log end parks for up to max_wait (60 s here); a
	// produce must answer it long before that.
	cl := b.Client(t)
	got := make(chan *kmsg.FetchResponse, 1)
	errs := make(chan error, 1)
	go func() {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 60_000, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "quiet", quietID // kgo sends the newest version both sides know
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(feCtx(t), cl.Broker(1))
		if err != nil {
			errs <- err
			return
		}
		got <- resp
	}()
	feProduce(t, prod, "quiet", 0, 0, 1, time.Now())
	deadline := time.After(30 * time.Second) // half of max_wait: woken, not timed out
	select {
	case resp := <-got:
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.HighWatermark != 1 || len(p.RecordBatches) == 0 {
			t.Fatalf("woken fetch: %+v", p)
		}
	case err := <-errs:
		t.Fatal(err)
	case <-deadline:
		t.Fatal("fetch not woken by the produce")
	}

	// The same through a kgo consumer that is already waiting.
	cons := b.Client(t, kgo.ConsumeTopics("quiet"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(60*time.Second))
	feConsume(t, cons, 1)
	done := make(chan []*kgo.Record, 1)
	go func() { done <- feConsume(t, cons, 1) }()
	feProduce(t, prod, "quiet", 0, 1, 1, time.Now())
	select {
	case recs := <-done:
		if !feSameValues(feValues(recs), []string{"v1"}) {
			t.Fatalf("got %v", feValues(recs))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consumer not woken by the produce")
	}
}

func TestConsumeBatchLargerThanFetchLimits(t *testing.T) {
	b := testbroker.Start(t, nil)
	feTopic(t, b, "big", 1)
	prod := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	for i := range 3 {
		if err := prod.ProduceSync(feCtx(t), &kgo.Record{Topic: "big", Value: big, Key: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Limits far below one batch: the consumer still progresses, a batch
	// per fetch.
	cons := b.Client(t, kgo.ConsumeTopics("big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(1000), kgo.FetchMaxPartitionBytes(500))
	recs := feConsume(t, cons, 3)
	for i, r := range recs {
		if len(r.Value) != len(big) || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d, %d bytes", i, r.Offset, len(r.Value))
		}
	}
}

func TestFetchOffsetOutOfRange(t *testing.T) {
	b := testbroker.Start(t, nil)
	shortID := feTopic(t, b, "short", 1)
	prod := feProducer(t, b)
	feProduce(t, prod, "short", 0, 0, 10, time.Now())

	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "short", shortID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = 1000, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(feCtx(t), b.Client(t).Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.OffsetOutOfRange.Code {
		t.Fatalf("error %d, want OFFSET_OUT_OF_RANGE", code)
	}

	// kgo resets per its policy: here to the start.
	cons := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"short": {0: kgo.NewOffset().At(1000)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if got := feValues(feConsume(t, cons, 10)); !feSameValues(got, feWant(0, 10)) {
		t.Fatalf("after reset: %v", got)
	}
}

func TestListOffsetsAndDeleteRecords(t *testing.T) {
	b := testbroker.Start(t, nil)
	feTopic(t, b, "timed", 2)
	prod := feProducer(t, b)
	t0 := time.UnixMilli(1_700_000_000_000)
	// One record per batch: the storage engine finds timestamps per batch
	// for now (see storage.Log.OffsetForTimestamp).
	for i := range 10 {
		feProduce(t, prod, "timed", 0, i, 1, t0.Add(time.Duration(i)*time.Millisecond))
	}
	for i := range 10 {
		feProduce(t, prod, "timed", 0, 10+i, 1, t0.Add(time.Second+time.Duration(i)*time.Millisecond))
	}
	adm := kadm.NewClient(prod)
	ctx := feCtx(t)

	starts, err := adm.ListStartOffsets(ctx, "timed")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "timed")
	if err != nil {
		t.Fatal(err)
	}
	if s, e := starts["timed"][0], ends["timed"][0]; s.Err != nil || e.Err != nil || s.Offset != 0 || e.Offset != 20 || e.LeaderEpoch < 0 {
		t.Fatalf("partition 0: start %+v end %+v", s, e)
	}
	if s, e := starts["timed"][1], ends["timed"][1]; s.Offset != 0 || e.Offset != 0 {
		t.Fatalf("empty partition 1: start %+v end %+v", s, e)
	}

	cases := []struct {
		milli int64
		want  int64
	}{
		{t0.UnixMilli(), 0},
		{t0.UnixMilli() + 5, 5},
		{t0.UnixMilli() + 500, 10},
		{t0.Add(time.Second).UnixMilli() + 9, 19},
		{t0.Add(time.Hour).UnixMilli(), 20}, // none: kadm reports the end offset
	}
	for _, c := range cases {
		after, err := adm.ListOffsetsAfterMilli(ctx, c.milli, "timed")
		if err != nil {
			t.Fatal(err)
		}
		if o := after["timed"][0]; o.Err != nil || o.Offset != c.want {
			t.Errorf("after %d: %+v, want offset %d", c.milli, o, c.want)
		}
	}

	// Max timestamp (KIP-734), raw.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 7
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "timed"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -3
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	loResp, err := lo.RequestWith(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	if p := loResp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 19 || p.Timestamp != t0.Add(time.Second).UnixMilli()+9 {
		t.Fatalf("max timestamp: %+v", p)
	}

	// DeleteRecords moves the start; consumers from the start begin there.
	toDelete := kadm.Offsets{}
	toDelete.Add(kadm.Offset{Topic: "timed", Partition: 0, At: 7})
	del, err := adm.DeleteRecords(ctx, toDelete)
	if err != nil {
		t.Fatal(err)
	}
	if d := del["timed"][0]; d.Err != nil || d.LowWatermark != 7 {
		t.Fatalf("delete records: %+v", d)
	}
	toDelete = kadm.Offsets{}
	toDelete.Add(kadm.Offset{Topic: "timed", Partition: 0, At: 21})
	if del, err = adm.DeleteRecords(ctx, toDelete); err != nil || del["timed"][0].Err != kerr.OffsetOutOfRange {
		t.Fatalf("delete records above the high watermark: %v %+v", err, del["timed"][0])
	}
	starts, err = adm.ListStartOffsets(ctx, "timed")
	if err != nil || starts["timed"][0].Offset != 7 {
		t.Fatalf("start after delete: %v %+v", err, starts["timed"][0])
	}
	cons := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"timed": {0: kgo.NewOffset().AtStart()}}))
	if got := feValues(feConsume(t, cons, 13)); !feSameValues(got, feWant(7, 13)) {
		t.Fatalf("consumed after delete: %v", got)
	}
}

func TestOffsetForLeaderEpochRequest(t *testing.T) {
	b := testbroker.Start(t, nil)
	feTopic(t, b, "epochs", 1)
	prod := feProducer(t, b)
	feProduce(t, prod, "epochs", 0, 0, 4, time.Now())
	ends, err := kadm.NewClient(prod).ListEndOffsets(feCtx(t), "epochs")
	if err != nil {
		t.Fatal(err)
	}
	epoch := ends["epochs"][0].LeaderEpoch
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "epochs"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.CurrentLeaderEpoch, rp.LeaderEpoch = epoch, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(feCtx(t), prod)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LeaderEpoch != epoch || p.EndOffset != 4 {
		t.Fatalf("current epoch: %+v (leader epoch %d)", p, epoch)
	}
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = epoch + 1
	resp, err = req.RequestWith(feCtx(t), prod)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("newer current epoch: %+v", p)
	}
}

func TestFetchSessionOverTheWire(t *testing.T) {
	b := testbroker.Start(t, nil)
	id := feTopic(t, b, "sess", 2)
	prod := feProducer(t, b)
	feProduce(t, prod, "sess", 0, 0, 3, time.Now())
	br := b.Client(t).Broker(1)
	ctx := feCtx(t)

	fetch := func(sessionID, epoch int32, offsets map[int32]int64) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version = 13 // topic ids
		req.MaxBytes, req.SessionID, req.SessionEpoch = 1<<20, sessionID, epoch
		if len(offsets) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = id
			for p := range int32(2) {
				if off, ok := offsets[p]; ok {
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
					rt.Partitions = append(rt.Partitions, rp)
				}
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, br)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("session %d epoch %d: error %d", sessionID, epoch, resp.ErrorCode)
		}
		return resp
	}
	count := func(resp *kmsg.FetchResponse) (partitions int, withRecords []int32) {
		for _, rt := range resp.Topics {
			if rt.TopicID != id {
				t.Fatalf("response topic id %x, want %x", rt.TopicID, id)
			}
			for _, rp := range rt.Partitions {
				partitions++
				if len(rp.RecordBatches) > 0 {
					withRecords = append(withRecords, rp.Partition)
				}
			}
		}
		return partitions, withRecords
	}

	full := fetch(0, 0, map[int32]int64{0: 0, 1: 0})
	if n, recs := count(full); full.SessionID == 0 || n != 2 || fmt.Sprint(recs) != "[0]" {
		t.Fatalf("full fetch: session %d, %d partitions, records in %v", full.SessionID, n, recs)
	}
	sid := full.SessionID
	// The fetcher consumed partition 0 up to 3; nothing else changed.
	if n, _ := count(fetch(sid, 1, map[int32]int64{0: 3})); n != 0 {
		t.Fatalf("idle incremental fetch answered %d partitions", n)
	}
	feProduce(t, prod, "sess", 1, 0, 2, time.Now())
	if n, recs := count(fetch(sid, 2, nil)); n != 1 || fmt.Sprint(recs) != "[1]" {
		t.Fatalf("incremental fetch after produce: %d partitions, records in %v", n, recs)
	}
}
