package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-log/gregor/internal/metadata"
	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/record"
	"github.com/gregor-log/gregor/internal/storage"
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce, v3..v11: v3 is the first version carrying v2 record batches
// (Kafka 4's baseline), v5 adds LogStartOffset, v8 the error message and
// KIP-467 record errors, v9 flexible encoding, v10 (KIP-951) the leader
// hints: a partition answered NOT_LEADER_OR_FOLLOWER names the leader the
// metadata image knows (CurrentLeader) and the response carries its
// endpoint (NodeEndpoints), see leader_hints.go. v11 adds no field: it
// only lets the broker answer an unverified transactional produce with
// TRANSACTION_ABORTABLE (KIP-890), and transactional batches are refused
// here at every version. v12 is not advertised: it is the version whose
// produce implicitly adds the partition to a transaction (KIP-890 part 2),
// and v13 names topics by id.
//
// Each partition is handed to partition.Produce, which validates every batch
// before writing anything; several partitions of one request are appended
// concurrently (at most produceParallelism at a time) and answered in
// request order. acks=-1 waits at most timeout_ms for the high watermark
// (REQUEST_TIMED_OUT after). acks=0 gets no response; if any partition
// failed, the connection is closed instead, as Kafka does, so the producer
// notices.
func init() { register(kmsg.Produce, 3, produceMaxVersion, handleProduce) }

// produceMaxVersion is the newest Produce version served.
const produceMaxVersion = 11

// produceParallelism bounds the goroutines one produce request uses.
const produceParallelism = 8

// errAcksZeroFailed closes the connection of an acks=0 producer whose
// request failed somewhere: it reads no response, so that is the only
// signal it gets.
var errAcksZeroFailed = errors.New("broker: acks=0 produce failed")

// produceJob is one partition of a produce request and the slot of its answer.
type produceJob struct {
	topic   string
	records []byte
	out     *kmsg.ProduceResponseTopicPartition
	pending *partition.PendingProduce // written, waiting for produceFinish
}

func handleProduce(ctx context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(r.Topics))
	var jobs []produceJob
	for i, rt := range r.Topics {
		t := &resp.Topics[i]
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			p := &t.Partitions[j]
			*p = kmsg.NewProduceResponseTopicPartition()
			p.Partition = rp.Partition
			p.BaseOffset, p.LogAppendTime, p.LogStartOffset = -1, -1, -1
			jobs = append(jobs, produceJob{topic: rt.Topic, records: rp.Records, out: p})
		}
	}

	switch r.Acks {
	case -1, 0, 1:
	default:
		for _, j := range jobs {
			setProduceError(j.out, r.Version, kerr.InvalidRequiredAcks, "acks must be -1, 0 or 1")
		}
		return produceAnswer(resp, r.Acks, b.store.Image)
	}
	var deadline time.Time
	if r.Acks == -1 {
		deadline = time.Now().Add(time.Duration(max(r.TimeoutMillis, 0)) * time.Millisecond)
	}
	// Writes happen now, in request order; the waits (fsync, ISR) happen
	// in the answer, so the connection's next request is written while
	// this one waits and one fsync can cover both.
	forEachJob(jobs, func(j *produceJob) { b.produceStart(j, r.Version, r.Acks) })
	finish := func() (any, error) {
		wctx := ctx
		if r.Acks == -1 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		forEachJob(jobs, func(j *produceJob) { b.produceFinish(wctx, j, r.Version) })
		return produceAnswer(resp, r.Acks, b.store.Image)
	}
	if r.Acks == 0 {
		return finish()
	}
	return wire.Deferred(finish), nil
}

// forEachJob runs f on every job, in parallel when there are several.
func forEachJob(jobs []produceJob, f func(*produceJob)) {
	if len(jobs) == 1 {
		f(&jobs[0])
		return
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(len(jobs), produceParallelism) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(jobs)); i = next.Add(1) - 1 {
				f(&jobs[i])
			}
		})
	}
	wg.Wait()
}

// produceAnswer returns the response, with leader hints for the
// partitions this node does not lead, or for acks=0 nothing (or a closed
// connection if anything failed).
func produceAnswer(resp *kmsg.ProduceResponse, acks int16, img func() *metadata.Image) (any, error) {
	if acks != 0 {
		addProduceLeaderHints(resp, img)
		return resp, nil
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return nil, errAcksZeroFailed
			}
		}
	}
	return nil, nil
}

// produceStart validates and writes one partition's records (in request
// order, on the connection's goroutine); produceFinish waits for them.
func (b *Broker) produceStart(j *produceJob, version, acks int16) {
	if isInternalTopic(j.topic) {
		// Only the broker writes its internal topics (the group
		// coordinator appends to the partition directly): a client's
		// record there could forge or erase a group's offsets at the
		// next load. Kafka refuses the same way.
		setProduceError(j.out, version, kerr.InvalidTopicException, "Cannot append to internal topic "+j.topic)
		return
	}
	p, err := b.partition(j.topic, j.out.Partition)
	if err != nil {
		if errors.Is(err, errUnknownTopicOrPartition) {
			setProduceError(j.out, version, kerr.UnknownTopicOrPartition, "")
		} else if errors.Is(err, partition.ErrNotLeader) {
			// A cluster's partition with no replica on this broker.
			setProduceError(j.out, version, kerr.NotLeaderForPartition, "")
		} else {
			b.log.Warn("produce to an offline partition", "topic", j.topic, "partition", j.out.Partition, "err", err)
			setProduceError(j.out, version, kerr.KafkaStorageError, "partition offline")
		}
		return
	}
	if version < 7 && hasZstd(j.records) {
		// zstd arrived with produce v7 (KIP-110); older requests may not use it.
		setProduceError(j.out, version, kerr.UnsupportedCompressionType, "zstd needs produce v7 or later")
		return
	}
	w, err := p.ProduceStart(j.records, acks)
	if err != nil {
		setProducePartitionError(b, j, version, err)
		return
	}
	j.pending = w
}

// produceFinish waits for a written partition and fills its answer.
func (b *Broker) produceFinish(ctx context.Context, j *produceJob, version int16) {
	if j.pending == nil {
		return
	}
	res, err := j.pending.Wait(ctx)
	if err != nil {
		setProducePartitionError(b, j, version, err)
		if res.BaseOffset < 0 {
			return
		}
		// acks=-1 timed out after the append: Kafka still reports where
		// the data went, with the error.
	}
	j.out.BaseOffset = res.BaseOffset
	j.out.LogAppendTime = res.LogAppendTime
	j.out.LogStartOffset = res.LogStartOffset
}

func setProducePartitionError(b *Broker, j *produceJob, version int16, err error) {
	code, msg := produceErrorCode(err)
	if code == kerr.KafkaStorageError {
		b.log.Error("produce failed", "topic", j.topic, "partition", j.out.Partition, "err", err)
	}
	setProduceError(j.out, version, code, msg)
	var re *partition.RecordError
	if version >= 8 && errors.As(err, &re) {
		e := kmsg.NewProduceResponseTopicPartitionErrorRecord()
		e.RelativeOffset = re.Index
		m := re.Err.Error()
		e.ErrorMessage = &m
		j.out.ErrorRecords = append(j.out.ErrorRecords, e)
	}
}

// hasZstd reports whether any batch in records is zstd-compressed. Bytes
// that do not parse are left to partition.Produce to refuse.
func hasZstd(records []byte) bool {
	for len(records) > 0 {
		h, err := record.ReadHeader(records)
		if err != nil || h.Size() > len(records) {
			return false
		}
		if h.Codec() == record.CodecZstd {
			return true
		}
		records = records[h.Size():]
	}
	return false
}

// produceErrorCode maps an error of partition.Produce to its Kafka code and
// the message the response carries (v8+). Storage failures get a generic
// message: their details (paths) are for the broker's log.
func produceErrorCode(err error) (*kerr.Error, string) {
	code := kerr.KafkaStorageError
	switch {
	case errors.Is(err, partition.ErrMessageTooLarge), errors.Is(err, record.ErrTooLarge):
		code = kerr.MessageTooLarge
	case errors.Is(err, partition.ErrInvalidRecord), errors.Is(err, record.ErrInvalidRecord):
		code = kerr.InvalidRecord
	case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrShort), errors.Is(err, record.ErrUnsupportedMagic):
		code = kerr.CorruptMessage
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		code = kerr.OutOfOrderSequenceNumber
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		code = kerr.InvalidProducerEpoch
	case errors.Is(err, partition.ErrUnknownProducerID):
		code = kerr.UnknownProducerID
	case errors.Is(err, partition.ErrInvalidTimestamp):
		code = kerr.InvalidTimestamp
	case errors.Is(err, partition.ErrNotEnoughReplicas):
		code = kerr.NotEnoughReplicas
	case errors.Is(err, partition.ErrNotEnoughReplicasAfterAppend):
		code = kerr.NotEnoughReplicasAfterAppend
	case errors.Is(err, partition.ErrTransactionsDisabled):
		return kerr.TransactionalIDAuthorizationFailed, "transactions are not supported yet"
	case errors.Is(err, partition.ErrNotLeader), errors.Is(err, partition.ErrClosed), errors.Is(err, storage.ErrClosed):
		// Closed: the topic is being deleted or the broker shuts down.
		// Retriable, and it sends the client back to Metadata.
		code = kerr.NotLeaderForPartition
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = kerr.RequestTimedOut
	default:
		return code, "storage error"
	}
	return code, err.Error()
}

func setProduceError(p *kmsg.ProduceResponseTopicPartition, version int16, code *kerr.Error, msg string) {
	p.ErrorCode = code.Code
	if version >= 8 && msg != "" {
		p.ErrorMessage = &msg
	}
}
