package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/tlsgate/tlsgate/internal/httphead"
)

// h1Transport sends requests to plain-HTTP/1.1 upstreams over pooled
// keep-alive connections, writing the request and reading the response on
// the caller's goroutine.
//
// Why not http.Transport alone: it runs a reader and a writer goroutine per
// connection and hands every request and response between them over
// channels, and its reader probes the socket after each response. For a
// proxy whose upstream answers in microseconds that bookkeeping is a large
// part of the CPU spent per request. Responses are parsed as
// http.ReadResponse parses them (httphead.ReadResponse: the usual head by
// a strict parser held to it, anything else by it), requests written by
// Request.Write or from a head prepared by the caller (see h1Request);
// only connection handling lives here. Everything else (https upstreams, protocol upgrades) goes to the
// fallback http.Transport.
//
// Connection handling is where a hand-written transport can be less strict
// than http.Transport, and for a proxy that is a security matter: a
// connection reused out of step gives one client another's answer. The
// rules: a connection is pooled only after an answer framed to its end
// (see putConn) with nothing after it, checked again on every reuse; a
// response head may not exceed maxHeader bytes. TestTransportMatchesHTTPTransport
// and FuzzTransportDiff hold this transport to http.Transport over a corpus
// of upstream answers (malformed, 1xx, HEAD/204/304 with bodies, extra
// bytes, early closes): the same answer or error, and no reuse that
// http.Transport would not make.
type h1Transport struct {
	// DialContext connects to an upstream (a field, as in http.Transport,
	// so tests can observe dials).
	DialContext    func(ctx context.Context, network, addr string) (net.Conn, error)
	responseHeader time.Duration // wait for response headers; 0 = none
	maxHeader      int64         // bytes read for one response head
	idleTimeout    time.Duration // close pooled connections idle this long
	maxIdlePerHost int
	fallback       *http.Transport

	mu   sync.Mutex // guards idle and reaper
	idle map[string][]*h1Conn
	// reaper closes connections pooled longer than idleTimeout; it is
	// armed while any connection is pooled. getConn alone would find them
	// only when the pool is drained down to them: it takes the newest
	// first, and with no traffic it does not run.
	reaper *time.Timer
}

type h1Conn struct {
	nc      net.Conn
	lr      limitedConn // br's source
	br      *bufio.Reader
	bw      *bufio.Writer
	key     string
	idleAt  time.Time
	takenAt time.Time // when getConn handed it out
	reused  bool
	// The context watcher of the current request: hook when the request's
	// context offers one (CancelHook), else stopCtx from context.AfterFunc.
	hook     CancelHook
	stopCtx  func() bool
	canceled atomic.Bool // the context watcher fired: the deadline is poisoned

	// abort is the context watcher's function (abortIO), made once per
	// connection: a closure per request allocated.
	abort func()

	// fd is nc's socket, read once when the connection is made, for the
	// check before each reuse (peek); -1 when nc has no file descriptor
	// (tests wrap connections). peekBuf is peek's scratch space.
	fd      int
	peekBuf [1]byte
}

// newUpstreamTransport returns the transport for one route's upstreams:
// an h1Transport, with its fallback http.Transport for https upstreams and
// upgrades, both bounded as opts says. tlsConfig is the fallback's client
// config for https upstreams.
func newUpstreamTransport(opts *Options, tlsConfig *tls.Config) *h1Transport {
	maxHeader := int64(opts.MaxUpstreamHeaderBytes)
	if maxHeader <= 0 {
		maxHeader = DefaultMaxUpstreamHeaderBytes
	}
	t := newH1Transport(opts.UpstreamConnect, opts.UpstreamResponse, maxHeader,
		newTransport(opts.UpstreamConnect, opts.UpstreamResponse, maxHeader, tlsConfig))
	// An upstream that stops reading a request body is cut off after
	// Send too (nginx's proxy_send_timeout), instead of pinning the
	// request and both connections.
	t.DialContext = sendDialer(t.DialContext, opts.Send)
	t.fallback.DialContext = sendDialer(t.fallback.DialContext, opts.Send)
	return t
}

// Upstream connections, of both transports: kept alive while idle for up
// to upstreamIdleTimeout, at most maxIdlePerUpstream of them per upstream.
// Go's default of 2 idle connections per host makes a busy proxy open and
// close a backend connection for most requests; 512 covers the
// concurrency a single gateway sees.
const (
	upstreamIdleTimeout = 90 * time.Second
	maxIdlePerUpstream  = 512
)

// upstreamDialer returns the dial function of both transports: connect
// bounds a connect, and TCP keep-alives find upstreams that vanished.
func upstreamDialer(connect time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext
}

// newH1Transport returns an h1Transport; maxHeader must be positive.
func newH1Transport(connect, responseHeader time.Duration, maxHeader int64, fallback *http.Transport) *h1Transport {
	return &h1Transport{
		DialContext:    upstreamDialer(connect),
		responseHeader: responseHeader,
		maxHeader:      maxHeader,
		idleTimeout:    upstreamIdleTimeout,
		maxIdlePerHost: maxIdlePerUpstream,
		fallback:       fallback,
		idle:           map[string][]*h1Conn{},
	}
}

// newTransport returns the fallback http.Transport, for https upstreams
// and upgrades.
func newTransport(connect, responseHeader time.Duration, maxHeader int64, tlsConfig *tls.Config) *http.Transport {
	t := &http.Transport{
		Proxy:                 nil, // never route backend traffic through an environment proxy
		DialContext:           upstreamDialer(connect),
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: responseHeader,
		// As h1Transport's limit (HTTP/2 upstreams: as the header list).
		MaxResponseHeaderBytes: maxHeader,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        upstreamIdleTimeout,
		MaxIdleConnsPerHost:    maxIdlePerUpstream,
		// The gateway passes bodies through untouched: no transparent gzip.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
		TLSClientConfig:    tlsConfig,
	}
	return t
}

// h1Request describes one request for h1Transport: what goes on the wire
// and what the exchange needs to know. Both callers, RoundTrip and the
// direct path, fill it in; the transport does not know which did.
//
// The request goes out in one of two forms. With head nil, req is written
// by Request.Write, body and trailers included, and the transport closes
// req's body when it is done with it, as an http.RoundTripper does.
// Otherwise the request line is req's method, target and HTTP/1.1, then
// "Host: addr", then head: header lines already checked and trimmed, and
// the blank line that ends them. No body follows. A prepared head must not
// carry Connection (hop-by-hop fields are the sender's to drop), so its
// connection stays reusable whatever req asked of its own.
type h1Request struct {
	// req is the request being answered: its context bounds the exchange,
	// its method says how the answer is framed (no body for HEAD), and the
	// response's Request is req.
	req *http.Request
	// addr is the upstream's host:port: dialled, and the key of the
	// idle-connection pool.
	addr   string
	target string // the origin-form request target, with head
	head   []byte
	// repeatable: the request may be sent again on a fresh connection when
	// a pooled one failed under it (as http.Transport does): idempotent,
	// and a body, if any, that GetBody can make again.
	repeatable bool
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.Header["Upgrade"] != nil {
		return t.fallback.RoundTrip(req)
	}
	o := h1Request{req: req, addr: req.URL.Host, repeatable: idempotent(req.Method, req.Header, nil) && replayable(req)}
	return t.exchange(&o, nil)
}

// exchange sends o to its upstream and reads the answer. Informational
// answers before it (1xx) go to got1xx; when got1xx is nil, to the
// Got1xxResponse of the request context's httptrace.ClientTrace, as from
// http.Transport. An error from got1xx ends the exchange.
//
// got1xx is a parameter, not a field of o, so that a caller's closure can
// stay on its stack: o's contents escape (into the response and the
// connection pool), and with them anything o points to.
func (t *h1Transport) exchange(o *h1Request, got1xx func(code int, h textproto.MIMEHeader) error) (*http.Response, error) {
	req := o.req
	for attempt := 0; ; attempt++ {
		c, err := t.getConn(req.Context(), o.addr)
		if err != nil {
			o.closeBody()
			return nil, err
		}
		resp, err := c.roundTrip(t, o, got1xx)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		// A pooled connection the upstream closed while it was idle fails
		// at once. Retry once on a fresh connection when the request can be
		// sent again and may be repeated (as http.Transport does).
		if c.reused && attempt == 0 && req.Context().Err() == nil && staleConnError(err) && o.repeatable {
			if o.head == nil {
				if err := rewindBody(req); err != nil {
					return nil, err
				}
			}
			continue
		}
		o.closeBody()
		return nil, err
	}
}

// closeBody closes the body the transport was given to send, if any.
func (o *h1Request) closeBody() {
	if o.head == nil && o.req.Body != nil {
		o.req.Body.Close()
	}
}

// write writes the request to bw.
func (o *h1Request) write(bw *bufio.Writer) error {
	if o.head == nil {
		return o.req.Write(bw)
	}
	bw.WriteString(o.req.Method)
	bw.WriteByte(' ')
	bw.WriteString(o.target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(o.addr)
	bw.WriteString("\r\n")
	bw.Write(o.head)
	return nil
}

// asksClose reports whether the request as written asks the upstream to
// close the connection after its answer.
func (o *h1Request) asksClose() bool {
	return o.head == nil && o.req.Close
}

// idempotent reports whether a request with method and header h may be
// sent twice (RFC 9110, 9.2.2), or carries an idempotency key; keys whose
// names are in listed (Connection's list) do not count, as they are not
// sent.
func idempotent(method string, h http.Header, listed []string) bool {
	return safeMethod(method) ||
		h["Idempotency-Key"] != nil && !slices.Contains(listed, "Idempotency-Key") ||
		h["X-Idempotency-Key"] != nil && !slices.Contains(listed, "X-Idempotency-Key")
}

// safeMethod reports whether method is one a client expects to be
// repeated on a failed connection.
func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

func staleConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// getConn returns a pooled connection to addr or dials a new one.
func (t *h1Transport) getConn(ctx context.Context, addr string) (*h1Conn, error) {
	now := time.Now()
	t.mu.Lock()
	for {
		list := t.idle[addr]
		if len(list) == 0 {
			break
		}
		c := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[addr] = list[:len(list)-1]
		if now.Sub(c.idleAt) > t.idleTimeout {
			c.nc.Close()
			continue
		}
		t.mu.Unlock()
		// Every reuse, however short the pause: a byte that arrived while
		// the connection was idle is either the upstream closing it or an
		// answer nobody asked for, which would be read as the answer to
		// this request, perhaps another client's (see putConn).
		if !c.alive() {
			c.nc.Close()
			t.mu.Lock()
			continue
		}
		c.attachBuffers()
		c.reused = true
		c.takenAt = now
		return c, nil
	}
	t.mu.Unlock()
	nc, err := t.DialContext(ctx, "tcp", dialAddr(addr))
	if err != nil {
		return nil, err
	}
	c, err := newH1Conn(nc, addr)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.takenAt = now
	return c, nil
}

func newH1Conn(nc net.Conn, addr string) (*h1Conn, error) {
	c := &h1Conn{nc: nc, lr: limitedConn{nc: nc, n: math.MaxInt64}, key: addr}
	c.abort = c.abortIO
	c.attachBuffers()
	c.fd = -1
	if sc, ok := nc.(syscall.Conn); ok {
		rc, err := sc.SyscallConn()
		if err != nil {
			return nil, err
		}
		if err := rc.Control(func(fd uintptr) { c.fd = int(fd) }); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Buffers of upstream connections, held only while a connection carries
// a request: a pooled connection holds none. After a burst the pool keeps
// up to maxIdlePerUpstream connections per upstream for as long as
// upstreamIdleTimeout, and their two 4 KiB buffers were 4 MiB of the 21
// MiB over its starting RSS that tlsgate still held 60 s after a burst of
// 5,000 HTTP/2 connections (issue 17, bench/burst.sh).
var (
	upstreamReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	upstreamWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// attachBuffers gives c a reader and a writer from the pools.
func (c *h1Conn) attachBuffers() {
	c.br = upstreamReaders.Get().(*bufio.Reader)
	c.br.Reset(&c.lr)
	c.bw = upstreamWriters.Get().(*bufio.Writer)
	c.bw.Reset(c.nc)
}

// releaseBuffers returns c's buffers to the pools. Only for a connection
// with nothing buffered (putConn checks), whose answer was read to its end
// (h1Body reads nothing after that).
func (c *h1Conn) releaseBuffers() {
	c.br.Reset(nil)
	upstreamReaders.Put(c.br)
	c.br = nil
	c.bw.Reset(nil)
	upstreamWriters.Put(c.bw)
	c.bw = nil
}

// alive peeks at the socket without blocking and reports whether nothing
// has arrived: a closed connection reads EOF, and any byte is one the
// upstream sent without being asked.
func (c *h1Conn) alive() bool {
	if c.br != nil && c.br.Buffered() > 0 {
		return false
	}
	if c.fd < 0 {
		return true
	}
	return c.peek()
}

// peek is alive's raw read: one non-blocking MSG_PEEK of a byte. Only
// "would block" means quiet; data, EOF and errors all mean the connection
// must not carry another request.
//
// It is a raw system call on the descriptor, outside the runtime's poller
// (no fd lock, no entersyscall): MSG_DONTWAIT keeps it from blocking, and
// the descriptor cannot be closed under it, because the connection is
// owned by the caller alone from the moment getConn took it off the idle
// list (CloseIdleConnections closes only connections still on it).
func (c *h1Conn) peek() bool {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(c.fd), uintptr(unsafe.Pointer(&c.peekBuf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
}

// putConn pools c, whose last answer was read to its framed end (a
// Content-Length read whole, or a chunked body to its terminator; never a
// body that ends at close, and never an upgrade).
//
// Anything after that answer was not asked for: more bytes already
// buffered (a second response, or a body on an answer to HEAD or a 204 or
// 304, which http.ReadResponse leaves unread) close the connection here,
// and bytes that arrive while it is idle close it at the next getConn,
// whose peek runs on every reuse. Otherwise they would be read as the
// answer to the next request, which may be another client's: response
// queue poisoning. What cannot be told apart is bytes that arrive after
// the next request was sent, which is true of any HTTP/1.1 client
// (http.Transport's background reader has the same window): the upstream
// answering that request.
func (t *h1Transport) putConn(c *h1Conn) {
	if c.br.Buffered() > 0 || c.bw.Buffered() > 0 {
		c.nc.Close()
		return
	}
	c.releaseBuffers()
	// The request took microseconds: its start is close enough to its end
	// for idle bookkeeping measured in seconds, and saves a clock read.
	c.idleAt = c.takenAt
	t.mu.Lock()
	if len(t.idle[c.key]) >= t.maxIdlePerHost {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	t.idle[c.key] = append(t.idle[c.key], c)
	if t.reaper == nil {
		t.reaper = time.AfterFunc(t.idleTimeout, t.reap)
	}
	t.mu.Unlock()
}

// reap closes the pooled connections idle longer than idleTimeout and
// arms the reaper again for the next one to expire, if any is left.
func (t *h1Transport) reap() {
	t.mu.Lock()
	expired, next := t.prune(time.Now())
	if t.reaper != nil { // else CloseIdleConnections stopped it
		if next > 0 {
			t.reaper.Reset(max(next, time.Second))
		} else {
			t.reaper = nil
		}
	}
	t.mu.Unlock()
	for _, c := range expired {
		c.nc.Close()
	}
}

// prune takes the connections idle longer than idleTimeout at now off the
// pool and returns them, to be closed outside t.mu, and how long until the
// next of those left expires (0 when none is left). Caller holds t.mu.
func (t *h1Transport) prune(now time.Time) (expired []*h1Conn, next time.Duration) {
	for key, list := range t.idle {
		kept := list[:0]
		for _, c := range list {
			left := t.idleTimeout - now.Sub(c.idleAt)
			if left < 0 {
				expired = append(expired, c)
				continue
			}
			if next == 0 || left < next {
				next = max(left, 1)
			}
			kept = append(kept, c)
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, key)
		} else {
			t.idle[key] = kept
		}
	}
	return expired, next
}

// CloseIdleConnections closes every pooled connection.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	if t.reaper != nil {
		t.reaper.Stop()
		t.reaper = nil
	}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	t.fallback.CloseIdleConnections()
}

func (c *h1Conn) roundTrip(t *h1Transport, o *h1Request, got1xx func(int, textproto.MIMEHeader) error) (*http.Response, error) {
	req := o.req
	// Unblock reads and writes when the client goes away.
	c.hook, c.stopCtx = nil, nil
	if h, ok := req.Context().(CancelHook); ok && h.AfterCancel(c.abort) {
		c.hook = h
	} else if req.Context().Done() != nil {
		c.stopCtx = context.AfterFunc(req.Context(), c.abort)
	}
	fail := func(err error) (*http.Response, error) {
		c.stop()
		if c.canceled.Load() {
			return nil, errors.Join(req.Context().Err(), err)
		}
		return nil, err
	}
	if err := o.write(c.bw); err != nil {
		return fail(err)
	}
	if err := c.bw.Flush(); err != nil {
		return fail(err)
	}
	if t.responseHeader > 0 {
		c.nc.SetReadDeadline(time.Now().Add(t.responseHeader))
		c.repoison()
	}
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		if n1xx > max1xx {
			return fail(errTooMany1xx)
		}
		// Each head (1xx or final) may take maxHeader bytes from the
		// socket, as in http.Transport when 1xx answers are passed on.
		c.lr.n = t.maxHeader
		var err error
		resp, err = httphead.ReadResponse(c.br, req)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !c.canceled.Load() {
				return fail(errResponseTimeout)
			}
			if c.lr.n <= 0 {
				return fail(&headerTooBigError{t.maxHeader})
			}
			return fail(err)
		}
		// 1xx informational answers (100 Continue, 103 Early Hints) precede
		// the real one. They are reported as http.Transport does, so
		// ReverseProxy passes them on to the client. 101 is final, as in
		// http.Transport: upgrades use the fallback, so here it is one
		// nobody asked for, refused by ReverseProxy and the direct path.
		if resp.StatusCode >= 200 || resp.StatusCode < 100 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		resp.Body.Close()
		if got1xx == nil {
			if trace := httptrace.ContextClientTrace(req.Context()); trace != nil {
				got1xx = trace.Got1xxResponse
			}
		}
		if got1xx != nil {
			if err := got1xx(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return fail(err)
			}
		}
	}
	c.lr.n = math.MaxInt64
	// Clear the header deadline before the body is read, unless the body
	// is already buffered whole (the common small API answer): then no
	// further read happens, and the next request sets its own deadline.
	if t.responseHeader > 0 && (resp.ContentLength < 0 || int64(c.br.Buffered()) < resp.ContentLength) {
		c.nc.SetReadDeadline(time.Time{})
		c.repoison()
	}
	// A final status below 200 (a 101, or one below 100 that
	// http.ReadResponse accepts, such as "000") leaves the connection in
	// no state to reuse, as http.Transport judges.
	reusable := !resp.Close && !o.asksClose() && resp.StatusCode >= 200
	if resp.Body == http.NoBody {
		if c.stop() && reusable {
			t.putConn(c)
		} else {
			c.nc.Close()
		}
		return resp, nil
	}
	resp.Body = &h1Body{rc: resp.Body, c: c, t: t, reusable: reusable}
	return resp, nil
}

// abortIO marks the request canceled and unblocks its reads and writes.
func (c *h1Conn) abortIO() {
	c.canceled.Store(true)
	c.nc.SetDeadline(time.Unix(1, 0))
}

// repoison puts the cancelled deadline back after a deadline was set: the
// context watcher sets canceled before it poisons the deadline, so if it
// ran before this call's deadline replaced the poison, canceled is seen
// here; if it runs after, its poison wins.
func (c *h1Conn) repoison() {
	if c.canceled.Load() {
		c.nc.SetDeadline(time.Unix(1, 0))
	}
}

// stop ends the context watcher and reports whether the connection is
// still usable: false when the watcher ran (or is running) and poisoned
// the connection's deadline.
func (c *h1Conn) stop() bool {
	stopped := true
	switch {
	case c.hook != nil:
		stopped = c.hook.StopAfterCancel()
	case c.stopCtx != nil:
		stopped = c.stopCtx()
	}
	c.hook, c.stopCtx = nil, nil
	return stopped && !c.canceled.Load()
}

// CancelHook is context.AfterFunc for a context that offers it without
// AfterFunc's five allocations (internal/h1's request contexts do; this
// package does not import h1). AfterCancel arranges for f to run in its
// own goroutine once the context is done, at once if it is, or reports
// false, having done nothing, when it cannot (the caller uses
// context.AfterFunc then). StopAfterCancel is AfterFunc's stop: it unsets
// f and reports whether that stopped f from running. A context holds one
// function at a time (AfterCancel refuses a second), so StopAfterCancel
// is for the caller whose AfterCancel reported true.
type CancelHook interface {
	AfterCancel(f func()) bool
	StopAfterCancel() bool
}

// limitedConn is the connection as the bufio.Reader sees it: it reads at
// most n more bytes, then fails. roundTrip sets n to the header limit while
// it reads a response head and lifts it for the body, so a head that never
// ends costs at most the limit in memory (textproto keeps the whole head);
// the reader lives in h1Conn, so bounding the head allocates nothing.
type limitedConn struct {
	nc net.Conn
	n  int64
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooBig
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.nc.Read(p)
	l.n -= int64(n)
	return n, err
}

// errHeaderTooBig is the read error that stops http.ReadResponse at the
// limit; roundTrip reports a *headerTooBigError.
var errHeaderTooBig = errors.New("upstream response head over the limit")

// headerTooBigError reports an upstream response head (status line and
// header fields) longer than the limit, nginx's "upstream sent too big
// header".
type headerTooBigError struct{ limit int64 }

func (e *headerTooBigError) Error() string {
	return "upstream sent a response head over " + strconv.FormatInt(e.limit, 10) + " bytes"
}

// max1xx bounds the informational answers passed on per request, as
// http.Transport bounds them for callers that do not trace them: an
// upstream sending an endless stream of 103s would otherwise have the
// gateway relay every one, each under its own header limit.
const max1xx = 5

var errTooMany1xx = errors.New("the upstream sent too many informational (1xx) answers")

var errResponseTimeout = &timeoutError{"timeout awaiting upstream response headers"}

type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }
func (e *timeoutError) Timeout() bool { return true }

// h1Body returns the connection to the pool once the body has been read to
// the end, and closes it if the body is abandoned early.
type h1Body struct {
	rc       io.ReadCloser
	c        *h1Conn
	t        *h1Transport
	reusable bool
	done     bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil {
		b.release(false)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.done {
		b.release(false)
	}
	return nil
}

func (b *h1Body) release(complete bool) {
	b.done = true
	if b.c.stop() && complete && b.reusable {
		b.t.putConn(b.c)
		return
	}
	b.c.nc.Close()
}

// dialAddr is the address to dial for an upstream's host: with the port
// it names, else port 80 (an upstream "http://backend" is valid config;
// the Host header keeps what it names).
func dialAddr(host string) string {
	if i := strings.LastIndexByte(host, ':'); i > strings.LastIndexByte(host, ']') {
		return host
	}
	return host + ":80"
}
