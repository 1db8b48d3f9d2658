package perf

import (
	"strings"

	"github.com/spf13/pflag"
)

// RegisterCompareFlags binds Compare's options to flags of fs, for
// `gregor bench compare` and cmd/gregor-bench-peers alike. Flags left
// unset keep o's fields zero, so Compare applies its defaults (and
// --quick can change them); pass a zero CompareOptions.
func RegisterCompareFlags(fs *pflag.FlagSet, o *CompareOptions) {
	fs.StringVar(&o.GregorBinary, "gregor", o.GregorBinary, "gregor binary to benchmark (default: go build ./cmd/gregor of --source-dir)")
	fs.StringVar(&o.SourceDir, "source-dir", o.SourceDir, `module root to build gregor from (default ".")`)
	fs.StringVar(&o.WorkDir, "work-dir", o.WorkDir, "directory for the peers' data; put it on the disk under test (default: the system temporary directory)")
	fs.StringVar(&o.NATSServer, "nats-server", o.NATSServer, "nats-server binary (default: nats-server on PATH; missing skips NATS)")
	fs.StringVar(&o.Kcat, "kcat", o.Kcat, "kcat binary for the consume-librdkafka workload (default: kcat on PATH; missing skips that workload)")
	fs.StringSliceVar(&o.Peers, "peers", o.Peers, "peers to run (default all): "+strings.Join(AllPeers, ","))
	fs.StringSliceVar(&o.Kinds, "workloads", o.Kinds, "workloads to run (default all): "+strings.Join(AllKinds, ","))
	fs.Int64Var(&o.Records, "records", o.Records, "records per throughput run (default 200000, 20000 with --quick)")
	fs.IntVar(&o.Repetitions, "reps", o.Repetitions, "repetitions of every run; figures are medians (default 3, at least 3)")
	fs.IntSliceVar(&o.RecordSizes, "sizes", o.RecordSizes, "record value sizes in bytes (default 1024,100)")
	fs.IntSliceVar(&o.Partitions, "partitions", o.Partitions, "partition counts (default 1,16)")
	fs.StringSliceVar(&o.Acks, "acks", o.Acks, "acks of the produce runs, all or 1 (default all,1); the first is used by the other workloads")
	fs.Int32Var(&o.FetchMaxPartitionBytes, "fetch-max-partition-bytes", o.FetchMaxPartitionBytes, "consumers' most bytes per partition per fetch, for every Kafka-protocol peer (default: the client's, 1 MiB)")
	fs.Float64Var(&o.E2ERate, "e2e-rate", o.E2ERate, "end-to-end rate in records/s (default 1000)")
	fs.DurationVar(&o.E2EDuration, "e2e-duration", o.E2EDuration, "how long each end-to-end run measures (default 5s, 2s with --quick)")
	fs.BoolVar(&o.Quick, "quick", o.Quick, "smaller defaults for a smoke run of a few minutes")
}

// RegisterProduceFlags binds ProduceOptions (all but Brokers and
// ClientOpts, which the caller resolves) to flags of fs, with o's values
// as defaults: start from DefaultProduceOptions.
func RegisterProduceFlags(fs *pflag.FlagSet, o *ProduceOptions) {
	fs.StringVar(&o.Topic, "topic", o.Topic, "topic to produce to")
	fs.Int32Var(&o.Partitions, "partitions", o.Partitions, "create the topic with this many partitions if missing (0: do not create)")
	fs.IntVar(&o.RecordSize, "record-size", o.RecordSize, "record value size in bytes")
	fs.Int64Var(&o.Records, "records", o.Records, "records to send (0: until --duration)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long to send (0: until --records)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "records/s over all producers (0: unlimited)")
	fs.StringVar(&o.Acks, "acks", o.Acks, "0, 1 or all")
	fs.StringVar(&o.Compression, "compression", o.Compression, "none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&o.Producers, "producers", o.Producers, "concurrent producer clients")
	fs.DurationVar(&o.Linger, "linger", o.Linger, "how long a batch waits for more records")
	fs.BoolVar(&o.Idempotent, "idempotent", o.Idempotent, "idempotent producer (needs --acks all)")
}

// RegisterConsumeFlags binds ConsumeOptions (all but Brokers and
// ClientOpts) to flags of fs, with o's values as defaults.
func RegisterConsumeFlags(fs *pflag.FlagSet, o *ConsumeOptions) {
	fs.StringVar(&o.Topic, "topic", o.Topic, "topic to read from the start")
	fs.Int64Var(&o.Records, "records", o.Records, "records to read (0: until --duration)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long to read (0: until --records)")
	fs.Int32Var(&o.FetchMaxPartitionBytes, "fetch-max-partition-bytes", o.FetchMaxPartitionBytes, "most bytes per partition per fetch (0: client default, 1 MiB)")
	fs.BoolVar(&o.FetchStats, "fetch-stats", o.FetchStats, "also print how many fetch answers were read, their median size, and how long reading each took")
}

// RegisterE2EFlags binds E2EOptions (all but Brokers and ClientOpts) to
// flags of fs, with o's values as defaults: start from DefaultE2EOptions.
func RegisterE2EFlags(fs *pflag.FlagSet, o *E2EOptions) {
	fs.StringVar(&o.Topic, "topic", o.Topic, "topic to produce to and consume from")
	fs.Int32Var(&o.Partitions, "partitions", o.Partitions, "create the topic with this many partitions if missing (0: do not create)")
	fs.IntVar(&o.RecordSize, "record-size", o.RecordSize, "record value size in bytes (at least 16)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "records/s")
	fs.Int64Var(&o.Records, "records", o.Records, "records to measure (0: until --duration)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long to measure (0: until --records)")
	fs.Int64Var(&o.Warmup, "warmup", o.Warmup, "records sent first and left out of the figures")
	fs.StringVar(&o.Acks, "acks", o.Acks, "0, 1 or all")
	fs.StringVar(&o.Compression, "compression", o.Compression, "none, gzip, snappy, lz4 or zstd")
	fs.BoolVar(&o.Idempotent, "idempotent", o.Idempotent, "idempotent producer (needs --acks all)")
}
