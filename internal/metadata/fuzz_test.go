package metadata

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeBatch: arbitrary bytes never panic the decoder, and what it
// accepts re-encodes to bytes that decode to the same records.
func FuzzDecodeBatch(f *testing.F) {
	for _, b := range sample() {
		f.Add(EncodeBatch(b))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 0})
	// Version 1 of the partition records: a reassignment in progress.
	f.Add(EncodeBatch([]Record{&PartitionChangeRecord{ISR: []int32{1}, Replicas: []int32{2, 1}, AddingReplicas: []int32{2}, RemovingReplicas: []int32{1}},
		&PartitionRecord{Replicas: []int32{2, 1}, ISR: []int32{1}, AddingReplicas: []int32{2}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeBatch(b)
		if err != nil {
			return
		}
		enc := EncodeBatch(recs)
		recs2, err := DecodeBatch(enc)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if !bytes.Equal(EncodeBatch(recs2), enc) {
			t.Fatalf("encoding is not stable")
		}
		Empty().Apply(recs...) // must not panic either
	})
}

// FuzzReplay: any file content opens without panic (a valid prefix is
// kept, the rest truncated, or a clear error).
func FuzzReplay(f *testing.F) {
	var log []byte
	dir := f.TempDir()
	s, _, err := OpenLocal(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range sample() {
		s.Append(b...)
	}
	s.Close()
	log, _ = os.ReadFile(filepath.Join(dir, LogFileName))
	f.Add(log)
	f.Add(log[:len(log)/2])
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, LogFileName), content, 0o644); err != nil {
			t.Fatal(err)
		}
		s, _, err := OpenLocal(dir)
		if err == nil {
			s.Close()
		}
	})
}
