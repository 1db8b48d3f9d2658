package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options configure a Server.
type Options struct {
	// MaxRequestBytes is socket.request.max.bytes: a bigger frame closes
	// the connection before any of it is buffered.
	MaxRequestBytes int32
	// APIs are the keys and versions the Handler implements. Anything else
	// is refused before decoding (ApiVersions: answered with the fallback).
	APIs []APIRange
	// ReadAhead bounds how many decoded requests of one connection may wait
	// while an earlier one is being handled; 0 means 4. The bytes waiting
	// are also bounded, by MaxRequestBytes.
	ReadAhead int
	// IdleTimeout closes a connection that sends nothing for this long
	// (connections.max.idle.ms); 0 disables it.
	IdleTimeout time.Duration
	Logger      *slog.Logger
	Metrics     *Metrics // nil: no metrics
}

// Server accepts connections and runs the Kafka protocol on each: frames
// are read and decoded by one goroutine per connection, which may run
// ahead of the handler by a bounded number of requests, and handled one at
// a time, in order, by another, which writes each response before handling
// the next (as Kafka mutes a connection until its response is sent).
type Server struct {
	h      Handler
	opts   Options
	apis   map[int16]APIRange
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	nextID atomic.Uint64
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		closed    bool
		listeners map[net.Listener]struct{}
		conns     map[net.Conn]struct{}
	}
}

// NewServer returns a Server that hands requests to h.
func NewServer(h Handler, opts Options) *Server {
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = 100 << 20
	}
	if opts.ReadAhead <= 0 {
		opts.ReadAhead = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, opts: opts, apis: map[int16]APIRange{}, log: opts.Logger}
	for _, r := range opts.APIs {
		s.apis[r.Key] = r
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.listeners = map[net.Listener]struct{}{}
	s.mu.conns = map[net.Conn]struct{}{}
	return s
}

// Serve accepts connections on ln until ln or the Server is closed; it
// returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.mu.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.mu.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Temporary errors (EMFILE) must not spin or end the loop.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "addr", ln.Addr(), "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-s.ctx.Done():
				return nil
			}
		}
		backoff = 0
		if !s.track(nc) {
			nc.Close()
			return nil
		}
		s.wg.Go(func() {
			defer s.untrack(nc)
			s.ServeConn(nc)
		})
	}
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return false
	}
	s.mu.conns[nc] = struct{}{}
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.mu.conns, nc)
	s.mu.Unlock()
}

// Close stops accepting, closes every connection and waits for their
// goroutines (handlers see their context cancelled).
func (s *Server) Close() error {
	s.mu.Lock()
	s.mu.closed = true
	for ln := range s.mu.listeners {
		ln.Close()
	}
	for nc := range s.mu.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// conn is one client connection's state, shared by its reader and
// processor goroutines.
type conn struct {
	s      *Server
	nc     net.Conn
	id     uint64
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan decoded
	// released is signalled by the processor each time it finishes a
	// request, so a reader waiting for byte budget can re-check.
	released chan struct{}
	inFlight atomic.Int64 // bytes of frames read but not yet answered
	wbuf     []byte
}

// ServeConn runs the protocol on one connection until it fails or the
// Server closes; it closes nc. Anything that goes wrong, including a
// panic in a handler, ends only this connection.
func (s *Server) ServeConn(nc net.Conn) {
	c := &conn{
		s:        s,
		nc:       nc,
		id:       s.nextID.Add(1),
		queue:    make(chan decoded, s.opts.ReadAhead),
		released: make(chan struct{}, 1),
	}
	c.log = s.log.With("conn", c.id, "remote", nc.RemoteAddr())
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	m := s.opts.Metrics
	m.connOpened()
	defer m.connClosed()

	readErr := make(chan error, 1)
	go func() {
		err := c.readLoop()
		close(c.queue)
		readErr <- err
	}()
	procErr := c.processLoop()
	c.cancel()
	nc.Close()
	err := <-readErr
	if procErr != nil {
		err = procErr
	}
	switch {
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.s.ctx.Err() != nil:
		c.log.Debug("connection closed")
	case errors.Is(err, ErrRequestTooLarge), errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownAPI), errors.Is(err, ErrUnsupportedVersion):
		m.closedBy(err)
		c.log.Warn("closing connection", "err", err)
	default:
		c.log.Debug("connection closed", "err", err)
	}
}

// readLoop reads and decodes frames until the connection fails. A frame
// that cannot be decoded ends the loop: requests before it are still
// answered, then the connection closes.
func (c *conn) readLoop() (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic decoding a request", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: decoder panic", ErrMalformed)
		}
	}()
	br := bufio.NewReaderSize(c.nc, 32<<10)
	var sizeBuf [4]byte
	// The idle deadline also bounds reading a frame's body, so a client
	// trickling bytes cannot hold a connection forever.
	deadline := func() {
		if d := c.s.opts.IdleTimeout; d > 0 {
			c.nc.SetReadDeadline(time.Now().Add(d))
		}
	}
	for {
		deadline()
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 0 || size > c.s.opts.MaxRequestBytes {
			return fmt.Errorf("%w: %d bytes (limit %d)", ErrRequestTooLarge, uint32(size), c.s.opts.MaxRequestBytes)
		}
		if err := c.waitBudget(int64(size)); err != nil {
			return err
		}
		frame := make([]byte, size)
		deadline()
		if _, err := io.ReadFull(br, frame); err != nil {
			return err
		}
		c.s.opts.Metrics.received(4 + int(size))
		d, err := decodeFrame(frame, c.s.apis)
		if err != nil {
			return err
		}
		d.req.ConnID = c.id
		d.req.Remote = c.nc.RemoteAddr()
		d.size = int64(size)
		d.received = time.Now()
		select {
		case c.queue <- d:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

// waitBudget blocks until size more bytes may be held for this connection:
// the frames read ahead stay under MaxRequestBytes in total, but one frame
// alone is always allowed.
func (c *conn) waitBudget(size int64) error {
	for {
		held := c.inFlight.Load()
		if held == 0 || held+size <= int64(c.s.opts.MaxRequestBytes) {
			c.inFlight.Add(size)
			return nil
		}
		select {
		case <-c.released:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

// Deferred is an answer still being computed (a produce waiting for its
// fsync): the connection handles the next request meanwhile and writes
// this answer, in order, once the function returns.
type Deferred func() (any, error)

// answered is a handled request waiting for its answer to be written.
type answered struct {
	d    decoded
	resp any
}

// processLoop handles queued requests one at a time; a writer goroutine
// writes their answers in order, waiting for Deferred ones.
func (c *conn) processLoop() error {
	out := make(chan answered, c.s.opts.ReadAhead)
	werr := make(chan error, 1)
	go func() { werr <- c.writeLoop(out) }()
	perr := c.handleLoop(out)
	close(out)
	err := <-werr
	if perr != nil {
		return perr
	}
	return err
}

func (c *conn) handleLoop(out chan<- answered) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic handling a request", "panic", r, "stack", string(debug.Stack()))
			err = errors.New("wire: handler panic")
		}
	}()
	for {
		var d decoded
		select {
		case dd, ok := <-c.queue:
			if !ok {
				return nil
			}
			d = dd
		case <-c.ctx.Done():
			return nil
		}
		var resp any = d.answer
		if d.answer == nil {
			resp, err = c.s.h.Handle(c.ctx, d.req)
			if err != nil {
				return fmt.Errorf("handler %s v%d: %w", kmsg.Key(d.req.Key).Name(), d.req.Version, err)
			}
		}
		select {
		case out <- answered{d, resp}:
		case <-c.ctx.Done():
			return nil
		}
	}
}

func (c *conn) writeLoop(in <-chan answered) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic handling a request", "panic", r, "stack", string(debug.Stack()))
			err = errors.New("wire: handler panic")
			c.cancel()
			for range in {
			}
		}
	}()
	for a := range in {
		if err != nil {
			continue // drain: the connection is closing
		}
		resp := a.resp
		if f, ok := resp.(Deferred); ok {
			if resp, err = f(); err != nil {
				err = fmt.Errorf("handler %s v%d: %w", kmsg.Key(a.d.req.Key).Name(), a.d.req.Version, err)
				c.cancel()
				continue
			}
		}
		n, werr := c.write(a.d.req, resp)
		c.s.opts.Metrics.observe(a.d.req.Key, a.d.received, n)
		if werr != nil {
			err = werr
			c.cancel()
			continue
		}
		c.inFlight.Add(-a.d.size)
		select {
		case c.released <- struct{}{}:
		default:
		}
	}
	return err
}

// write sends one response; it returns the bytes written.
func (c *conn) write(req *Request, resp any) (int, error) {
	switch r := resp.(type) {
	case nil:
		return 0, nil
	case kmsg.Response:
		if r == nil { // a typed nil
			return 0, nil
		}
		if r.Key() != req.Key {
			panic(fmt.Sprintf("wire: handler answered %s with %s", kmsg.Key(req.Key).Name(), kmsg.Key(r.Key()).Name()))
		}
		c.wbuf = encodeResponse(c.wbuf[:0], req, r)
		n, err := c.nc.Write(c.wbuf)
		if cap(c.wbuf) > 1<<20 { // do not pin a huge buffer to an idle connection
			c.wbuf = nil
		}
		return n, err
	case *Spliced:
		return c.writeSpliced(req, r)
	default:
		panic(fmt.Sprintf("wire: handler returned %T", resp))
	}
}

func sortedAPIs(apis map[int16]APIRange) []APIRange {
	out := make([]APIRange, 0, len(apis))
	for _, r := range apis {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b APIRange) int { return int(a.Key) - int(b.Key) })
	return out
}
