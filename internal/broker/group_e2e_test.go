package broker_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// End-to-end tests of the group coordinator with franz-go: classic groups
// (eager and cooperative), static members, KIP-848 groups, committed
// offsets across consumer and broker restarts, and the admin APIs.

func groupCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// groupBroker starts a broker whose groups rebalance without the initial
// delay, so tests do not wait 3 s per group.
func groupBroker(t *testing.T) *testbroker.Broker {
	return testbroker.Start(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
}

// groupProduce creates topic (if needed) with partitions and produces
// values from..to-1, keyed so that they spread over the partitions.
func groupProduce(t *testing.T, b *testbroker.Broker, topic string, partitions int32, from, to int) {
	t.Helper()
	ctx := groupCtx(t)
	adm := b.Admin(t)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("create topic: %v", err)
	}
	cl := b.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// groupConsumer is a kgo group consumer that records what it read.
type groupConsumer struct {
	cl   *kgo.Client
	mu   sync.Mutex
	seen map[string]int
	// assigned counts partitions currently assigned (from the callbacks).
	assigned int
}

func newGroupConsumer(t *testing.T, b *testbroker.Broker, group, topic string, opts ...kgo.Opt) *groupConsumer {
	gc := &groupConsumer{seen: map[string]int{}}
	base := []kgo.Opt{
		kgo.SeedBrokers(b.Addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			gc.assigned += len(m[topic])
			gc.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			gc.assigned -= len(m[topic])
			gc.mu.Unlock()
			// Commit what was read before giving partitions up.
			_ = cl.CommitMarkedOffsets(ctx)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			gc.assigned -= len(m[topic])
			gc.mu.Unlock()
		}),
		kgo.AutoCommitMarks(),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	gc.cl = cl
	return gc
}

// poll reads until cond holds on what this consumer has seen.
func (gc *groupConsumer) poll(ctx context.Context, t *testing.T, cond func() bool) {
	t.Helper()
	for {
		gc.mu.Lock()
		done := cond()
		gc.mu.Unlock()
		if done {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := gc.cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("timed out; seen %d records", gc.count())
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Logf("fetch error %s/%d: %v", topic, p, err)
			}
		})
		gc.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			gc.seen[string(r.Value)]++
			gc.cl.MarkCommitRecords(r)
		})
		gc.mu.Unlock()
	}
}

// pollOnce polls each consumer briefly, recording what they read; group
// protocols progress (revocations, callbacks) only while clients poll.
func pollOnce(ctx context.Context, t *testing.T, cs ...*groupConsumer) {
	t.Helper()
	for _, gc := range cs {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := gc.cl.PollFetches(pctx)
		cancel()
		gc.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			gc.seen[string(r.Value)]++
			gc.cl.MarkCommitRecords(r)
		})
		gc.mu.Unlock()
	}
	if ctx.Err() != nil {
		t.Fatal("timed out")
	}
}

func (gc *groupConsumer) assignedCount() int {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.assigned
}

func (gc *groupConsumer) count() int {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return len(gc.seen)
}

func (gc *groupConsumer) commit(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := gc.cl.CommitMarkedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// An eager (range) consumer reads, commits and leaves; the next one
// resumes after the committed offsets.
func TestGroupEagerResumeAfterConsumerRestart(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	groupProduce(t, b, "orders", 3, 0, 100)

	c1 := newGroupConsumer(t, b, "g1", "orders", kgo.Balancers(kgo.RangeBalancer()))
	c1.poll(ctx, t, func() bool { return len(c1.seen) == 100 })
	c1.commit(ctx, t)
	c1.cl.Close() // leaves the group

	groupProduce(t, b, "orders", 3, 100, 150)
	c2 := newGroupConsumer(t, b, "g1", "orders", kgo.Balancers(kgo.RangeBalancer()))
	defer c2.cl.Close()
	c2.poll(ctx, t, func() bool { return len(c2.seen) == 50 })
	for v := range c2.seen {
		if n, _ := strconv.Atoi(v); n < 100 {
			t.Fatalf("second consumer re-read %s, committed before", v)
		}
	}

	adm := b.Admin(t)
	dg, err := adm.DescribeGroups(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	g := dg["g1"]
	if g.State != "Stable" || g.Protocol != "range" || g.ProtocolType != "consumer" || len(g.Members) != 1 {
		t.Fatalf("describe: %+v", g)
	}
}

// Two cooperative-sticky consumers share the partitions; every record is
// read, and when one leaves the other takes its partitions over.
func TestGroupCooperativeSticky(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	groupProduce(t, b, "events", 4, 0, 40)

	opts := []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.HeartbeatInterval(300 * time.Millisecond)}
	c1 := newGroupConsumer(t, b, "coop", "events", opts...)
	defer c1.cl.Close()
	c1.poll(ctx, t, func() bool { return c1.assigned == 4 })
	c2 := newGroupConsumer(t, b, "coop", "events", opts...)
	defer c2.cl.Close()
	// Both poll until the partitions are split between them.
	for {
		a1, a2 := c1.assignedCount(), c2.assignedCount()
		if a1+a2 == 4 && a1 > 0 && a2 > 0 {
			break
		}
		pollOnce(ctx, t, c1, c2)
	}
	groupProduce(t, b, "events", 4, 40, 200)
	total := func() int {
		all := map[string]bool{}
		for _, c := range []*groupConsumer{c1, c2} {
			c.mu.Lock()
			for v := range c.seen {
				all[v] = true
			}
			c.mu.Unlock()
		}
		return len(all)
	}
	for total() < 200 {
		pollOnce(ctx, t, c1, c2)
	}
	c2.commit(ctx, t)
	c2.cl.Close()
	c1.poll(ctx, t, func() bool { return c1.assigned == 4 })
}

// A static member (group.instance.id) that restarts within its session
// timeout takes its place back without the group rebalancing.
func TestGroupStaticMember(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	groupProduce(t, b, "static", 2, 0, 10)
	opts := []kgo.Opt{kgo.InstanceID("instance-1"), kgo.SessionTimeout(30 * time.Second), kgo.Balancers(kgo.RangeBalancer())}
	c1 := newGroupConsumer(t, b, "sg", "static", opts...)
	c1.poll(ctx, t, func() bool { return len(c1.seen) == 10 })
	c1.commit(ctx, t)
	adm := b.Admin(t)
	before, err := adm.DescribeGroups(ctx, "sg")
	if err != nil {
		t.Fatal(err)
	}
	c1.cl.Close() // a static member does not leave on close

	after, err := adm.DescribeGroups(ctx, "sg")
	if err != nil {
		t.Fatal(err)
	}
	if m := after["sg"].Members; len(m) != 1 || m[0].InstanceID == nil || *m[0].InstanceID != "instance-1" {
		t.Fatalf("static member gone after close: %+v", after["sg"])
	}
	groupProduce(t, b, "static", 2, 10, 20)
	c2 := newGroupConsumer(t, b, "sg", "static", opts...)
	defer c2.cl.Close()
	c2.poll(ctx, t, func() bool { return len(c2.seen) == 10 })
	again, err := adm.DescribeGroups(ctx, "sg")
	if err != nil {
		t.Fatal(err)
	}
	g := again["sg"]
	if len(g.Members) != 1 || g.Members[0].MemberID == before["sg"].Members[0].MemberID || g.State != "Stable" {
		t.Fatalf("after the static restart: %+v", g)
	}
}

// KIP-848: franz-go with ServerSideBalancer uses ConsumerGroupHeartbeat;
// two members split the partitions and read everything.
func TestGroupKIP848(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	groupProduce(t, b, "next", 4, 0, 40)
	opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}
	c1 := newGroupConsumer(t, b, "g848", "next", opts...)
	defer c1.cl.Close()
	c1.poll(ctx, t, func() bool { return len(c1.seen) == 40 })
	c1.commit(ctx, t)
	c2 := newGroupConsumer(t, b, "g848", "next", opts...)
	defer c2.cl.Close()
	adm := b.Admin(t)
	for {
		pollOnce(ctx, t, c1, c2)
		dcg, err := adm.DescribeConsumerGroups(ctx, "g848")
		if err == nil {
			g := dcg["g848"]
			if g.State == "Stable" && len(g.Members) == 2 && len(g.Members[0].Assignment) > 0 && len(g.Members[1].Assignment) > 0 {
				if g.AssignorName != "uniform" {
					t.Fatalf("assignor %q", g.AssignorName)
				}
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("KIP-848 group never shared its partitions: %+v %v", dcg, err)
		}
	}
	groupProduce(t, b, "next", 4, 40, 80)
	for c1.count()+c2.count() < 80 {
		pollOnce(ctx, t, c1, c2)
	}
	lg, err := adm.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lg["g848"]; !ok {
		t.Fatalf("list by type consumer: %+v", lg)
	}
	c1.commit(ctx, t)
	c2.commit(ctx, t)
	offs, err := adm.FetchOffsets(ctx, "g848")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != 80 {
		t.Fatalf("committed offsets sum to %d, want 80", sum)
	}
}

// Committed offsets survive a broker restart, and a consumer resumes after
// them on the new broker.
func TestGroupOffsetsSurviveBrokerRestart(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	groupProduce(t, b, "durable", 3, 0, 30)
	c1 := newGroupConsumer(t, b, "rg", "durable")
	c1.poll(ctx, t, func() bool { return len(c1.seen) == 30 })
	c1.commit(ctx, t)
	c1.cl.Close()
	adm := b.Admin(t)
	before, err := adm.FetchOffsets(ctx, "rg")
	if err != nil {
		t.Fatal(err)
	}

	b.Restart()
	adm = b.Admin(t)
	var after kadm.OffsetResponses
	for {
		after, err = adm.FetchOffsets(ctx, "rg")
		if err == nil && after.Ok() {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("fetch offsets after restart: %v", err)
		}
	}
	before.Each(func(o kadm.OffsetResponse) {
		a, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("%s/%d: %d before the restart, %+v after", o.Topic, o.Partition, o.At, a)
		}
	})
	groupProduce(t, b, "durable", 3, 30, 45)
	c2 := newGroupConsumer(t, b, "rg", "durable")
	defer c2.cl.Close()
	c2.poll(ctx, t, func() bool { return len(c2.seen) == 15 })
	for v := range c2.seen {
		if n, _ := strconv.Atoi(v); n < 30 {
			t.Fatalf("re-read %s after the restart", v)
		}
	}
}

// The admin APIs: list, describe, offset deletion refused while the group
// consumes the topic, group deletion refused while it has members.
func TestGroupAdmin(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	groupProduce(t, b, "adm", 2, 0, 10)
	c := newGroupConsumer(t, b, "ag", "adm")
	c.poll(ctx, t, func() bool { return len(c.seen) == 10 })
	c.commit(ctx, t)
	adm := b.Admin(t)

	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := lg["ag"]; !ok || g.State != "Stable" || g.ProtocolType != "consumer" {
		t.Fatalf("list: %+v", lg)
	}
	del, err := adm.DeleteOffsets(ctx, "ag", kadm.TopicsSet{"adm": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(del["adm"][0], kerr.GroupSubscribedToTopic) {
		t.Fatalf("delete offsets of a consumed topic: %v", del["adm"][0])
	}
	dr, err := adm.DeleteGroups(ctx, "ag")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dr["ag"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("delete a group with members: %v", dr["ag"].Err)
	}
	c.cl.Close()
	del, err = adm.DeleteOffsets(ctx, "ag", kadm.TopicsSet{"adm": {0: {}}})
	if err != nil || del["adm"][0] != nil {
		t.Fatalf("delete offsets of an empty group: %v %v", err, del)
	}
	dr, err = adm.DeleteGroups(ctx, "ag", "nope")
	if err != nil {
		t.Fatal(err)
	}
	if dr["ag"].Err != nil || !errors.Is(dr["nope"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete: %+v", dr)
	}
	offs, err := adm.FetchOffsets(ctx, "ag")
	if err != nil || len(offs) != 0 {
		t.Fatalf("offsets of a deleted group: %v %+v", err, offs)
	}

	// FindCoordinator v4, batched, with a transaction key.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"a", "b"}
	cl := b.Client(t)
	fr, err := fc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.Coordinators) != 2 || fr.Coordinators[0].ErrorCode != 0 || fr.Coordinators[0].NodeID != 1 || fr.Coordinators[1].Port == 0 {
		t.Fatalf("find coordinator: %+v", fr)
	}
	fc.CoordinatorType = 1
	fr, err = fc.RequestWith(ctx, cl)
	if err != nil || fr.Coordinators[0].ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code { // fatal, so clients do not retry forever
		t.Fatalf("transaction coordinator: %+v %v", fr, err)
	}
}

// A KIP-848 consumer goes on after a broker restart: its member is gone
// (KIP-848 membership is not persisted), so it rejoins under a new member
// id and resumes from the committed offsets.
func TestGroupKIP848AcrossBrokerRestart(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	groupProduce(t, b, "next2", 2, 0, 20)
	c := newGroupConsumer(t, b, "g848r", "next2", kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()))
	defer c.cl.Close()
	c.poll(ctx, t, func() bool { return len(c.seen) == 20 })
	c.commit(ctx, t)
	b.Restart()
	groupProduce(t, b, "next2", 2, 20, 40)
	c.poll(ctx, t, func() bool { return len(c.seen) == 40 })
	for v, n := range c.seen {
		if n > 1 {
			t.Errorf("value %s read %d times", v, n)
		}
	}
}

// A static KIP-848 member (group.instance.id) that restarts leaves with
// epoch -2 and its successor takes its partitions back at once.
func TestGroupKIP848StaticMember(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	groupProduce(t, b, "st848", 2, 0, 10)
	opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()), kgo.InstanceID("inst")}
	c1 := newGroupConsumer(t, b, "s848", "st848", opts...)
	c1.poll(ctx, t, func() bool { return len(c1.seen) == 10 })
	c1.commit(ctx, t)
	adm := b.Admin(t)
	before, err := adm.DescribeConsumerGroups(ctx, "s848")
	if err != nil {
		t.Fatal(err)
	}
	c1.cl.Close()
	groupProduce(t, b, "st848", 2, 10, 20)
	c2 := newGroupConsumer(t, b, "s848", "st848", opts...)
	defer c2.cl.Close()
	c2.poll(ctx, t, func() bool { return len(c2.seen) == 10 })
	after, err := adm.DescribeConsumerGroups(ctx, "s848")
	if err != nil {
		t.Fatal(err)
	}
	g0, g1 := before["s848"], after["s848"]
	if len(g1.Members) != 1 || g1.Members[0].MemberID == g0.Members[0].MemberID || g1.Epoch != g0.Epoch {
		t.Fatalf("static restart: before %+v after %+v", g0, g1)
	}
}
