package cli

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// resolveOffsets resolves points for every partition of topic, asking the
// cluster for the LogStartOffset, the HighWatermark and, for each distinct
// time among the points, the first offset at or after it. The result maps
// a partition to one offset per point, in the order of points.
func resolveOffsets(ctx context.Context, adm *kadm.Client, topic string, partitions []int32, points ...offsetPoint) (map[int32][]int64, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	times := map[int64]kadm.ListedOffsets{}
	for _, p := range points {
		if p.kind != offsetAtTime {
			continue
		}
		if _, ok := times[p.value]; ok {
			continue
		}
		lo, err := adm.ListOffsetsAfterMilli(ctx, p.value, topic)
		if err != nil {
			return nil, fmt.Errorf("list offsets by time: %w", err)
		}
		times[p.value] = lo
	}
	out := make(map[int32][]int64, len(partitions))
	for _, part := range partitions {
		s, ok := starts.Lookup(topic, part)
		if !ok || s.Err != nil {
			return nil, partitionError(topic, part, "LogStartOffset", s.Err)
		}
		e, ok := ends.Lookup(topic, part)
		if !ok || e.Err != nil {
			return nil, partitionError(topic, part, "HighWatermark", e.Err)
		}
		resolved := make([]int64, len(points))
		for i, p := range points {
			po := partitionOffsets{logStart: s.Offset, highWatermark: e.Offset, atTime: -1}
			if p.kind == offsetAtTime {
				t, ok := times[p.value].Lookup(topic, part)
				if !ok || t.Err != nil {
					return nil, partitionError(topic, part, "offset by time", t.Err)
				}
				po.atTime = t.Offset
			}
			resolved[i] = p.resolve(po)
		}
		out[part] = resolved
	}
	return out, nil
}

func partitionError(topic string, partition int32, what string, err error) error {
	if err == nil {
		return topicError(topic, fmt.Errorf("partition %d: no %s in the answer", partition, what))
	}
	return topicError(topic, fmt.Errorf("partition %d: %s: %w", partition, what, err))
}
