package broker

import (
	"errors"
	"sync/atomic"

	"github.com/gregor-log/gregor/internal/partition"
	"github.com/gregor-log/gregor/internal/storage"
)

// fetchState is the broker-wide state of the read side (Fetch, ListOffsets,
// OffsetForLeaderEpoch, DeleteRecords): the cache of incremental fetch
// sessions (KIP-227). Its zero value is ready to use with Kafka's default
// cache size; setFetchSessionCacheSlots applies
// max.incremental.fetch.session.cache.slots.
type fetchState struct {
	fetchSessions fetchSessionCache
	// maxBytes is fetch.max.bytes; 0 means Kafka's default.
	maxBytes atomic.Int32
}

// defaultFetchMaxBytes is Kafka's default fetch.max.bytes (55 MiB).
const defaultFetchMaxBytes = 55 << 20

// setFetchSessionCacheSlots bounds the number of fetch sessions the broker
// keeps (max.incremental.fetch.session.cache.slots); 0 disables sessions.
// Call it before the broker serves requests.
func (f *fetchState) setFetchSessionCacheSlots(n int) { f.fetchSessions.setSlots(n) }

// setFetchMaxBytes sets fetch.max.bytes: the most record bytes one fetch
// response carries, whatever the consumer asks (but still at least one
// batch). It also keeps every response far below the 2 GiB frame limit.
func (f *fetchState) setFetchMaxBytes(n int32) { f.maxBytes.Store(max(n, 1024)) }

func (f *fetchState) fetchMaxBytes() int32 {
	if n := f.maxBytes.Load(); n > 0 {
		return n
	}
	return defaultFetchMaxBytes
}

// errNoPartition is what a partitionSource returns when this broker does
// not host the partition (UNKNOWN_TOPIC_OR_PARTITION).
var errNoPartition = errors.New("broker: unknown topic or partition")

// partitionSource is how the read-side handlers find partitions and topic
// ids. The broker is one (brokerSource); tests use an in-memory fake, so
// the fetch logic (limits, sessions, long poll, encoding) is tested and
// fuzzed without the topic registry or disk.
type partitionSource interface {
	// servedPartition returns errNoPartition when the partition is not here.
	servedPartition(topic string, index int32) (servedPartition, error)
	topicNameByID(id [16]byte) (string, bool)
	topicID(name string) ([16]byte, bool)
}

// servedPartition is the part of *partition.Partition (and its log) that
// the read side uses.
type servedPartition interface {
	HighWatermark() int64
	LastStableOffset() int64
	LogStartOffset() int64
	LogEndOffset() int64
	LeaderEpoch() int32
	IsLeader() bool
	Read(offset int64, maxBytes int32, upTo int64) (storage.Slice, error)
	Watch(w *partition.Waiter)
	Unwatch(w *partition.Waiter)
	DeleteRecordsBefore(offset int64) (logStartOffset int64, err error)

	// From the log (storage.Log).
	OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error)
	MaxTimestamp() (timestamp, offset int64, err error)
	EndOffsetForEpoch(epoch int32) (int32, int64)
}

// brokerSource is the broker as a partitionSource.
type brokerSource struct{ b *Broker }

func (s brokerSource) servedPartition(topic string, index int32) (servedPartition, error) {
	p, err := s.b.partition(topic, index)
	if err != nil {
		if errors.Is(err, errUnknownTopicOrPartition) {
			return nil, errNoPartition
		}
		return nil, err // offline: KAFKA_STORAGE_ERROR
	}
	return partitionWithLog{p}, nil
}

func (s brokerSource) topicNameByID(id [16]byte) (string, bool) { return s.b.topicNameByID(id) }
func (s brokerSource) topicID(name string) ([16]byte, bool)     { return s.b.topicID(name) }

// partitionWithLog adds the log's lookups to a partition. It is comparable
// and equal for the same partition, as the long poll needs.
type partitionWithLog struct{ *partition.Partition }

func (p partitionWithLog) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	return p.Log.OffsetForTimestamp(ts)
}

func (p partitionWithLog) MaxTimestamp() (timestamp, offset int64, err error) {
	return p.Log.MaxTimestamp()
}

func (p partitionWithLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return p.Log.EndOffsetForEpoch(epoch)
}
