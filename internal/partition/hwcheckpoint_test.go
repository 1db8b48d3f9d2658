package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// withCRC returns b (14 bytes of a checkpoint body) with its checksum, so
// a test can build files that pass the CRC and fail a later check.
func withCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(b), crc32.Checksum(b, castagnoli))
}

func TestCheckpointDecode(t *testing.T) {
	good := encodeCheckpoint(42)
	badMagic := bytes.Clone(good[:14])
	badMagic[0] = 'X'
	badVersion := bytes.Clone(good[:14])
	badVersion[5] = 2
	negative := bytes.Clone(good[:14])
	binary.BigEndian.PutUint64(negative[6:], 1<<63)
	flipped := bytes.Clone(good)
	flipped[9] ^= 1
	cases := []struct {
		name string
		b    []byte
		want int64 // -1: corrupt
	}{
		{"good", good, 42},
		{"zero", encodeCheckpoint(0), 0},
		{"empty", nil, -1},
		{"short", good[:17], -1},
		{"long", append(bytes.Clone(good), 0), -1},
		{"zeros", make([]byte, checkpointSize), -1},
		{"flipped bit", flipped, -1},
		{"bad magic", withCRC(badMagic), -1},
		{"bad version", withCRC(badVersion), -1},
		{"negative", withCRC(negative), -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hw, err := decodeCheckpoint(c.b)
			if c.want < 0 {
				if !errors.Is(err, errCorruptCheckpoint) {
					t.Fatalf("got %d, %v; want errCorruptCheckpoint", hw, err)
				}
				return
			}
			if err != nil || hw != c.want {
				t.Fatalf("got %d, %v; want %d", hw, err, c.want)
			}
		})
	}
}

// FuzzDecodeCheckpoint: whatever the bytes, decoding never panics, and
// what decodes is exactly what encoding that value gives.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(encodeCheckpoint(0))
	f.Add(encodeCheckpoint(1 << 40))
	f.Add([]byte{})
	f.Add([]byte("GPHW"))
	f.Add(encodeCheckpoint(7)[:17])
	f.Add(append(encodeCheckpoint(7), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		hw, err := decodeCheckpoint(b)
		if err != nil {
			if !errors.Is(err, errCorruptCheckpoint) {
				t.Fatalf("error %v is not errCorruptCheckpoint", err)
			}
			return
		}
		if hw < 0 || !bytes.Equal(encodeCheckpoint(hw), b) {
			t.Fatalf("decoded %d from bytes that are not its encoding", hw)
		}
	})
}

// replicatedLeader opens a partition in dir as broker 1, leading epoch
// with replicas 1 and 2, both in the ISR.
func replicatedLeader(t *testing.T, dir string, cfg Config, epoch int32) *Partition {
	t.Helper()
	p := openTest(t, dir, cfg)
	p.SetLocalReplicaID(leaderID)
	if err := p.BecomeLeader(epoch, []int32{1, 2}, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkpointIn(t *testing.T, dir string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, checkpointFileName))
	if err != nil {
		t.Fatal(err)
	}
	hw, err := decodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	return hw
}

// A leader restarted with records its follower never had starts its high
// watermark at the checkpoint, not at its log end, and moves it by the
// ISR rule once the follower fetches again.
func TestRestartStartsAtCheckpointedHighWatermark(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1000, 0)
	p := replicatedLeader(t, dir, testConfig(), 1)
	if _, err := produce(t, p, 1, makeBatch(t, plain(3))); err != nil {
		t.Fatal(err)
	}
	if err := p.UpdateFollowerFetch(followerID, 3, now); err != nil {
		t.Fatal(err)
	}
	// Written by this leader only: above the high watermark.
	if _, err := produce(t, p, 1, makeBatch(t, plain(5))); err != nil {
		t.Fatal(err)
	}
	if hw, leo := p.HighWatermark(), p.LogEndOffset(); hw != 3 || leo != 8 {
		t.Fatalf("high watermark %d, log end %d; want 3, 8", hw, leo)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := checkpointIn(t, dir); got != 3 {
		t.Fatalf("clean close checkpointed %d, want 3", got)
	}

	p = openTest(t, dir, testConfig())
	defer p.Close()
	p.SetLocalReplicaID(leaderID)
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark after restart %d, want the checkpoint 3", hw)
	}
	if err := p.BecomeLeader(2, []int32{1, 2}, []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d before the follower fetched, want 3", hw)
	}
	// The follower, truncated to this leader's log and caught up, fetches
	// at its log end: the leader's whole log is now on the ISR.
	if err := p.UpdateFollowerFetch(followerID, 8, now); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 8 {
		t.Fatalf("high watermark %d after the follower caught up, want 8", hw)
	}
}

// The start of the high watermark on a replicated partition, by what the
// checkpoint file holds; a single node ignores it.
func TestCheckpointAtOpen(t *testing.T) {
	cases := []struct {
		name       string
		file       []byte // nil: no file
		replicated bool
		want       int64
	}{
		{"single node: the log end", encodeCheckpoint(2), false, 8},
		{"checkpoint", encodeCheckpoint(6), true, 6},
		{"checkpoint beyond the log end (lost tail)", encodeCheckpoint(100), true, 8},
		{"checkpoint below the log start", encodeCheckpoint(1), true, 4},
		{"no checkpoint: the log start", nil, true, 4},
		{"corrupt: the log start", []byte("not a checkpoint"), true, 4},
		{"truncated: the log start", encodeCheckpoint(6)[:10], true, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := openTest(t, dir, testConfig())
			mustProduce(t, p, makeBatch(t, plain(4)), makeBatch(t, plain(4)))
			if _, err := p.DeleteRecordsBefore(4); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, checkpointFileName)
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("a single-node partition left a checkpoint: %v", err)
			}
			if c.file != nil {
				if err := os.WriteFile(path, c.file, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// A write interrupted before its rename.
			if err := os.WriteFile(path+".tmp", encodeCheckpoint(8), 0o644); err != nil {
				t.Fatal(err)
			}
			p = openTest(t, dir, testConfig())
			defer p.Close()
			if c.replicated {
				p.SetLocalReplicaID(followerID)
			}
			if hw := p.HighWatermark(); hw != c.want {
				t.Fatalf("high watermark %d, want %d", hw, c.want)
			}
			if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
				t.Fatalf("the interrupted write is still there: %v", err)
			}
		})
	}
}

// A restarted follower keeps the checkpoint until the leader's fetch
// answer brings the leader's high watermark.
func TestFollowerStartsAtCheckpoint(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir, testConfig())
	mustProduce(t, p, makeBatch(t, plain(6)))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpointFileName), encodeCheckpoint(2), 0o644); err != nil {
		t.Fatal(err)
	}
	p = openTest(t, dir, testConfig())
	defer p.Close()
	p.SetLocalReplicaID(followerID)
	if err := p.BecomeFollower(1, leaderID); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("follower high watermark %d, want the checkpoint 2", hw)
	}
	if _, err := p.AppendAsFollower(nil, 5); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("follower high watermark %d after the leader's answer, want 5", hw)
	}
}

// While it runs, a replicated partition checkpoints its high watermark
// on a timer; a partition deleted with a write due leaves nothing behind.
func TestCheckpointOnTimer(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.HighWatermarkCheckpointInterval = 5 * time.Millisecond
	p := replicatedLeader(t, dir, cfg, 1)
	defer p.Close()
	now := time.Unix(1000, 0)
	for i := range 3 {
		if _, err := produce(t, p, 1, makeBatch(t, plain(2))); err != nil {
			t.Fatal(err)
		}
		if err := p.UpdateFollowerFetch(followerID, p.LogEndOffset(), now); err != nil {
			t.Fatal(err)
		}
		want := int64(2 * (i + 1))
		waitFor(t, "the checkpoint to follow the high watermark", func() bool {
			b, err := os.ReadFile(filepath.Join(dir, checkpointFileName))
			if err != nil {
				return false
			}
			hw, err := decodeCheckpoint(b)
			return err == nil && hw == want
		})
	}

	dir2 := filepath.Join(t.TempDir(), "deleted")
	q := replicatedLeader(t, dir2, cfg, 1)
	if _, err := produce(t, q, 1, makeBatch(t, plain(2))); err != nil {
		t.Fatal(err)
	}
	if err := q.UpdateFollowerFetch(followerID, 2, now); err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(); err != nil {
		t.Fatal(err)
	}
	q.checkpointFromTimer() // as a timer that fired just before Delete would
	if _, err := os.Stat(dir2); !os.IsNotExist(err) {
		t.Fatalf("the deleted partition's directory exists: %v", err)
	}
}
