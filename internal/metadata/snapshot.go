package metadata

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Records returns records that rebuild img when applied, in order, to the
// empty image: the cluster id, the brokers, the dynamic broker configs, then
// each topic (with its config overrides) followed by its partitions. The
// order is deterministic, so two images hold the same metadata exactly when
// EncodeBatch(a.Records()) and EncodeBatch(b.Records()) are equal. A snapshot
// of the metadata log stores these records together with img.Offset (see
// ImageFromRecords), since the records of a snapshot are fewer than the
// records that built the image.
func (img *Image) Records() []Record {
	var out []Record
	if img.ClusterID != "" {
		out = append(out, &ClusterRecord{ClusterID: img.ClusterID})
	}
	for _, b := range img.Brokers() {
		out = append(out, b.Record()) // keeps incarnation, broker epoch and fencing
	}
	resources := slices.SortedFunc(maps.Keys(img.brokerConfigs), compareBrokerResource)
	for _, res := range resources {
		configs := img.brokerConfigs[res]
		for _, name := range slices.Sorted(maps.Keys(configs)) {
			v := configs[name]
			out = append(out, &ConfigRecord{Resource: ConfigResourceBroker, ResourceName: res, Name: name, Value: &v})
		}
	}
	if r := img.ProducerIDsSnapshotRecord(); r != nil {
		out = append(out, r)
	}
	for _, t := range img.Topics() {
		out = append(out, &TopicRecord{Name: t.Name, ID: t.ID, Configs: maps.Clone(t.Configs)})
		for _, p := range t.Partitions {
			out = append(out, &PartitionRecord{TopicID: t.ID, Partition: p.Partition,
				Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR), Leader: p.Leader,
				LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				AddingReplicas: slices.Clone(p.AddingReplicas), RemovingReplicas: slices.Clone(p.RemovingReplicas)})
		}
	}
	return out
}

// compareBrokerResource orders broker config resources: the cluster
// default ("") first, then node ids numerically, then anything else by
// name. Any total order would do; this one reads well in dumps.
func compareBrokerResource(a, b string) int {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	switch {
	case a == "" || b == "":
		return cmp.Compare(len(a), len(b))
	case errA == nil && errB == nil:
		return cmp.Compare(na, nb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

// ImageFromRecords rebuilds an image from the records of a snapshot (as
// returned by Image.Records) and the Offset of the image they were taken
// from. Records that do not apply to the empty image mean a corrupt
// snapshot: ErrInvalidRecord.
func ImageFromRecords(offset int64, records []Record) (*Image, error) {
	if offset < int64(len(records)) {
		return nil, fmt.Errorf("%w: snapshot of %d records at offset %d", ErrInvalidRecord, len(records), offset)
	}
	img, err := Empty().Apply(records...)
	if err != nil {
		return nil, err
	}
	img.Offset = offset
	return img, nil
}
