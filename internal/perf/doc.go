// Package perf measures Kafka-protocol brokers with the real client
// (franz-go's kgo) and compares Gregor with its peers on one machine.
//
// It owns three things:
//
//   - A load generator: Produce, Consume and EndToEnd take options
//     (records or a duration, record size, rate, acks, compression,
//     producers, linger, idempotence) and return a Result: records/s,
//     MB/s and latency percentiles from a Histogram, a log-bucketed
//     HdrHistogram-like counter of fixed size written here. Result.String
//     prints the one-line summary kafka-producer-perf-test prints.
//     ConsumeKcat reads with librdkafka's consumer (the kcat tool) instead,
//     for a consumer that does not serialise fetching on the application.
//   - Peer runners: Gregor (`gregor serve` as a subprocess, durable and in
//     page-cache mode, and a 3-node rf=3 cluster of three subprocesses
//     whose topics get one empty acks=all warm-up record per partition
//     before the clock starts), NATS JetStream (nats-server as a subprocess, driven
//     by nats.go's jetstream package) and kfake (this binary re-executed
//     as a subprocess, see ServeKfakeChild, so that no peer shares the
//     load generator's heap and garbage collector), each on
//     loopback ports and a temporary directory, plus the machine's own
//     limits (write+fsync, loopback TCP).
//   - Compare: runs every workload against every peer, one peer at a time,
//     repeats each run (at least three times) and writes a markdown report
//     of medians, ratios between peers, and the performance targets met
//     or missed, each table headed by the command that reproduces it.
//
// Contract: every run uses a topic (stream) of its own, created by the
// run; Compare deletes what it created and stops every process it started,
// by PID, also when its context is cancelled. Nothing here asserts a
// timing: tests check counts, and speed is only reported. Memory is
// bounded whatever the run length: histograms are fixed arrays, record
// values come from a fixed ring, and in-flight records are bounded by the
// clients' buffers.
//
// This is the project's only load generator. Entry points: the `gregor
// bench produce|consume|e2e|compare` commands of internal/cli, with the
// flags of Register*Flags (compare benchmarks the running gregor binary),
// and cmd/gregor-bench-peers, Compare with the same flags that builds
// gregor from a checkout first.
package perf
