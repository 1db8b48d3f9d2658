package partition

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProducerIDsUniqueAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	seen := map[int64]bool{}
	for restart := range 3 {
		a, err := OpenProducerIDs(dir)
		if err != nil {
			t.Fatal(err)
		}
		for range ProducerIDBlockSize + 10 {
			id, err := a.Next()
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] {
				t.Fatalf("restart %d: id %d handed out twice", restart, id)
			}
			seen[id] = true
		}
	}
}

func TestProducerIDsCorruptFileRefused(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenProducerIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Next(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, producerIDsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[3] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenProducerIDs(dir); err == nil {
		t.Fatal("a corrupt reservation file was accepted")
	}
}

func FuzzDecodeProducerIDLimit(f *testing.F) {
	f.Add(encodeProducerIDLimit(0))
	f.Add(encodeProducerIDLimit(123000))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		limit, err := decodeProducerIDLimit(b)
		if err == nil && limit < 0 {
			t.Fatalf("accepted negative limit %d", limit)
		}
	})
}
