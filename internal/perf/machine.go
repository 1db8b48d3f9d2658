package perf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Bounds of the machine probes: enough to get past caches, short enough to
// sit inside a compare run.
const (
	maxProbeBytes    = 4 << 30
	maxProbeDuration = time.Minute
)

// DiskFsync measures sequential writes of blockSize bytes to a new file in
// dir, each followed by fsync (the cost a durable broker pays per
// flush), until total bytes or maxTime, whichever comes first. Records are
// blocks; Latency is one write+fsync. The file is removed afterwards.
func DiskFsync(ctx context.Context, dir string, blockSize int, total int64, maxTime time.Duration) (Result, error) {
	switch {
	case blockSize < 512 || blockSize > 64<<20:
		return Result{}, invalid("fsync block size %d: want 512 B..64 MiB", blockSize)
	case total < int64(blockSize) || total > maxProbeBytes:
		return Result{}, invalid("fsync total %d: want %d..%d bytes", total, blockSize, maxProbeBytes)
	case maxTime <= 0 || maxTime > maxProbeDuration:
		return Result{}, invalid("fsync time %v: want 0..%v", maxTime, maxProbeDuration)
	}
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return Result{}, fmt.Errorf("perf: fsync probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := newPayloadRing(blockSize).value(0)
	h := NewHistogram()
	var res Result
	start := time.Now()
	for res.Bytes < total && time.Since(start) < maxTime && ctx.Err() == nil {
		t := time.Now()
		if _, err := f.Write(block); err != nil {
			return res, fmt.Errorf("perf: fsync probe: %w", err)
		}
		if err := f.Sync(); err != nil {
			return res, fmt.Errorf("perf: fsync probe: %w", err)
		}
		h.RecordDuration(time.Since(t))
		res.Records++
		res.Bytes += int64(blockSize)
	}
	res.Elapsed = time.Since(start)
	res.Latency = h.Summary()
	return res, ctx.Err()
}

// DiskGroupCommit is the end-to-end latency floor of a durable log on this
// disk: records of recordSize bytes arrive at rate per second (on a fixed
// schedule, whatever the disk does) and one flusher, always either
// fsyncing or waiting for the next record, writes every record that has
// arrived and fsyncs it. A record's latency is from its scheduled arrival
// to the end of the fsync that covers it; the probe runs for maxTime.
//
// Why a probe of its own: DiskFsync counts each fsync once, so one 50 ms
// stall among thousands of fast fsyncs barely moves its p99, while at
// 1,000 records/s that stall delays fifty records, and a latency p99 over
// records sees it. Compare a broker's durable end-to-end p99 with this,
// measured in the same run, not with DiskFsync's.
func DiskGroupCommit(ctx context.Context, dir string, rate float64, recordSize int, maxTime time.Duration) (Result, error) {
	switch {
	case rate < 1 || rate > 1e6:
		return Result{}, invalid("group commit rate %v: want 1..1000000 records/s", rate)
	case recordSize < 1 || recordSize > 1<<20:
		return Result{}, invalid("group commit record size %d: want 1 B..1 MiB", recordSize)
	case maxTime <= 0 || maxTime > maxProbeDuration:
		return Result{}, invalid("group commit time %v: want 0..%v", maxTime, maxProbeDuration)
	}
	f, err := os.CreateTemp(dir, "group-commit-probe-*")
	if err != nil {
		return Result{}, fmt.Errorf("perf: group commit probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// One write per flush, in chunks of at most 1 MiB.
	chunk := make([]byte, max(recordSize, min(1<<20, recordSize*int(rate))))
	interval := time.Duration(float64(time.Second) / rate)
	h := NewHistogram()
	var res Result
	start := time.Now()
	total := int64(float64(maxTime) / float64(interval))
	for res.Records < total && ctx.Err() == nil {
		// Every record scheduled by now has arrived.
		arrived := min(int64(time.Since(start)/interval)+1, total)
		if arrived == res.Records {
			next := start.Add(time.Duration(res.Records) * interval)
			time.Sleep(time.Until(next))
			continue
		}
		for left := (arrived - res.Records) * int64(recordSize); left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := f.Write(chunk[:n]); err != nil {
				return res, fmt.Errorf("perf: group commit probe: %w", err)
			}
			left -= n
		}
		if err := f.Sync(); err != nil {
			return res, fmt.Errorf("perf: group commit probe: %w", err)
		}
		durable := time.Since(start)
		for i := res.Records; i < arrived; i++ {
			h.RecordDuration(durable - time.Duration(i)*interval)
		}
		res.Bytes += (arrived - res.Records) * int64(recordSize)
		res.Records = arrived
	}
	res.Elapsed = time.Since(start)
	res.Latency = h.Summary()
	return res, ctx.Err()
}

// LoopbackTCP measures one TCP stream over 127.0.0.1: a sender writes
// 1 MiB buffers, a receiver reads and discards them, until total bytes or
// maxTime. It is the ceiling for a consumer reading from a broker on the
// same machine. Records are the 1 MiB writes.
func LoopbackTCP(ctx context.Context, total int64, maxTime time.Duration) (Result, error) {
	const chunk = 1 << 20
	switch {
	case total < chunk || total > maxProbeBytes:
		return Result{}, invalid("loopback total %d: want %d..%d bytes", total, chunk, maxProbeBytes)
	case maxTime <= 0 || maxTime > maxProbeDuration:
		return Result{}, invalid("loopback time %v: want 0..%v", maxTime, maxProbeDuration)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, fmt.Errorf("perf: loopback: %w", err)
	}
	defer l.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- 0
			return
		}
		defer c.Close()
		// A plain read loop into a 1 MiB buffer, as a consumer reads;
		// io.Copy would go through io.Discard's small buffers.
		buf := make([]byte, chunk)
		var n int64
		for {
			m, err := c.Read(buf)
			n += int64(m)
			if err != nil {
				break
			}
		}
		received <- n
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return Result{}, fmt.Errorf("perf: loopback: %w", err)
	}
	buf := newPayloadRing(chunk).value(0)
	var res Result
	start := time.Now()
	for res.Bytes < total && time.Since(start) < maxTime && ctx.Err() == nil {
		n, err := c.Write(buf)
		res.Bytes += int64(n)
		if err != nil {
			c.Close()
			return res, fmt.Errorf("perf: loopback: %w", err)
		}
		res.Records++
	}
	// Closing the sender ends the receiver's copy; the run ends when the
	// receiver has everything, so bytes in socket buffers are not counted
	// as delivered early.
	c.Close()
	got := <-received
	res.Elapsed = time.Since(start)
	if got != res.Bytes {
		return res, fmt.Errorf("perf: loopback: sent %d bytes, received %d: %w", res.Bytes, got, errors.New("short read"))
	}
	return res, ctx.Err()
}
