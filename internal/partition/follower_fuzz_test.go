package partition

import (
	"bytes"
	"testing"
)

// FuzzAppendAsFollower feeds a follower the bytes a leader's fetch
// response could carry: whatever they are, the append either takes whole,
// valid batches that follow the log end, or refuses them and leaves the
// log as it was; it never panics.
func FuzzAppendAsFollower(f *testing.F) {
	valid := makeBatch(f, plain(3))
	f.Add(valid, int64(3))
	f.Add(valid[:len(valid)-1], int64(0))
	f.Add(append(bytes.Clone(valid), valid...), int64(6))
	f.Add([]byte{0, 0, 0}, int64(-5))
	f.Add([]byte{}, int64(1<<40))
	f.Fuzz(func(t *testing.T, data []byte, hw int64) {
		p := openTest(t, t.TempDir(), testConfig())
		defer p.Close()
		if err := p.BecomeFollower(1, 1); err != nil {
			t.Fatal(err)
		}
		before := p.LogEndOffset()
		res, err := p.AppendAsFollower(bytes.Clone(data), hw)
		if err != nil {
			if p.LogEndOffset() != before {
				t.Fatalf("refused append moved the log end to %d", p.LogEndOffset())
			}
			return
		}
		if len(data) > 0 && p.LogEndOffset() != res.LastOffset+1 {
			t.Fatalf("log end %d after appending up to %d", p.LogEndOffset(), res.LastOffset)
		}
		if hw := p.HighWatermark(); hw < p.LogStartOffset() || hw > p.LogEndOffset() {
			t.Fatalf("high watermark %d outside [%d, %d]", hw, p.LogStartOffset(), p.LogEndOffset())
		}
	})
}
