package replication

import (
	"bytes"
	"testing"

	"github.com/gregor-log/gregor/internal/record"
)

// FuzzWholeBatches: the record bytes of a fetch response are cut to whole
// batches without panicking, and what is kept parses batch by batch.
func FuzzWholeBatches(f *testing.F) {
	b := batch(f, 0, 2, "v")
	f.Add(b)
	f.Add(b[:len(b)-3])
	f.Add(append(bytes.Clone(b), b[:20]...))
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		kept := wholeBatches(data)
		_ = partialBatch(data)
		for rest := kept; len(rest) > 0; {
			h, err := record.ReadHeader(rest)
			if err != nil || h.Size() > len(rest) {
				t.Fatalf("kept bytes do not parse: %v", err)
			}
			rest = rest[h.Size():]
		}
	})
}
