package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openFilesUnder counts this process's descriptors open on files in dir.
func openFilesUnder(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

// An idle partition holds one descriptor, its active segment's .log: the
// index files open only once an entry is written, so ten thousand idle
// partitions need ten thousand descriptors, not thirty.
func TestIdleLogHoldsOneDescriptor(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.FlushMessages = 1
	l := mustOpen(t, dir, cfg)
	defer l.Close()
	if _, err := l.Append(makeBatch(1, 10, 1000, 1), AppendOptions{AssignOffsets: true}); err != nil {
		t.Fatal(err)
	}
	if n := openFilesUnder(t, dir); n != 1 {
		t.Fatalf("%d descriptors open after a small append, want 1 (the .log)", n)
	}
	// Past index.interval.bytes an index entry is written, and the
	// index files open (and are fsynced with the log from then on).
	for i := range 8 {
		if _, err := l.Append(makeBatch(4, 100, int64(2000+i), byte(i)), AppendOptions{AssignOffsets: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := openFilesUnder(t, dir); n < 2 {
		t.Fatalf("%d descriptors open after index entries, want the index files too", n)
	}
	for _, ext := range []string{indexExt, timeIndexExt} {
		if fi, err := os.Stat(filepath.Join(dir, "00000000000000000000"+ext)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v, size %v: the entries should be on disk after a durable append", ext, err, fi)
		}
	}
}
