package metadata

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/gregor-log/gregor/internal/binread"
	"github.com/gregor-log/gregor/internal/fsutil"
)

// Store is where metadata records are appended and the current Image is
// read. LocalStore implements it for one node; a Raft quorum will too.
type Store interface {
	// Append applies records as one batch and makes them durable; when it
	// returns nil, Image reflects them. ErrInvalidRecord means nothing was
	// written.
	Append(records ...Record) error
	// Image is the latest published image; it never changes (see Image).
	Image() *Image
	// Changed returns a channel closed when an image newer than the one
	// current at the time of the call is published.
	Changed() <-chan struct{}
	Close() error
}

// ErrClosed: the store was closed, or a failed write left its file in an
// unknown state (it then refuses every Append until reopened).
var ErrClosed = errors.New("metadata: store closed")

// LogFileName is the metadata log's name in its directory.
const LogFileName = "metadata.log"

// maxBatchBytes bounds one frame: a frame claiming more is corrupt. Even
// thousands of topics created at once fit well below it.
const maxBatchBytes = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// LocalStore is a Store backed by one file, fsynced on every Append.
type LocalStore struct {
	image atomic.Pointer[Image]

	mu struct {
		sync.Mutex
		f       *os.File // nil once closed or broken
		size    int64    // bytes of whole, valid frames
		broken  bool     // a write or fsync failed
		changed chan struct{}
	}
}

var _ Store = (*LocalStore)(nil)

// OpenLocal opens (creating if needed) the metadata log in dir and replays
// it. It also returns how many bytes of torn tail were truncated, for the
// caller to log.
func OpenLocal(dir string) (*LocalStore, int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("metadata: %w", err)
	}
	path := filepath.Join(dir, LogFileName)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: %w", err)
	}
	if os.IsNotExist(statErr) {
		// A new file's directory entry must be durable too.
		if err := fsutil.SyncDir(dir); err != nil {
			f.Close()
			return nil, 0, err
		}
	}
	img, good, err := replay(f)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("metadata: %w", err)
	}
	torn := st.Size() - good
	if torn > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("metadata: truncating torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("metadata: %w", err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("metadata: %w", err)
	}
	s := &LocalStore{}
	s.image.Store(img)
	s.mu.f = f
	s.mu.size = good
	s.mu.changed = make(chan struct{})
	return s, torn, nil
}

// replay reads frames until the end or the first torn/corrupt one, and
// returns the image and the size of the valid prefix. A frame that checks
// out but does not apply is not a torn write: it is an error.
func replay(f *os.File) (*Image, int64, error) {
	r := bufio.NewReaderSize(f, 64<<10)
	img := Empty()
	var good int64
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return img, good, nil // EOF or a torn header
		}
		n := binary.BigEndian.Uint32(head[0:])
		sum := binary.BigEndian.Uint32(head[4:])
		if n > maxBatchBytes {
			return img, good, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return img, good, nil
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			return img, good, nil
		}
		records, err := DecodeBatch(payload)
		if err != nil {
			return nil, 0, fmt.Errorf("metadata: batch at byte %d: %w", good, err)
		}
		next, err := img.Apply(records...)
		if err != nil {
			return nil, 0, fmt.Errorf("metadata: replaying batch at byte %d: %w", good, err)
		}
		img = next
		good += int64(len(head)) + int64(n)
	}
}

// EncodeBatch encodes records as one batch payload.
func EncodeBatch(records []Record) []byte {
	b := binary.AppendUvarint(nil, uint64(len(records)))
	var rec []byte
	for _, r := range records {
		rec = AppendRecord(rec[:0], r)
		b = binary.AppendUvarint(b, uint64(len(rec)))
		b = append(b, rec...)
	}
	return b
}

// DecodeBatch decodes a batch payload.
func DecodeBatch(b []byte) ([]Record, error) {
	d := binread.New(b)
	n := d.Count(3) // a record takes at least a length, a type and a version
	if d.Bad() {
		return nil, fmt.Errorf("%w: batch count", ErrCorrupt)
	}
	records := make([]Record, 0, n)
	for range n {
		rec := d.Bytes()
		if d.Bad() {
			return nil, fmt.Errorf("%w: record length", ErrCorrupt)
		}
		r, err := DecodeRecord(rec)
		if err != nil {
			return nil, err
		}
		records = append(records, r)
	}
	if d.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the batch", ErrCorrupt, d.Len())
	}
	return records, nil
}

// Image returns the latest image.
func (s *LocalStore) Image() *Image { return s.image.Load() }

// Changed returns a channel closed at the next published image.
func (s *LocalStore) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.changed
}

// Append applies, writes and fsyncs records as one batch, then publishes
// the new image. Appends are serialised; readers are never blocked.
func (s *LocalStore) Append(records ...Record) error {
	if len(records) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.f == nil {
		return ErrClosed
	}
	next, err := s.image.Load().Apply(records...)
	if err != nil {
		return err
	}
	payload := EncodeBatch(records)
	if len(payload) > maxBatchBytes {
		return fmt.Errorf("%w: %d byte batch", ErrInvalidRecord, len(payload))
	}
	frame := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(frame[0:], uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[4:], crc32.Checksum(payload, castagnoli))
	frame = append(frame, payload...)
	if _, err := s.mu.f.Write(frame); err != nil {
		return s.failLocked(fmt.Errorf("metadata: write: %w", err))
	}
	// After a failed fsync the file's contents are unknown: refuse further
	// appends rather than build on them.
	if err := s.mu.f.Sync(); err != nil {
		return s.failLocked(fmt.Errorf("metadata: fsync: %w", err))
	}
	s.mu.size += int64(len(frame))
	s.image.Store(next)
	close(s.mu.changed)
	s.mu.changed = make(chan struct{})
	return nil
}

func (s *LocalStore) failLocked(err error) error {
	s.mu.f.Close()
	s.mu.f = nil
	s.mu.broken = true
	return errors.Join(err, ErrClosed)
}

// Broken reports whether a failed write or fsync made the store refuse
// appends.
func (s *LocalStore) Broken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.broken
}

// Close closes the file; the last image stays readable.
func (s *LocalStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.f == nil {
		return nil
	}
	err := s.mu.f.Close()
	s.mu.f = nil
	return err
}
