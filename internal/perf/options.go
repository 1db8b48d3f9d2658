package perf

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrInvalidOptions is wrapped by every option validation error.
var ErrInvalidOptions = errors.New("perf: invalid options")

// Bounds on options: a benchmark asking for more is a typo, and these keep
// the generator's memory bounded (a payload ring is 1024 records).
const (
	maxRecordSize = 16 << 20
	maxProducers  = 256
	maxPartitions = 10000
	maxLinger     = time.Minute
	// e2eHeaderBytes is the prefix of every end-to-end record: the send
	// time (nanoseconds since the run's start) and the sequence number.
	e2eHeaderBytes = 16
)

// ProduceOptions configures Produce. Start from DefaultProduceOptions.
type ProduceOptions struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
	Topic   string
	// Partitions > 0 creates the topic with that many partitions (and
	// replication factor 1) unless it exists; 0 leaves it alone.
	Partitions int32
	// RecordSize is the value size in bytes; records have no key.
	RecordSize int
	// Records stops after this many records; Duration stops after this
	// long. At least one is set; with both, whichever comes first.
	Records  int64
	Duration time.Duration
	// Rate is the target records per second over all producers; 0 is as
	// fast as the broker takes them.
	Rate float64
	// Acks is "0", "1" or "all".
	Acks string
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string
	// Producers is the number of concurrent clients (each its own
	// connection), sharing Records and Rate.
	Producers int
	// Linger is how long a partition's batch waits for more records.
	Linger time.Duration
	// Idempotent enables the idempotent producer; it needs Acks "all".
	Idempotent bool
	// ClientOpts are added to every client (TLS, SASL, ...).
	ClientOpts []kgo.Opt
}

// DefaultProduceOptions returns the defaults: 200,000 records of 1 KiB to
// a one-partition topic "gregor-bench" with acks=all, idempotent, no
// compression, one producer, 5 ms linger (Kafka 4's linger.ms).
func DefaultProduceOptions() ProduceOptions {
	return ProduceOptions{
		Topic:       "gregor-bench",
		Partitions:  1,
		RecordSize:  1024,
		Records:     200_000,
		Acks:        "all",
		Compression: "none",
		Producers:   1,
		Linger:      5 * time.Millisecond,
		Idempotent:  true,
	}
}

// Validate reports the first invalid option, wrapping ErrInvalidOptions.
func (o ProduceOptions) Validate() error {
	if err := checkTarget(o.Brokers, o.Topic, o.Partitions); err != nil {
		return err
	}
	if err := checkStop(o.Records, o.Duration); err != nil {
		return err
	}
	switch {
	case o.RecordSize < 0 || o.RecordSize > maxRecordSize:
		return invalid("record size %d: want 0..%d bytes", o.RecordSize, maxRecordSize)
	case o.Rate < 0:
		return invalid("rate %v: want >= 0 records/s (0 is unlimited)", o.Rate)
	case o.Producers < 1 || o.Producers > maxProducers:
		return invalid("producers %d: want 1..%d", o.Producers, maxProducers)
	case o.Linger < 0 || o.Linger > maxLinger:
		return invalid("linger %v: want 0..%v", o.Linger, maxLinger)
	}
	return checkProducer(o.Acks, o.Compression, o.Idempotent)
}

// ConsumeOptions configures Consume: one client reading every partition
// of Topic from the start, without a group.
type ConsumeOptions struct {
	Brokers []string
	Topic   string
	// Records stops after this many records; Duration stops after this
	// long. At least one is set; with both, whichever comes first.
	Records  int64
	Duration time.Duration
	// FetchMaxPartitionBytes is the most a fetch returns per partition;
	// 0 keeps the client's default (1 MiB, Kafka's).
	FetchMaxPartitionBytes int32
	// FetchStats also times every fetch answer the client reads (see
	// FetchStats): what separates the broker's delivery from the
	// client's own work when a consumer is the bottleneck.
	FetchStats bool
	ClientOpts []kgo.Opt
}

// Validate reports the first invalid option, wrapping ErrInvalidOptions.
func (o ConsumeOptions) Validate() error {
	if err := checkTarget(o.Brokers, o.Topic, 0); err != nil {
		return err
	}
	if o.FetchMaxPartitionBytes < 0 {
		return invalid("fetch max partition bytes %d: want >= 0", o.FetchMaxPartitionBytes)
	}
	return checkStop(o.Records, o.Duration)
}

// E2EOptions configures EndToEnd: one producer at a fixed Rate and one
// consumer reading the same topic; every record carries its send time, and
// the latency is the time from the producer's send to the consumer seeing
// the record.
type E2EOptions struct {
	Brokers    []string
	Topic      string
	Partitions int32 // > 0 creates the topic, as ProduceOptions.Partitions
	// RecordSize is the value size; at least 16 (send time + sequence).
	RecordSize int
	// Rate is the records per second; required (an unlimited producer
	// measures queueing, not latency).
	Rate float64
	// Records and Duration bound the measured part, as in ProduceOptions.
	Records  int64
	Duration time.Duration
	// Warmup records are sent first and left out of the latency figures:
	// they pay for connections and metadata.
	Warmup      int64
	Acks        string
	Compression string
	Idempotent  bool
	ClientOpts  []kgo.Opt
}

// DefaultE2EOptions returns the defaults: 1 KiB records at 1,000 records/s
// for 5 s after 200 warm-up records, acks=all, idempotent, no compression.
func DefaultE2EOptions() E2EOptions {
	return E2EOptions{
		Topic:       "gregor-bench-e2e",
		Partitions:  1,
		RecordSize:  1024,
		Rate:        1000,
		Duration:    5 * time.Second,
		Warmup:      200,
		Acks:        "all",
		Compression: "none",
		Idempotent:  true,
	}
}

// Validate reports the first invalid option, wrapping ErrInvalidOptions.
func (o E2EOptions) Validate() error {
	if err := checkTarget(o.Brokers, o.Topic, o.Partitions); err != nil {
		return err
	}
	if err := checkStop(o.Records, o.Duration); err != nil {
		return err
	}
	switch {
	case o.RecordSize < e2eHeaderBytes || o.RecordSize > maxRecordSize:
		return invalid("record size %d: want %d..%d bytes", o.RecordSize, e2eHeaderBytes, maxRecordSize)
	case o.Rate <= 0:
		return invalid("rate %v: want > 0 records/s", o.Rate)
	case o.Warmup < 0:
		return invalid("warmup %d: want >= 0", o.Warmup)
	}
	return checkProducer(o.Acks, o.Compression, o.Idempotent)
}

func checkTarget(brokers []string, topic string, partitions int32) error {
	switch {
	case len(brokers) == 0:
		return invalid("no brokers")
	case topic == "":
		return invalid("no topic")
	case partitions < 0 || partitions > maxPartitions:
		return invalid("partitions %d: want 0..%d", partitions, maxPartitions)
	}
	for _, b := range brokers {
		if b == "" {
			return invalid("empty broker address")
		}
	}
	return nil
}

// checkProducer checks the producer settings Produce and EndToEnd share.
func checkProducer(acks, compression string, idempotent bool) error {
	if _, err := parseAcks(acks); err != nil {
		return err
	}
	if _, err := ParseCompression(compression); err != nil {
		return err
	}
	if idempotent && acks != "all" {
		return invalid("idempotence needs acks=all, not acks=%s", acks)
	}
	return nil
}

func checkStop(records int64, d time.Duration) error {
	switch {
	case records < 0:
		return invalid("records %d: want >= 0", records)
	case d < 0:
		return invalid("duration %v: want >= 0", d)
	case records == 0 && d == 0:
		return invalid("set a record count or a duration")
	}
	return nil
}

func parseAcks(s string) (kgo.Acks, error) {
	switch s {
	case "0":
		return kgo.NoAck(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "all":
		return kgo.AllISRAcks(), nil
	}
	return kgo.Acks{}, invalid("acks %q: want 0, 1 or all", s)
}

// ParseCompression names a producer batch codec: none (or empty), gzip,
// snappy, lz4 or zstd; any other name is an ErrInvalidOptions. The CLI's
// produce command shares it so both accept the same names.
func ParseCompression(s string) (kgo.CompressionCodec, error) {
	switch s {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, invalid("compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidOptions)
}
