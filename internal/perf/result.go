package perf

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// mib is the "MB" of kafka-producer-perf-test: throughput in bytes per
// second divided by 2^20.
const mib = 1 << 20

// Result is what one run measured.
type Result struct {
	// Records and Bytes are what was acknowledged (produce), read
	// (consume) or measured (end to end); Bytes counts record values.
	Records int64
	Bytes   int64
	// Elapsed is the measured wall time of the run.
	Elapsed time.Duration
	// Latency is send→ack for produce, send→consume for end to end, one
	// write+fsync for the disk probe; empty for consume.
	Latency Summary
	// Fetches is set by a consume run with ConsumeOptions.FetchStats.
	Fetches *FetchStats
}

// FetchStats describes the fetch answers a consumer read. Read is the time
// from the first byte of an answer's size to its last byte: the client's
// copying out of the socket plus its wait for bytes the broker has not
// sent yet. Against a consumer's whole time per fetch it shows how much of
// the run the broker's delivery took.
type FetchStats struct {
	Count       uint64
	MedianBytes int64
	Read        Summary
}

// String prints the stats on one line.
func (s FetchStats) String() string {
	return fmt.Sprintf("%d fetch answers, %d bytes median; reading one took %s ms 50th, %s ms 99th, %s ms max",
		s.Count, s.MedianBytes, ms(s.Read.P50), ms(s.Read.P99), ms(s.Read.Max))
}

// RecordsPerSec returns the record throughput.
func (r Result) RecordsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Records) / r.Elapsed.Seconds()
}

// MiBPerSec returns the value throughput in MiB/s (what Kafka's perf tools
// print as "MB/sec").
func (r Result) MiBPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / mib / r.Elapsed.Seconds()
}

// String is a one-line summary in the manner of kafka-producer-perf-test:
//
//	200000 records, 95238.1 records/sec (93.01 MB/sec), 1.234 ms avg latency, ...
func (r Result) String() string {
	s := fmt.Sprintf("%d records, %.1f records/sec (%.2f MB/sec)", r.Records, r.RecordsPerSec(), r.MiBPerSec())
	if r.Latency.Count > 0 {
		s += ", " + r.Latency.String()
	}
	if r.Fetches != nil {
		s += "; " + r.Fetches.String()
	}
	return s + "."
}

// payloadRing is the set of record values a generator cycles through:
// 1024 distinct values of random upper-case letters (what
// kafka-producer-perf-test sends), so a compressed batch does not shrink
// to one repeated value, while the generator allocates nothing per record.
// Values are shared between in-flight records and never written after
// construction.
type payloadRing struct {
	values [][]byte
}

const payloadRingSize = 1024

func newPayloadRing(size int) *payloadRing {
	// A fixed seed: the same bytes every run, so compressed figures are
	// comparable between runs.
	rng := rand.New(rand.NewPCG(8, 1))
	// One backing array of at most 64 MiB: large records get fewer
	// distinct values rather than a ring of up to 16 GiB.
	n := payloadRingSize
	if size > 0 && n*size > 64<<20 {
		n = max(1, (64<<20)/size)
	}
	all := make([]byte, n*size)
	for i := range all {
		all[i] = byte('A' + rng.IntN(26))
	}
	p := &payloadRing{values: make([][]byte, n)}
	for i := range p.values {
		p.values[i] = all[i*size : (i+1)*size : (i+1)*size]
	}
	return p
}

// value returns the value of record number n.
func (p *payloadRing) value(n int64) []byte {
	return p.values[n%int64(len(p.values))]
}
