// Package bench generates load on a Kafka-compatible cluster with franz-go
// and measures it: records/s, MB/s, and latency percentiles.
//
// RunProduce writes records of a fixed size from several producers (one kgo
// client each), for a count or a duration, optionally rate-limited;
// latency is the time from Produce to acknowledgment. RunConsume reads
// from the start of a topic with several consumers (partitions split
// among them), for a count, a duration, or until the HighWatermarks of
// when it started; latency is the age of each record when read (its
// timestamp to now), meaningful when producers run at the same time.
//
// Memory is bounded: latencies go into a fixed-size log-linear Histogram,
// record payloads are one shared buffer, and kgo's buffers are bounded by
// its own limits.
package bench
