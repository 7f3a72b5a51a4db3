// Package h1 serves HTTP/1.1 over TLS on each connection's own goroutine,
// without net/http's per-request machinery, for the requests that make up
// API traffic: GET, HEAD, DELETE and OPTIONS without a body.
//
// net/http's server pays, for every request, a goroutine that reads ahead
// on the connection to notice a client that goes away (a failed read, two
// deadline changes and a wake-up each time), a cancelable context, a
// response struct with two buffers, and it keeps a 4 KiB reader and a
// 4 KiB writer for the whole life of an idle keep-alive connection. This
// server reads the request as net/http's own parser does (the usual head
// with internal/httphead, held to http.ReadRequest by its tests; any other
// with http.ReadRequest), writes the response by net/http's rules (ported
// in response.go, compared byte for byte by TestDifferential and
// FuzzDifferential), and holds no buffer while a connection is idle: it
// waits for the next request's first byte with a one-byte read, as nginx
// frees its buffers between requests.
// A client that goes away is noticed by a read-ahead that starts only when
// a handler has run for watchAfter.
//
// Anything else is handed to a net/http Server with the bytes already
// read, for the rest of the connection's life: HTTP/2 (by ALPN), requests
// with a body, upgrades, Expect, HTTP/1.0, heads larger than the read
// buffer, and every request net/http's parser refuses, so that every
// error answer is net/http's own.
package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/tlsgate/tlsgate/internal/httphead"
)

// watchAfter is how long a handler runs before the server starts watching
// the client's connection for a close, to cancel the request's context as
// net/http does. Most API requests finish sooner and never pay for it.
const watchAfter = 50 * time.Millisecond

// bufSize is the size of the read buffer a connection holds while it
// serves a request (net/http's is 4 KiB too).
const bufSize = 4 << 10

// writeBufSize is the size of the write buffer a request holds while it
// is served: one TLS record's worth of plaintext and a head, so that a
// 16 KiB answer leaves in two writes (two records) rather than three or
// more. net/http's is 4 KiB, held for the connection's whole life.
const writeBufSize = 16<<10 + 1<<10

// Server serves the HTTP/1.1 requests of TLS connections. Set the fields
// before Serve; do not change them after.
type Server struct {
	// Handler answers the requests this server serves itself.
	Handler http.Handler
	// Fallback serves the connections handed over (see the package doc).
	// Its Serve must run on Handoff(). Its Handler, ConnContext and
	// timeouts should be this server's.
	Fallback *http.Server
	// TLSConfig is the listener's configuration.
	TLSConfig *tls.Config
	// ReadHeaderTimeout bounds the TLS handshake and each request head.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a connection.
	IdleTimeout time.Duration
	// ConnContext, if set, derives each connection's context.
	ConnContext func(context.Context, net.Conn) context.Context
	// ConnState, if set, is called with http.StateNew when a connection
	// is accepted and once more, with http.StateHijacked or
	// http.StateClosed, when this server is done with it: closed, taken
	// by a handler, or handed to Fallback (whose own hook then reports it
	// from StateNew on). A count of New minus the others is the number
	// of connections this server holds.
	ConnState func(net.Conn, http.ConnState)
	// ErrorLog receives what net/http would log (handshake errors,
	// panics, misuse of the ResponseWriter), in net/http's words.
	ErrorLog *log.Logger

	handoffOnce sync.Once
	handoff     *handoffListener
	closing     atomic.Bool
	mu          sync.Mutex
	ln          net.Listener
	conns       map[*conn]struct{}
	connsPeak   int // most entries conns has held since it was made
	// parkAfter is how long an idle connection waits in tls.Conn.Read
	// before it waits on its socket (idlewait.go); zero: defaultParkAfter.
	parkAfter time.Duration
}

// A map of connections that grew past shrinkMin entries is rebuilt once it
// holds a quarter of its peak: Go maps never shrink, and after a burst of
// 5,000 connections (issue 17) this one kept its 5,000 slots. Rebuilding
// copies at most a quarter of the entries deleted since the last rebuild.
const shrinkMin = 1024

// Handoff is the listener on which Fallback must serve.
func (s *Server) Handoff() net.Listener {
	s.handoffOnce.Do(func() {
		s.handoff = &handoffListener{ch: make(chan net.Conn), done: make(chan struct{})}
	})
	return s.handoff
}

// Serve accepts connections on ln (a plain TCP listener: the server does
// the TLS handshake) until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.Handoff()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// As net/http: back off on errors such as EMFILE.
			delay = max(5*time.Millisecond, min(2*delay, time.Second))
			s.logf("http: Accept error: %v; retrying in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go s.serveConn(c)
	}
}

// Shutdown stops accepting, closes idle connections, lets the others end
// their current request with "Connection: close", and waits for them
// until ctx is done. It does not shut Fallback down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListeners()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.closeListeners()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.tc.Close()
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.Handoff()
	s.handoff.Close()
}

// closeIdle aborts the reads of every idle connection (waiting for a
// request, or reading its head) and reports whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			c.tc.SetReadDeadline(aLongTimeAgo)
		}
	}
	return len(s.conns) == 0
}

func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		if s.conns == nil {
			s.conns = make(map[*conn]struct{})
		}
		s.conns[c] = struct{}{}
		s.connsPeak = max(s.connsPeak, len(s.conns))
	} else {
		delete(s.conns, c)
		if s.connsPeak >= shrinkMin && len(s.conns) <= s.connsPeak/4 {
			m := make(map[*conn]struct{}, len(s.conns))
			for c := range s.conns {
				m[c] = struct{}{}
			}
			s.conns, s.connsPeak = m, len(m)
		}
	}
	return true
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// conn is one client connection served by this server.
type conn struct {
	srv *Server
	raw net.Conn
	tc  *tls.Conn
	ctx context.Context
	// ctxEndless: ctx is never done, so requests offer the cancel hook (reqctx.go).
	ctxEndless bool
	tlsS       *tls.ConnectionState
	// remote is RemoteAddr().String(), once.
	remote string

	// br reads request heads; nil while the connection is idle.
	br  *bufio.Reader
	pre prefixReader
	// rc is raw's socket, where an idle connection waits (idlewait.go);
	// nil where raw has none.
	rc         syscall.RawConn
	readableFn func(uintptr) bool
	waited     bool
	// headR reads the buffered head for the parser.
	headR bytes.Reader

	// headDeadline is the read deadline of the head being read (zero:
	// none); a connection handed over keeps it for that head.
	headDeadline time.Time

	idle     atomic.Bool
	hijacked bool
	// writeDeadline is set when a handler set a write deadline.
	writeDeadline atomic.Bool
	werr          error

	// The client watch of the request in flight (see watch.go).
	watchMu    sync.Mutex
	watchTimer *time.Timer
	watchFn    func()
	watchDone  chan struct{}
	reqDone    bool
	watching   bool
	aborting   bool
	reqCtx     *reqCtx      // nil between requests
	wb         *writeBehind // under tc
	watchByte  [1]byte
}

func (s *Server) serveConn(raw net.Conn) {
	wb := newWriteBehind(raw)
	tc := tls.Server(wb, s.TLSConfig)
	c := &conn{srv: s, raw: raw, tc: tc, wb: wb}
	c.pre.c = tc
	// Idle (to Shutdown) until a request is read: a request read after
	// Shutdown begins is not served, so waiting for one is pointless.
	c.idle.Store(true)
	if !s.track(c, true) {
		raw.Close()
		return
	}
	if s.ConnState != nil {
		s.ConnState(tc, http.StateNew)
	}
	handed, hijacked := false, false
	defer func() {
		if err := recover(); err != nil && err != http.ErrAbortHandler {
			const size = 64 << 10
			buf := make([]byte, size)
			buf = buf[:runtime.Stack(buf, false)]
			s.logf("http: panic serving %v: %v\n%s", c.remote, err, buf)
		}
		hijacked = c.hijacked
		if !handed && !hijacked {
			c.releaseReader()
			tc.Close()
		}
		s.track(c, false)
		if s.ConnState != nil {
			if hijacked {
				s.ConnState(tc, http.StateHijacked)
			} else {
				s.ConnState(tc, http.StateClosed)
			}
		}
	}()
	var serve bool
	if serve, handed = c.begin(); serve {
		handed = c.serve()
	}
}

// begin does the TLS handshake and sets up the connection. It reports
// whether this server serves the connection's requests, or whether it
// handed the connection over (HTTP/2). It is a function of its own so
// that its frame, the largest of the connection's, is not on the stack
// while the connection idles: there, the frames below the idle wait must
// stay under a quarter of 8 KiB (less the runtime's guard) for the stack
// to shrink (idlewait.go).
func (c *conn) begin() (serve, handed bool) {
	s, raw, tc := c.srv, c.raw, c.tc
	if ra := raw.RemoteAddr(); ra != nil {
		c.remote = ra.String()
	}
	if d := s.ReadHeaderTimeout; d > 0 {
		tc.SetDeadline(time.Now().Add(d))
	}
	ctx := context.Background()
	if err := tc.HandshakeContext(ctx); err != nil {
		// As net/http: a client speaking plain HTTP gets a plain answer.
		var reason string
		if re, ok := err.(tls.RecordHeaderError); ok && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			re.Conn.Close()
			reason = "client sent an HTTP request to an HTTPS server"
		} else {
			reason = err.Error()
		}
		s.logf("http: TLS handshake error from %s: %v", c.remote, reason)
		return false, false
	}
	// As net/http: the first request's head has ReadHeaderTimeout from
	// the end of the handshake (waitFirstByte sets it).
	if d := s.ReadHeaderTimeout; d > 0 {
		c.headDeadline = time.Now().Add(d)
	}
	tc.SetWriteDeadline(time.Time{})
	cs := tc.ConnectionState()
	if p := cs.NegotiatedProtocol; p != "" && p != "http/1.1" && p != "http/1.0" {
		// HTTP/2: net/http serves it, unchanged, on a socket that
		// writes behind (writebehind.go).
		if p == "h2" {
			c.wb.enable()
		}
		c.setBusy()
		tc.SetReadDeadline(time.Time{})
		return false, s.handoff.give(tc)
	}
	c.tlsS = &cs
	ctx = context.WithValue(ctx, http.ServerContextKey, s.Fallback)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, raw.LocalAddr())
	if s.ConnContext != nil {
		ctx = s.ConnContext(ctx, tc)
	}
	c.ctx = ctx
	c.ctxEndless = ctx.Done() == nil
	c.initIdleWait()
	c.watchDone = make(chan struct{}, 1)
	c.watchFn = c.watchClient
	return true, false
}

// looksLikeHTTP is net/http's tlsRecordHeaderLooksLikeHTTP.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// serve serves requests until the connection ends, or hands it over and
// reports true.
func (c *conn) serve() (handed bool) {
	s := c.srv
	first := true
	for {
		c.idle.Store(true)
		if s.closing.Load() {
			return false
		}
		// The wait for the request's first byte ends at the first head's
		// deadline (from the end of the handshake), or for a later
		// request:
		dl := c.headDeadline
		if !first {
			// As net/http: the next request has IdleTimeout (or, without
			// one, ReadHeaderTimeout) to start, and a connection whose
			// client sends fewer than 4 bytes before it fails ends quietly.
			d := s.IdleTimeout
			if d <= 0 {
				d = s.ReadHeaderTimeout
			}
			dl = time.Time{}
			if d > 0 {
				dl = time.Now().Add(d)
			}
		}
		// set is the read deadline in force: waitFirstByte may end its
		// wait in tls.Conn.Read before dl (idlewait.go).
		set := dl
		if c.br == nil || c.br.Buffered() == 0 {
			c.releaseReader()
			if c.pre.pending {
				c.tc.SetReadDeadline(dl)
			} else {
				var ok bool
				if set, ok = c.waitFirstByte(dl); !ok {
					return false
				}
			}
			c.br = readers.Get().(*bufio.Reader)
			c.br.Reset(&c.pre)
		} else {
			c.tc.SetReadDeadline(dl)
		}
		if !first {
			if _, err := c.br.Peek(4); err != nil {
				if set == dl || !errors.Is(err, os.ErrDeadlineExceeded) {
					return false
				}
				// The first bytes came before waitFirstByte's deadline,
				// the fourth not: it still has until dl.
				c.tc.SetReadDeadline(dl)
				set = dl
				if _, err := c.br.Peek(4); err != nil {
					return false
				}
			}
			// As net/http: a later request's head has ReadHeaderTimeout
			// from its first bytes; the first request's runs from the
			// end of the handshake (set in begin).
			c.headDeadline = time.Time{}
			if d := s.ReadHeaderTimeout; d > 0 {
				c.headDeadline = time.Now().Add(d)
				c.tc.SetReadDeadline(c.headDeadline)
				set = c.headDeadline
			}
		}
		// The first head has its deadline, dl, and without
		// ReadHeaderTimeout a later head has dl too: waitFirstByte's
		// earlier one does not apply to them.
		if (first || c.headDeadline.IsZero()) && set != dl {
			c.tc.SetReadDeadline(dl)
		}
		first = false
		n, ok := c.peekHead()
		if !ok {
			return c.handOver()
		}
		req := c.parse(n)
		if req == nil {
			return c.handOver()
		}
		c.br.Discard(n)
		c.setBusy()
		if s.closing.Load() {
			// As net/http: a request read during shutdown is not served.
			return false
		}
		if !c.serveRequest(req) {
			return false
		}
	}
}

// peekHead buffers the request's head and returns its length, or false
// when it does not fit in the buffer, is not terminated by CRLF CRLF, or
// the connection failed first (net/http then reads the same bytes).
func (c *conn) peekHead() (int, bool) {
	from := 0
	for {
		buf, err := c.br.Peek(c.br.Buffered())
		if end, crlf := headEnd(buf, from); end > 0 {
			// A head that ends with a bare LF is net/http's to parse,
			// now: its client may be waiting for the answer.
			return end, crlf
		}
		from = max(0, len(buf)-2)
		if err != nil || len(buf) == c.br.Size() {
			return 0, false
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil && c.br.Buffered() == len(buf) {
			return 0, false
		}
	}
}

// headEnd finds the blank line that ends a head in buf, looking from
// from on: it returns the head's length and whether the blank line is
// CRLF CRLF, or 0 when there is none yet. A head line ends in LF (CR LF
// or bare LF, as textproto reads lines), and the head at the first empty
// line, "\n\n" or "\n\r\n".
func headEnd(buf []byte, from int) (int, bool) {
	for {
		i := bytes.IndexByte(buf[from:], '\n')
		if i < 0 {
			return 0, false
		}
		i += from
		switch {
		case i+1 < len(buf) && buf[i+1] == '\n':
			return i + 2, false
		case i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n':
			return i + 3, i > 0 && buf[i-1] == '\r'
		case i+2 >= len(buf) && (i+1 == len(buf) || buf[i+1] == '\r'):
			// Too early to tell.
			return 0, false
		}
		from = i + 1
	}
}

// parse parses the head of n bytes as net/http's parser does and returns
// the request, or nil when the request is not one this server serves.
func (c *conn) parse(n int) *http.Request {
	buf, _ := c.br.Peek(n)
	// The usual head is parsed by httphead, into the Request
	// http.ReadRequest builds from it (it copies what it keeps out of the
	// buffer); anything else by http.ReadRequest itself.
	req, ok := httphead.ParseRequest(buf)
	if !ok {
		req = c.readRequest(buf)
	}
	if req == nil || !eligible(req) {
		return nil
	}
	req.RemoteAddr = c.remote
	req.TLS = c.tlsS
	return req
}

// readRequest parses head with http.ReadRequest; nil when it fails or
// ends the head early.
func (c *conn) readRequest(head []byte) *http.Request {
	c.headR.Reset(head)
	hbr := readers.Get().(*bufio.Reader)
	hbr.Reset(&c.headR)
	defer func() {
		hbr.Reset(nil)
		readers.Put(hbr)
	}()
	req, err := http.ReadRequest(hbr)
	if err != nil {
		return nil
	}
	if hbr.Buffered() != 0 || c.headR.Len() != 0 {
		// The parser's head ended before the first CRLF CRLF (bare LF
		// line ends): the rest is the next request's, as net/http sees
		// it. Hand over rather than guess.
		return nil
	}
	return req
}

// eligible reports whether this server serves req itself; the checks are
// the ones net/http's server adds to ReadRequest, or send req to it.
func eligible(req *http.Request) bool {
	switch req.Method {
	case "GET", "HEAD", "DELETE", "OPTIONS":
	default:
		return false
	}
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.Body != http.NoBody ||
		req.URL.Host != "" || req.RequestURI == "" || req.RequestURI[0] != '/' ||
		req.Host == "" || !httpguts.ValidHostHeader(req.Host) {
		return false
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
		switch k {
		case "Expect", "Upgrade", "Transfer-Encoding", "Content-Length", "Trailer", "Http2-Settings":
			return false
		case "Connection":
			if len(vv) != 1 {
				return false
			}
		}
	}
	return true
}

// handOver gives the connection, with the bytes read so far, to Fallback.
func (c *conn) handOver() bool {
	var buffered []byte
	if c.br != nil {
		b, _ := c.br.Peek(c.br.Buffered())
		buffered = bytes.Clone(b)
	}
	if c.pre.pending { // read by the client watch after the reader's bytes
		buffered = append(buffered, c.pre.b[0])
		c.pre.pending = false
	}
	c.releaseReader()
	c.setBusy()
	c.tc.SetReadDeadline(time.Time{})
	return c.srv.handoff.give(&handedConn{Conn: c.tc, tc: c.tc, rest: buffered, headDeadline: c.headDeadline})
}

// setBusy marks the connection as no longer idle (it serves a request,
// or net/http will); during Shutdown it also waits out a closeIdle pass
// that saw it idle, so that the read deadline it sets next stands.
func (c *conn) setBusy() {
	c.idle.Store(false)
	if c.srv.closing.Load() {
		c.srv.mu.Lock()
		//lint:ignore SA2001 a barrier: wait out a closeIdle pass in progress
		c.srv.mu.Unlock()
	}
}

func (c *conn) releaseReader() {
	if c.br != nil {
		c.br.Reset(nil)
		readers.Put(c.br)
		c.br = nil
	}
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufSize) }}
)

// prefixReader reads the byte the idle wait read, then the connection.
type prefixReader struct {
	c       *tls.Conn
	b       [1]byte
	pending bool
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if p.pending {
		if len(b) == 0 {
			return 0, nil
		}
		b[0] = p.b[0]
		p.pending = false
		// Return at once: the caller sets the head's deadline before it
		// reads from the connection.
		return 1, nil
	}
	return p.c.Read(b)
}

// handedConn is a connection handed to Fallback: it first yields the
// bytes this server had read, and reports the TLS state so that
// net/http sets Request.TLS.
type handedConn struct {
	net.Conn
	tc   *tls.Conn
	rest []byte
	// headDeadline bounds the head this server began to read: net/http's
	// first read deadline (its ReadHeaderTimeout, from the handover) may
	// not extend it, or a slow client would get the bound twice.
	headDeadline time.Time
	mu           sync.Mutex
}

func (h *handedConn) SetReadDeadline(t time.Time) error {
	h.mu.Lock()
	if dl := h.headDeadline; !dl.IsZero() {
		h.headDeadline = time.Time{}
		if !t.IsZero() && t.After(dl) {
			t = dl
		}
	}
	h.mu.Unlock()
	return h.tc.SetReadDeadline(t)
}

func (h *handedConn) SetDeadline(t time.Time) error {
	if err := h.SetReadDeadline(t); err != nil {
		return err
	}
	return h.tc.SetWriteDeadline(t)
}

func (h *handedConn) Read(b []byte) (int, error) {
	if len(h.rest) > 0 {
		n := copy(b, h.rest)
		h.rest = h.rest[n:]
		return n, nil
	}
	return h.tc.Read(b)
}

// ConnectionState is read by net/http for Request.TLS.
func (h *handedConn) ConnectionState() tls.ConnectionState { return h.tc.ConnectionState() }

// NetConn is the TCP connection, as tls.Conn's: the socket, not the
// write-behind above it (off on a handed HTTP/1 connection), so that its
// optional methods (CloseWrite, SyscallConn) stay visible.
func (h *handedConn) NetConn() net.Conn {
	c := h.tc.NetConn()
	if w, ok := c.(*writeBehind); ok {
		return w.NetConn()
	}
	return c
}

// handoffListener is the listener Fallback serves.
type handoffListener struct {
	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		c.Close()
		return true
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }
