package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"syscall"

	"github.com/gregor-log/gregor/internal/storage"
)

// writeSpliced writes a Spliced response: the frame size and header, then
// the parts in order. Runs of byte parts go out in one writev
// (net.Buffers); file ranges go with sendfile at an explicit offset when
// the connection is a socket, so concurrent fetches of one segment never
// share a file position.
func (c *conn) writeSpliced(req *Request, s *Spliced) (int, error) {
	bodyLen := s.Len()
	head := responseHeader(nil, req.Key, req.CorrelationID, s.Flexible)
	total := int64(len(head)-4) + bodyLen
	if total > math.MaxInt32 {
		panic(fmt.Sprintf("wire: %d byte response does not fit a frame", total))
	}
	binary.BigEndian.PutUint32(head, uint32(total))

	var written int64
	bufs := net.Buffers{head}
	flush := func() error {
		if len(bufs) == 0 {
			return nil
		}
		n, err := bufs.WriteTo(c.nc)
		written += n
		bufs = nil
		return err
	}
	for _, p := range s.Parts {
		if len(p.Bytes) > 0 {
			bufs = append(bufs, p.Bytes)
		}
		if p.Slice.Size > 0 {
			if err := flush(); err != nil {
				return int(written), err
			}
			n, err := sendSlice(c.nc, p.Slice)
			written += n
			if err != nil {
				return int(written), err
			}
		}
	}
	err := flush()
	return int(written), err
}

// errShortFile: a segment was shorter than the slice (retention removed or
// truncated it while the fetch was in flight). The frame is then broken,
// so the connection must close; the client retries.
var errShortFile = errors.New("wire: segment file ended before the slice")

// sendSlice copies a file range to the connection: sendfile for sockets,
// ReadAt and Write for anything else (net.Pipe in tests, TLS later).
func sendSlice(nc net.Conn, s storage.Slice) (int64, error) {
	if s.File == nil {
		panic("wire: Slice without a file")
	}
	if sc, ok := nc.(syscall.Conn); ok {
		return sendFile(sc, s.File, s.Pos, s.Size)
	}
	return copyRange(nc, s.File, s.Pos, s.Size)
}

// maxSendfileChunk keeps each sendfile call below Linux's per-call limit.
const maxSendfileChunk = 1 << 30

// sendFile runs sendfile(2) from f at off to the socket until size bytes
// are sent. The socket is non-blocking: on EAGAIN the callback returns
// false and the runtime poller waits for writability before calling it
// again, so no OS thread is parked.
func sendFile(dst syscall.Conn, f *os.File, off, size int64) (int64, error) {
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return 0, err
	}
	srcRaw, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var written int64
	var opErr error
	err = dstRaw.Write(func(dfd uintptr) bool {
		for written < size {
			var n int
			var serr error
			cerr := srcRaw.Control(func(sfd uintptr) {
				pos := off + written
				n, serr = syscall.Sendfile(int(dfd), int(sfd), &pos, int(min(size-written, maxSendfileChunk)))
			})
			if cerr != nil {
				opErr = cerr
				return true
			}
			if n > 0 {
				written += int64(n)
			}
			switch {
			case serr == syscall.EAGAIN:
				return false
			case serr == syscall.EINTR:
			case serr != nil:
				opErr = os.NewSyscallError("sendfile", serr)
				return true
			case n == 0:
				opErr = errShortFile
				return true
			}
		}
		return true
	})
	if err == nil {
		err = opErr
	}
	return written, err
}

// copyRange is sendFile without sendfile: bounded reads at explicit
// offsets.
func copyRange(w io.Writer, f *os.File, off, size int64) (int64, error) {
	buf := make([]byte, min(size, 64<<10))
	var written int64
	for written < size {
		chunk := buf[:min(int64(len(buf)), size-written)]
		n, err := f.ReadAt(chunk, off+written)
		if n > 0 {
			m, werr := w.Write(chunk[:n])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
		}
		if n < len(chunk) {
			if err == nil || errors.Is(err, io.EOF) {
				err = errShortFile
			}
			return written, err
		}
	}
	return written, nil
}
