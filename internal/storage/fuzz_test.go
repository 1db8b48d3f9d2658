package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregor-log/gregor/internal/record"
)

// Every decoder of bytes from disk is fuzzed: checkpoint text, index
// files, and segment files through recovery and through Read.

func FuzzCheckpoint(f *testing.F) {
	for _, s := range []string{
		"0\n2\n0 0\n3 1500\n", "0\n0\n", "0\n1\n42\n", "0\n1\n10 0 300\n",
		"1\n0\n", "0\n2\n0 0\n", "", "0\n1\n-5 x\n", "0\n1\n9223372036854775808 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for fields := 1; fields <= 3; fields++ {
			lines, err := checkpointLines(data, fields)
			if err != nil {
				continue
			}
			again, err := checkpointLines(formatCheckpoint(lines), fields)
			if err != nil || len(again) != len(lines) {
				t.Fatalf("round trip of %q: %v", data, err)
			}
		}
		parseCleanShutdown(data)
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, epochCheckpointName), data, 0o644)
		var c epochCache
		if err := c.load(dir); err == nil {
			e := c.list()
			for i := 1; i < len(e); i++ {
				if e[i].epoch <= e[i-1].epoch || e[i].startOffset < e[i-1].startOffset {
					t.Fatalf("loaded epochs break the invariant: %v", e)
				}
			}
			endOffsetFor(e, 3, 100)
			epochAt(e, 7, 1)
		}
	})
}

func FuzzIndexFiles(f *testing.F) {
	good := make([]byte, 0, 64)
	for i := 0; i < 4; i++ {
		var e [offsetEntrySize]byte
		putOffsetEntry(e[:], uint32(10*i+1), uint32(100*i+50))
		good = append(good, e[:]...)
	}
	f.Add(good, int64(1000), int64(17))
	f.Add([]byte{1, 2, 3}, int64(5), int64(0))
	f.Add(bytes.Repeat([]byte{0xff}, 24), int64(1<<40), int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, logSize, target int64) {
		if n, err := checkIndex(data, logSize); err == nil {
			entries := data[:n*offsetEntrySize]
			if p := lookupOffset(entries, target, logSize); p < 0 || (p > 0 && p >= logSize) {
				t.Fatalf("lookupOffset = %d outside [0, %d)", p, logSize)
			}
			lookupPosition(entries, target)
		}
		if n, err := checkTimeIndex(data, 1<<32); err == nil {
			entries := data[:n*timeEntrySize]
			lookupTime(entries, target)
			lastTimeEntry(entries)
		}
	})
}

// fuzzSegmentSeed is a valid segment of a few batches.
func fuzzSegmentSeed() []byte {
	var out []byte
	var next int64
	for i := 0; i < 4; i++ {
		b := makeBatch(1+i%2, 20, int64(100+i), byte(i))
		record.SetBaseOffset(b, next)
		record.SetPartitionLeaderEpoch(b, 0)
		h, _ := record.ReadHeader(b)
		next = h.NextOffset()
		out = append(out, b...)
	}
	return out
}

// checkServed reads everything the log serves and checks it is whole,
// valid batches.
func checkServed(t *testing.T, l *Log) {
	for off := l.LogStartOffset(); off < l.LogEndOffset(); off++ {
		sl, err := l.Read(off, 1<<16, 1<<62)
		if err != nil {
			continue // ErrCorruptSegment is a fine answer for damaged bytes
		}
		b := sliceBytes(t, sl)
		for len(b) > 0 {
			h, err := record.Validate(b[:min(len(b), headerSizeOf(b))])
			if err != nil {
				t.Fatalf("Read(%d) served a bad batch: %v", off, err)
			}
			b = b[h.Size():]
		}
	}
}

// FuzzRecovery: whatever the active segment holds after a crash, Open
// recovers a log of valid batches that accepts appends.
func FuzzRecovery(f *testing.F) {
	seed := fuzzSegmentSeed()
	f.Add(seed)
	f.Add(seed[:len(seed)-7])
	f.Add(append(bytes.Clone(seed), 0, 0, 0, 0, 0, 0, 0, 9))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(segmentName(dir, 0, logExt), data, 0o644)
		l, err := Open(dir, Config{IndexIntervalBytes: 64, FlushMessages: 1 << 40})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		if size := l.segs()[0].size.Load(); size > int64(len(data)) || !bytes.Equal(data[:size], readAll(t, l, 0)) {
			t.Fatalf("recovered log is not a prefix of the file")
		}
		end := l.LogEndOffset()
		epoch := max(l.epochs.latest(), 0) // recovery may have learned epochs from the batches
		if res, err := l.Append(makeBatch(1, 3, 1, 1), leader(epoch)); err != nil || res.FirstOffset != end {
			t.Fatalf("append after recovery: %+v %v", res, err)
		}
	})
}

// FuzzClosedSegment: a closed segment's bytes are trusted by a clean Open,
// yet Read never serves a batch that does not validate.
func FuzzClosedSegment(f *testing.F) {
	seed := fuzzSegmentSeed()
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	flipped := bytes.Clone(seed)
	flipped[len(seed)/3] ^= 0x40
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		cfg := Config{IndexIntervalBytes: 64, FlushMessages: 1 << 40}
		os.WriteFile(segmentName(dir, 0, logExt), data, 0o644)
		l, err := Open(dir, cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		// Roll so that segment 0 is closed, then put the fuzz bytes back
		// and reopen cleanly: the marker covers only the active segment.
		if err := l.TruncateFullyAndStartAt(1000); err != nil {
			t.Fatal(err)
		}
		l.Close()
		os.WriteFile(segmentName(dir, 0, logExt), data, 0o644)
		os.WriteFile(filepath.Join(dir, logStartCheckpointName), []byte("0\n1\n0\n"), 0o644)
		l, err = Open(dir, cfg)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l.Close()
		checkServed(t, l)
		l.OffsetForTimestamp(101)
		l.MaxTimestamp()
	})
}
