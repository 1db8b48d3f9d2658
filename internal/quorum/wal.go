package quorum

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/gregor-log/gregor/internal/binread"
	"github.com/gregor-log/gregor/internal/fsutil"
	pb "go.etcd.io/raft/v3/raftpb"
)

// The write-ahead log: one file, a sequence of frames
//
//	offset size field
//	     0    4 length of payload (big endian)
//	     4    4 CRC32C (Castagnoli) of payload
//	     8    … payload: record type (1 byte), then the record's fields
//
// Records (fields are uvarints unless said otherwise):
//
//	walMarker    snapshot index, snapshot term. Always and only the first
//	             record: the log continues the snapshot named by it.
//	walEntry     index, term, entry type (1 byte), data (the rest).
//	             An entry at index i discards any entry at i or later
//	             written before it (a new leader overwrote our tail).
//	walHardState term, vote, commit. The last one wins.
//
// The file is only ever appended to, or replaced whole by rewriteWAL
// (temporary file, fsync, rename, fsync of the directory), which is how
// the log is compacted after a snapshot. A torn or corrupt frame can only
// be the tail of the last write: replay stops there and openWAL truncates
// it. Because every Ready writes its entries before its HardState in one
// write, a HardState that survives always has its entries.

const (
	walFileName = "wal"
	tmpSuffix   = ".tmp"

	walMarker    byte = 1
	walEntry     byte = 2
	walHardState byte = 3

	frameHeaderBytes = 8
	// maxWALRecordBytes bounds one frame: an entry as large as the largest
	// message the transport accepts must fit, plus its header.
	maxWALRecordBytes = maxMessageBytes + 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt: Raft state on disk (or a snapshot from a peer) that does not
// decode or does not fit together. A torn tail is not corruption: it is
// truncated silently.
var ErrCorrupt = errors.New("quorum: corrupt raft state")

// walState is what a replay of the WAL yields.
type walState struct {
	snapIndex, snapTerm uint64
	hardState           *pb.HardState // nil when none was written
	// entries are contiguous and all after snapIndex: entries[i] has
	// index snapIndex+1+i.
	entries []*pb.Entry
}

// wal is the open log file, owned by the Ready loop's goroutine.
type wal struct {
	dir  string
	f    *os.File
	size int64 // bytes of whole frames
	buf  []byte
}

// appendFrame appends one framed record whose payload is built by body.
func appendFrame(dst []byte, typ byte, body func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderBytes)...)
	dst = append(dst, typ)
	dst = body(dst)
	payload := dst[start+frameHeaderBytes:]
	if len(payload) > maxWALRecordBytes {
		// Entries are bounded by the transport and by Append before they
		// reach here.
		panic(fmt.Sprintf("quorum: WAL record of %d bytes", len(payload)))
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

func appendMarker(dst []byte, index, term uint64) []byte {
	return appendFrame(dst, walMarker, func(b []byte) []byte {
		b = binary.AppendUvarint(b, index)
		return binary.AppendUvarint(b, term)
	})
}

func appendEntry(dst []byte, e *pb.Entry) []byte {
	return appendFrame(dst, walEntry, func(b []byte) []byte {
		b = binary.AppendUvarint(b, e.GetIndex())
		b = binary.AppendUvarint(b, e.GetTerm())
		b = append(b, byte(e.GetType()))
		return append(b, e.GetData()...)
	})
}

func appendHardState(dst []byte, hs *pb.HardState) []byte {
	return appendFrame(dst, walHardState, func(b []byte) []byte {
		b = binary.AppendUvarint(b, hs.GetTerm())
		b = binary.AppendUvarint(b, hs.GetVote())
		return binary.AppendUvarint(b, hs.GetCommit())
	})
}

// walRecord is one decoded record.
type walRecord struct {
	typ         byte
	index, term uint64 // walMarker, walEntry
	entry       *pb.Entry
	hardState   *pb.HardState
}

// decodeWALRecord decodes a frame's payload (CRC already checked).
func decodeWALRecord(p []byte) (walRecord, error) {
	if len(p) == 0 {
		return walRecord{}, fmt.Errorf("%w: empty WAL record", ErrCorrupt)
	}
	r := walRecord{typ: p[0]}
	d := &reader{binread.New(p[1:])}
	switch r.typ {
	case walMarker:
		r.index, r.term = d.Uvarint(), d.Uvarint()
	case walEntry:
		r.index, r.term = d.Uvarint(), d.Uvarint()
		typ := pb.EntryType(d.Byte())
		if typ != pb.EntryNormal && typ != pb.EntryConfChange && typ != pb.EntryConfChangeV2 {
			d.Fail()
		}
		data := d.Rest()
		if d.Bad() {
			break
		}
		if r.index == 0 {
			d.Fail()
			break
		}
		r.entry = &pb.Entry{Index: new(r.index), Term: new(r.term), Type: typ.Enum()}
		if len(data) > 0 {
			r.entry.Data = data
		}
	case walHardState:
		r.hardState = &pb.HardState{Term: new(d.Uvarint()), Vote: new(d.Uvarint()), Commit: new(d.Uvarint())}
	default:
		return walRecord{}, fmt.Errorf("%w: WAL record type %d", ErrCorrupt, r.typ)
	}
	if d.Bad() || d.Len() != 0 {
		return walRecord{}, fmt.Errorf("%w: WAL record type %d", ErrCorrupt, r.typ)
	}
	return r, nil
}

// replayWAL reads frames from r until the end or the first torn or corrupt
// frame, and returns the state and the length of the valid prefix. A frame
// whose checksum is right but whose record does not fit the log (no marker
// first, a gap between entries) is corruption, not a torn write: an error.
func replayWAL(r io.Reader) (walState, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var st walState
	var good int64
	var head [frameHeaderBytes]byte
	for first := true; ; first = false {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			break // the end, or a torn header
		}
		n := binary.BigEndian.Uint32(head[0:])
		sum := binary.BigEndian.Uint32(head[4:])
		if n > maxWALRecordBytes {
			break
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			break
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			break
		}
		rec, err := decodeWALRecord(payload)
		if err != nil {
			return walState{}, 0, fmt.Errorf("WAL record at byte %d: %w", good, err)
		}
		if first != (rec.typ == walMarker) {
			return walState{}, 0, fmt.Errorf("%w: WAL record at byte %d: the marker must come first, once", ErrCorrupt, good)
		}
		switch rec.typ {
		case walMarker:
			st.snapIndex, st.snapTerm = rec.index, rec.term
		case walHardState:
			st.hardState = rec.hardState
		case walEntry:
			i := rec.index
			last := st.snapIndex + uint64(len(st.entries))
			switch {
			case i <= st.snapIndex:
				// Covered by the snapshot; nothing writes these, but they
				// would be harmless.
			case i > last+1:
				return walState{}, 0, fmt.Errorf("%w: WAL entry %d after entry %d", ErrCorrupt, i, last)
			default:
				// Entries at i and later were overwritten.
				st.entries = append(st.entries[:i-st.snapIndex-1], rec.entry)
			}
		}
		good += frameHeaderBytes + int64(n)
	}
	if good == 0 {
		return walState{}, 0, fmt.Errorf("%w: WAL without its marker", ErrCorrupt)
	}
	return st, good, nil
}

// openWAL replays the WAL in dir and truncates a torn tail. It returns the
// state and how many bytes were truncated.
func openWAL(dir string) (*wal, walState, int64, error) {
	path := filepath.Join(dir, walFileName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, walState{}, 0, fmt.Errorf("quorum: %w", err)
	}
	st, good, err := replayWAL(f)
	if err != nil {
		f.Close()
		return nil, walState{}, 0, fmt.Errorf("quorum: %s: %w", path, err)
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, walState{}, 0, fmt.Errorf("quorum: %w", err)
	}
	if torn := end - good; torn > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, walState{}, 0, fmt.Errorf("quorum: truncating torn WAL tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, walState{}, 0, fmt.Errorf("quorum: %w", err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, walState{}, 0, fmt.Errorf("quorum: %w", err)
	}
	return &wal{dir: dir, f: f, size: good}, st, end - good, nil
}

// rewriteWAL atomically replaces (or creates) the WAL in dir with one that
// continues the snapshot (snapIndex, snapTerm) with hs and entries. Before
// it returns the new file and its directory entry are durable; a crash at
// any point leaves either the old WAL or the new one.
func rewriteWAL(dir string, snapIndex, snapTerm uint64, hs *pb.HardState, entries []*pb.Entry) (*wal, error) {
	buf := appendMarker(nil, snapIndex, snapTerm)
	if hs != nil {
		buf = appendHardState(buf, hs)
	}
	for i, e := range entries {
		if e.GetIndex() != snapIndex+1+uint64(i) {
			panic(fmt.Sprintf("quorum: rewriting WAL after %d: entry %d at position %d", snapIndex, e.GetIndex(), i))
		}
		buf = appendEntry(buf, e)
	}
	path := filepath.Join(dir, walFileName)
	f, err := writeFileAtomic(path, buf)
	if err != nil {
		return nil, err
	}
	return &wal{dir: dir, f: f, size: int64(len(buf))}, nil
}

// writeFileAtomic writes data to path through a temporary file, fsyncs it,
// renames it into place and fsyncs the directory. It returns the file,
// open for appending at its end.
func writeFileAtomic(path string, data []byte) (*os.File, error) {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("quorum: writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// append writes entries then hs (if not nil) in one write, and fsyncs if
// sync. After an error the file's tail is unknown: the caller must stop
// using the log (the node fails; reopening truncates the tail).
func (w *wal) append(entries []*pb.Entry, hs *pb.HardState, sync bool) error {
	w.buf = w.buf[:0]
	for _, e := range entries {
		w.buf = appendEntry(w.buf, e)
	}
	if hs != nil {
		w.buf = appendHardState(w.buf, hs)
	}
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("quorum: WAL write: %w", err)
	}
	w.size += int64(len(w.buf))
	if cap(w.buf) > 1<<20 {
		w.buf = nil // do not pin a large batch's buffer
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("quorum: WAL fsync: %w", err)
		}
	}
	return nil
}

func (w *wal) close() error {
	if w == nil || w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// reader reads the fields of the WAL, snapshots and proposals
// (binread.Reader) and the id lists only snapshots have.
type reader struct{ binread.Reader }
