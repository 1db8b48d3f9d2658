package broker

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs v0-v4: the one data directory, the size of each of its
// partitions (every replica here is current: offset lag 0), and (v4) the
// file system's total and usable bytes.
func init() { register(kmsg.DescribeLogDirs, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(_ context.Context, b *Broker, req *wire.Request) (any, error) {
	r := req.Body.(*kmsg.DescribeLogDirsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.LogDir()
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir.Dir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * st.Bsize
		dir.UsableBytes = int64(st.Bavail) * st.Bsize
	} else {
		dir.ErrorCode = kerr.KafkaStorageError.Code
	}

	img := b.store.Image()
	describe := func(name string, partitions []int32) {
		t, ok := img.Topic(name)
		if !ok {
			return
		}
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = name
		if partitions == nil {
			for _, p := range t.Partitions {
				partitions = append(partitions, p.Partition)
			}
		}
		for _, p := range partitions {
			if p < 0 || int(p) >= len(t.Partitions) || b.replicaState(t.ID, p) != nil {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p
			dp.Size = dirSize(b.partitionDir(name, p))
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	if r.Topics == nil {
		for _, t := range img.Topics() {
			describe(t.Name, nil)
		}
	} else {
		for _, t := range r.Topics {
			describe(t.Topic, t.Partitions)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

// dirSize is the bytes of the regular files directly in dir.
func dirSize(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}
