package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gregor-log/gregor/internal/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadAll reads every partition of topic from offset 0 up to its high
// watermark with a fresh consumer, as a client sees it.
func (c *Cluster) ReadAll(topic string, partitions int32) map[int32][]Stored {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		c.t.Fatalf("faulttest: %v", err)
	}
	defer admCl.Close()
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		c.t.Fatalf("faulttest: high watermarks of %s: %v; cluster:%s", topic, err, c.Describe(topic))
	}
	hw := map[int32]int64{}
	starts := map[int32]kgo.Offset{}
	for p := range partitions {
		o, ok := ends.Lookup(topic, p)
		if !ok {
			c.t.Fatalf("faulttest: no high watermark for %s[%d]", topic, p)
		}
		hw[p] = o.Offset
		starts[p] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		c.t.Fatalf("faulttest: %v", err)
	}
	defer cl.Close()
	out := map[int32][]Stored{}
	next := func(p int32) int64 {
		if s := out[p]; len(s) > 0 {
			return s[len(s)-1].Offset + 1
		}
		return 0
	}
	done := func() bool {
		for p := range partitions {
			if next(p) < hw[p] {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("faulttest: reading %s back: %v (high watermarks %v, read up to %v)", topic, ctx.Err(), hw, nextOffsets(out))
		}
		fs.EachError(func(_ string, p int32, err error) {
			c.t.Logf("faulttest: reading %s[%d]: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < hw[r.Partition] {
				out[r.Partition] = append(out[r.Partition], Stored{Offset: r.Offset, Value: string(r.Value)})
			}
		})
	}
	return out
}

func nextOffsets(logs map[int32][]Stored) map[int32]int64 {
	out := map[int32]int64{}
	for p, s := range logs {
		if len(s) > 0 {
			out[p] = s[len(s)-1].Offset + 1
		}
	}
	return out
}

// ReplicaBytes is the concatenation of node's segment files of one
// partition, in offset order: batches exactly as the leader wrote them,
// so replicas that agree hold the same bytes.
func (n *Node) ReplicaBytes(topic string, partition int32) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(n.Dir, fmt.Sprintf("%s-%d", topic, partition), "*.log"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files) // 20-digit zero-padded base offsets sort as numbers
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		all = append(all, b...)
	}
	return all, nil
}

// ParseLog reads the records of a partition's segment bytes; it stops at
// the first batch that does not validate (an append in progress).
func ParseLog(segments []byte) ([]Stored, error) {
	var out []Stored
	it := record.Batches(segments)
	for it.Next() {
		if it.Header().Control() {
			continue
		}
		recs, err := record.Records(it.Batch(), 0)
		if err != nil {
			return out, err
		}
		for _, r := range recs {
			out = append(out, Stored{Offset: r.Offset, Value: string(r.Value)})
		}
	}
	return out, it.Err()
}

// WaitIdenticalReplicas waits until every replica of every partition of
// topic holds the same bytes (the producer must be stopped and the ISR
// full) and returns the agreed logs, parsed. Replicas that agree byte for
// byte cannot hold two values at one offset.
func (c *Cluster) WaitIdenticalReplicas(topic string, partitions int32) map[int32][]Stored {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, why := c.identicalReplicas(topic, partitions)
		if why == "" {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("faulttest: replicas of %s still differ after 30s: %s; cluster:%s", topic, why, c.Describe(topic))
		}
		time.Sleep(waitPoll) // polling a condition, with a deadline
	}
}

// identicalReplicas returns the replicas' common logs, or why they differ.
func (c *Cluster) identicalReplicas(topic string, partitions int32) (map[int32][]Stored, string) {
	out := map[int32][]Stored{}
	for p := range partitions {
		var first []byte
		for i, n := range c.Nodes {
			b, err := n.ReplicaBytes(topic, p)
			if err != nil {
				return nil, err.Error()
			}
			if i == 0 {
				first = b
				continue
			}
			if !bytes.Equal(first, b) {
				return nil, fmt.Sprintf("partition %d: node %d has %d bytes, node %d %d", p, c.Nodes[0].ID, len(first), n.ID, len(b))
			}
		}
		recs, err := ParseLog(first)
		if err != nil {
			return nil, fmt.Sprintf("partition %d: %v", p, err)
		}
		out[p] = recs
	}
	return out, ""
}
