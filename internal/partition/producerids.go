package partition

// Producer ids must never be handed out twice, across restarts too: a new
// producer that got an old id would be taken for the old one, its first
// batches refused as out of order or answered as duplicates. The allocator
// reserves ids in blocks and persists the end of the reserved range before
// handing out any id of a block; after a restart it starts at that end,
// skipping whatever the last block had left (ids are plentiful).
//
// This is the seam for replication (issue #5): there the controller hands
// out producer-id blocks through the metadata log, and the broker asks for
// a new block where this file reserves one locally.
//
// File "producer_ids" in the data directory, 12 bytes big-endian: the end
// of the reserved range (int64, exclusive) and a CRC32C of those 8 bytes.
// Written to a temporary file, fsynced, renamed, directory fsynced.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/gregor-log/gregor/internal/fsutil"
)

// ProducerIDBlockSize is how many producer ids one persisted reservation covers.
const ProducerIDBlockSize = 1000

const producerIDsFile = "producer_ids"

// ErrProducerIDsExhausted: every int64 producer id was handed out.
var ErrProducerIDsExhausted = errors.New("partition: producer ids exhausted")

// ProducerIDs hands out producer ids unique over the life of a data
// directory. It is safe for concurrent use.
type ProducerIDs struct {
	path string
	mu   struct {
		sync.Mutex
		next  int64 // next id to hand out
		limit int64 // end of the persisted reservation (exclusive)
	}
}

// OpenProducerIDs opens (or starts) the allocator whose state lives in dir.
func OpenProducerIDs(dir string) (*ProducerIDs, error) {
	a := &ProducerIDs{path: filepath.Join(dir, producerIDsFile)}
	b, err := os.ReadFile(a.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return a, nil // a fresh data directory: ids start at 0
	case err != nil:
		return nil, fmt.Errorf("partition: reading producer ids: %w", err)
	}
	limit, err := decodeProducerIDLimit(b)
	if err != nil {
		// Refuse to guess: starting below the true limit would reuse ids.
		return nil, fmt.Errorf("partition: %s: %w", producerIDsFile, err)
	}
	a.mu.next, a.mu.limit = limit, limit
	return a, nil
}

// Next returns a producer id never returned before by this data directory.
// Every ProducerIDBlockSize-th call writes and fsyncs the reservation file.
func (a *ProducerIDs) Next() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.next >= a.mu.limit {
		if a.mu.limit > math.MaxInt64-ProducerIDBlockSize {
			return 0, ErrProducerIDsExhausted
		}
		limit := a.mu.limit + ProducerIDBlockSize
		if err := writeProducerIDLimit(a.path, limit); err != nil {
			return 0, err
		}
		a.mu.limit = limit
	}
	id := a.mu.next
	a.mu.next++
	return id, nil
}

func encodeProducerIDLimit(limit int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(limit))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeProducerIDLimit(b []byte) (int64, error) {
	if len(b) != 12 {
		return 0, fmt.Errorf("corrupt: %d bytes", len(b))
	}
	if crc32.Checksum(b[:8], castagnoli) != binary.BigEndian.Uint32(b[8:]) {
		return 0, errors.New("corrupt: checksum mismatch")
	}
	limit := int64(binary.BigEndian.Uint64(b))
	if limit < 0 {
		return 0, fmt.Errorf("corrupt: limit %d", limit)
	}
	return limit, nil
}

func writeProducerIDLimit(path string, limit int64) error {
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, encodeProducerIDLimit(limit)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("partition: reserving producer ids: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("partition: reserving producer ids: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("partition: reserving producer ids: %w", err)
	}
	return nil
}
