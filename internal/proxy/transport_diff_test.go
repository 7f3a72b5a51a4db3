package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The hand-written upstream transport (transport.go) is held to
// http.Transport: the same upstream bytes go to both, and they must agree
// on what the client gets and on whether the connection is used again.
// Both parse as http.ReadResponse does (internal/httphead's tests hold
// httphead.ReadResponse to it), so the parsing is the same; what differs is
// the connection handling around it (framing to the end, unsolicited
// bytes, 1xx, closes, header limits), which is what these tests hold.

// diffCase is one upstream behaviour: reply is what the upstream sends for
// the first request on the first connection; later follows it after
// diffLaterDelay; with close the upstream then closes the connection.
// Every other request gets a well-formed answer naming its connection and
// its number on it, so a client that gets someone else's answer shows.
type diffCase struct {
	name   string
	method string // GET, HEAD (both the direct and RoundTrip paths) or POST (RoundTrip)
	reply  string
	later  string
	close  bool
	reuse  bool // http.Transport uses the connection again (checks the harness)
}

const (
	diffLaterDelay = 2 * time.Millisecond
	// diffMaxHeader is both transports' header limit: small, so the
	// corpus can cross it.
	diffMaxHeader = 8 << 10
)

var diffCases = []diffCase{
	{name: "content-length", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"},
	{name: "chunked", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
	{name: "chunked with trailers", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\nX-Late: 2\r\n\r\n"},
	{name: "chunked with extensions", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\nok\r\n0;c\r\n\r\n"},
	{name: "body until close", method: "GET", close: true,
		reply: "HTTP/1.1 200 OK\r\n\r\nall of it"},
	{name: "HTTP/1.0", method: "GET",
		reply: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	{name: "HTTP/1.0 keep-alive", method: "GET", reuse: true,
		reply: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"},
	{name: "HTTP/1.0 chunked ignored", method: "GET", close: true,
		reply: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
	{name: "Connection: close", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"},
	{name: "no reason phrase", method: "GET", reuse: true,
		reply: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"},
	{name: "LF line ends", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
	{name: "folded header", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n"},
	{name: "malformed status code", method: "GET",
		reply: "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "malformed version", method: "GET",
		reply: "HTTP/9 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "not HTTP", method: "GET",
		reply: "SSH-2.0-OpenSSH_9.6\r\n\r\n"},
	{name: "HTTP/2 preface", method: "GET",
		reply: "\x00\x00\x12\x04\x00\x00\x00\x00\x00"},
	{name: "status below 100", method: "GET",
		reply: "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n"},
	{name: "status 000", method: "GET",
		reply: "HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok"},
	{name: "status out of range", method: "GET",
		reply: "HTTP/1.1 1000 Big\r\nContent-Length: 0\r\n\r\n"},
	{name: "space before colon", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n"},
	{name: "control character in a value", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n"},
	{name: "duplicate equal Content-Length", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"},
	{name: "conflicting Content-Length", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"},
	{name: "Content-Length list", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"},
	{name: "negative Content-Length", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok"},
	{name: "signed Content-Length", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok"},
	{name: "Content-Length and chunked", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
	{name: "unsupported transfer coding", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
	{name: "two Transfer-Encoding fields", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{name: "bad chunk size", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"},
	{name: "chunk longer than its size", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokk\r\n0\r\n\r\n"},
	{name: "chunked cut short", method: "GET", close: true,
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"},
	{name: "no last chunk", method: "GET", close: true,
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n"},
	{name: "body cut short", method: "GET", close: true,
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
	{name: "head cut short", method: "GET", close: true,
		reply: "HTTP/1.1 200 OK\r\nContent-Le"},
	{name: "closed without an answer", method: "GET", close: true},
	{name: "continue then answer", method: "GET", reuse: true,
		reply: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	{name: "early hints then answer", method: "GET", reuse: true,
		reply: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </b.js>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	{name: "1xx then nothing", method: "GET", close: true,
		reply: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"},
	{name: "unasked switch", method: "GET",
		reply: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
	{name: "HEAD with its length", method: "HEAD", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"},
	{name: "HEAD with a body", method: "HEAD",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
	{name: "HEAD with a chunked body", method: "HEAD",
		reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
	{name: "HEAD body later", method: "HEAD",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", later: "hello"},
	{name: "204", method: "GET", reuse: true,
		reply: "HTTP/1.1 204 No Content\r\n\r\n"},
	{name: "204 with a length", method: "GET", reuse: true,
		reply: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"},
	{name: "204 with a body", method: "GET",
		reply: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"},
	{name: "304 with a body", method: "GET",
		reply: "HTTP/1.1 304 Not Modified\r\nEtag: \"a\"\r\n\r\n" + injected},
	{name: "second response appended", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + injected},
	{name: "stray CRLF after the answer", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n"},
	{name: "second response later", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", later: injected},
	{name: "408 after the answer", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", later: "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"},
	{name: "close after a complete answer", method: "GET", close: true,
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	{name: "head at the limit", method: "GET", reuse: true,
		reply: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", diffMaxHeader-4096) + "\r\nContent-Length: 2\r\n\r\nok"},
	{name: "head over the limit", method: "GET",
		reply: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", diffMaxHeader) + "\r\nContent-Length: 2\r\n\r\nok"},
	{name: "1xx heads under the limit each", method: "GET", reuse: true,
		reply: strings.Repeat("HTTP/1.1 103 Early Hints\r\nX-Big: "+strings.Repeat("a", diffMaxHeader/2)+"\r\n\r\n", 3) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	{name: "POST content-length", method: "POST", reuse: true,
		reply: "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"},
	{name: "POST continue then answer", method: "POST", reuse: true,
		reply: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	{name: "POST second response appended", method: "POST",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + injected},
	{name: "POST 204 with a body", method: "POST",
		reply: "HTTP/1.1 204 No Content\r\n\r\n" + injected},
	{name: "POST second response later", method: "POST",
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", later: injected},
	{name: "POST body cut short", method: "POST", close: true,
		reply: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
}

// diffUpstream serves one diffCase on 127.0.0.1.
type diffUpstream struct {
	ln       net.Listener
	tc       diffCase
	idle     time.Duration // closes a connection with no new request this long
	conns    atomic.Int32
	scripted chan struct{} // the first connection's reply (and later bytes, and close) is sent
	wg       sync.WaitGroup
}

func newDiffUpstream(t testing.TB, tc diffCase, idle time.Duration) *diffUpstream {
	ln, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	u := &diffUpstream{ln: ln, tc: tc, idle: idle, scripted: make(chan struct{})}
	u.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(u.conns.Add(1))
			u.wg.Go(func() { u.serve(c, n) })
		}
	})
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

// listenLoopback listens on a free port of 127.0.0.1. When there is none
// it waits, up to 30 s, for one: FuzzTransportDiff leaves about five
// connections in TIME_WAIT (60 s each) per input, and at the 155 inputs a
// second it reaches on a quiet machine, listening on port 0 failed with
// "address already in use" after about 70 s. Waiting here slows the
// fuzzer to the rate the ports allow instead.
func listenLoopback() (net.Listener, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (u *diffUpstream) serve(c net.Conn, conn int) {
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 1; n <= 10; n++ {
		c.SetReadDeadline(time.Now().Add(u.idle))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if conn != 1 || n != 1 {
			body := fmt.Sprintf("conn %d request %d", conn, n)
			if req.Method == "HEAD" {
				body = ""
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(fmt.Sprintf("conn %d request %d", conn, n)), body)
			continue
		}
		io.WriteString(c, u.tc.reply)
		if u.tc.later != "" {
			time.Sleep(diffLaterDelay)
			io.WriteString(c, u.tc.later)
		}
		if u.tc.close {
			c.Close()
		}
		close(u.scripted)
		if u.tc.close {
			return
		}
	}
}

// trackedConn reports when the transport closes it. It keeps the
// descriptor reachable (syscall.Conn), so h1Transport's peek still runs.
type trackedConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// diffResult is what a client of the transport sees for one request.
type diffResult struct {
	Err         bool // no response (the text differs between the transports)
	Status      int
	Proto       string
	Header      http.Header
	ContentLen  int64
	Close       bool
	Body        string
	BodyErr     bool
	Trailer     http.Header
	Informative []string // 1xx answers passed on: code and header
}

// diffOutcome is what one transport did with two requests in a row.
type diffOutcome struct {
	First, Second diffResult
	// Reused: the second answer came over the first's connection.
	Reused bool
}

// diffPath is how a request reaches the transport.
type diffPath int

const (
	viaRoundTrip diffPath = iota // as ReverseProxy sends it
	viaDirect                    // as direct.go sends it (h1Transport only)
)

// diffRun sends tc's method twice, through h1Transport (std false) or an
// http.Transport made by newTransport (std true). For http.Transport,
// h1Closed says whether h1Transport dropped the first connection: then the
// second request waits until http.Transport has closed it too (its reader
// goroutine notices unsolicited bytes or a close asynchronously; without
// the wait, it could hand the connection out first and read them as the
// answer, a race of its own, not the behaviour compared).
func diffRun(t testing.TB, tc diffCase, path diffPath, std, h1Closed bool, idle time.Duration) diffOutcome {
	up := newDiffUpstream(t, tc, idle)
	addr := up.ln.Addr().String()
	var (
		mu    sync.Mutex
		conns []*trackedConn
	)
	baseDial := (&net.Dialer{Timeout: 2 * time.Second}).DialContext
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		c, err := baseDial(ctx, network, a)
		if err != nil {
			return nil, err
		}
		tcn := &trackedConn{Conn: c, closed: make(chan struct{})}
		mu.Lock()
		conns = append(conns, tcn)
		mu.Unlock()
		return tcn, nil
	}
	const responseHeader = 3 * time.Second
	fallback := newTransport(2*time.Second, responseHeader, diffMaxHeader, nil)
	fallback.DialContext = dial
	h1 := newH1Transport(2*time.Second, responseHeader, diffMaxHeader, fallback)
	h1.DialContext = dial
	defer h1.CloseIdleConnections()

	var lastReused atomic.Bool
	send := func() diffResult {
		var res diffResult
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { lastReused.Store(i.Reused) },
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				res.Informative = append(res.Informative, fmt.Sprint(code, http.Header(h)))
				return nil
			},
		})
		var body io.Reader
		if tc.method == "POST" {
			body = strings.NewReader(`{"n":1}`)
		}
		req, err := http.NewRequestWithContext(ctx, tc.method, "http://"+addr+"/x", body)
		if err != nil {
			t.Fatal(err)
		}
		var resp *http.Response
		switch {
		case std:
			resp, err = fallback.RoundTrip(req)
		case path == viaDirect:
			w := &informativeWriter{h: http.Header{}}
			o := &h1Request{req: req, addr: addr, target: "/x",
				head: []byte("X-Test: 1\r\n\r\n"), repeatable: directIdempotent(req)}
			resp, err = h1.exchange(o, func(code int, h textproto.MIMEHeader) error {
				(&Site{}).pass1xx(w, []string{"id"}, false, code, h)
				return nil
			})
			res.Informative = w.got
		default:
			resp, err = h1.RoundTrip(req)
		}
		if err != nil {
			res.Err = true
			return res
		}
		res.Status, res.Proto, res.Header, res.ContentLen, res.Close = resp.StatusCode, resp.Proto, resp.Header, resp.ContentLength, resp.Close
		if resp.StatusCode != http.StatusSwitchingProtocols {
			// http.Transport gives a 101's body the raw connection, to
			// read until the upstream closes; h1Transport, which only sees
			// unasked switches (ReverseProxy and the direct path refuse
			// them with 502), none. Neither body is read.
			b, err := io.ReadAll(resp.Body)
			res.Body, res.BodyErr = string(b), err != nil
		}
		resp.Body.Close()
		res.Trailer = resp.Trailer
		return res
	}

	var out diffOutcome
	out.First = send()
	select {
	case <-up.scripted:
	case <-time.After(3 * time.Second):
	}
	if tc.later != "" {
		time.Sleep(time.Millisecond) // loopback delivery, as a margin
	}
	if std && h1Closed {
		mu.Lock()
		var first *trackedConn
		if len(conns) > 0 {
			first = conns[0]
		}
		mu.Unlock()
		if first != nil {
			select {
			case <-first.closed:
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	out.Second = send()
	mu.Lock()
	dials := len(conns)
	mu.Unlock()
	out.Reused = dials == 1
	if std {
		out.Reused = lastReused.Load()
		fallback.CloseIdleConnections()
	}
	return out
}

// informativeWriter records the 1xx answers the direct path passes on.
type informativeWriter struct {
	h   http.Header
	got []string
}

func (w *informativeWriter) Header() http.Header { return w.h }
func (w *informativeWriter) Write(p []byte) (int, error) {
	return len(p), nil
}
func (w *informativeWriter) WriteHeader(code int) {
	h := w.h.Clone()
	delete(h, "X-Request-Id") // the gateway's, put back after each 1xx
	w.got = append(w.got, fmt.Sprint(code, h))
}

// diffPaths lists the paths a method takes: the direct path carries no
// request body.
func diffPaths(method string) []diffPath {
	if method == "POST" {
		return []diffPath{viaRoundTrip}
	}
	return []diffPath{viaRoundTrip, viaDirect}
}

func (p diffPath) String() string {
	if p == viaDirect {
		return "direct"
	}
	return "RoundTrip"
}

// diffCompare checks the agreement; exact adds what the table test holds
// on top of the fuzzer: that h1Transport is not stricter either (it uses
// the connection again whenever http.Transport does, and does not fail
// where it answers).
func diffCompare(h1, std diffOutcome, exact bool) error {
	var errs []error
	check := func(what string, a, b diffResult) {
		switch {
		case a.Err && !b.Err:
			if exact {
				errs = append(errs, fmt.Errorf("%s: h1Transport failed where http.Transport answered %d %q", what, b.Status, b.Body))
			}
			return
		case !a.Err && b.Err:
			errs = append(errs, fmt.Errorf("%s: h1Transport answered %d %q where http.Transport failed", what, a.Status, a.Body))
			return
		}
		if !reflect.DeepEqual(a, b) {
			errs = append(errs, fmt.Errorf("%s differs:\nh1Transport:   %+v\nhttp.Transport: %+v", what, a, b))
		}
	}
	check("first answer", h1.First, std.First)
	if h1.Reused && !std.Reused {
		errs = append(errs, errors.New("h1Transport used the connection again, http.Transport did not"))
	}
	if exact && !h1.Reused && std.Reused {
		errs = append(errs, errors.New("http.Transport used the connection again, h1Transport did not"))
	}
	if h1.Reused == std.Reused {
		check("second answer", h1.Second, std.Second)
	}
	return errors.Join(errs...)
}

// TestTransportMatchesHTTPTransport runs the corpus through both
// transports, on each path the request's method takes.
func TestTransportMatchesHTTPTransport(t *testing.T) {
	t.Parallel()
	for _, tc := range diffCases {
		for _, path := range diffPaths(tc.method) {
			t.Run(tc.name+"/"+path.String(), func(t *testing.T) {
				t.Parallel()
				const idle = time.Second
				h1 := diffRun(t, tc, path, false, false, idle)
				std := diffRun(t, tc, path, true, !h1.Reused, idle)
				if std.Reused != tc.reuse {
					t.Errorf("http.Transport reused the connection: %v, want %v (the case is mislabelled or the harness broken)", std.Reused, tc.reuse)
				}
				if err := diffCompare(h1, std, true); err != nil {
					t.Error(err)
				}
				if t.Failed() || testing.Verbose() {
					t.Logf("h1Transport:    %+v\nhttp.Transport: %+v", h1, std)
				}
			})
		}
	}
}

// FuzzTransportDiff mutates the upstream's bytes (the reply, bytes sent a
// moment later, and whether it then closes) and holds h1Transport to
// http.Transport: never an answer where http.Transport fails, never a
// different answer, never a connection used again that http.Transport
// drops, and the same answer to the next request.
func FuzzTransportDiff(f *testing.F) {
	// http.Transport logs every unsolicited response it drops.
	prev := log.Writer()
	log.SetOutput(io.Discard)
	f.Cleanup(func() { log.SetOutput(prev) })
	methods := []string{"GET", "HEAD", "POST"}
	for _, tc := range diffCases {
		kind := uint8(0)
		for i, m := range methods {
			if m == tc.method {
				kind = uint8(2 * i)
			}
		}
		f.Add(tc.reply, tc.later, tc.close, kind)
		if tc.method != "POST" {
			f.Add(tc.reply, tc.later, tc.close, kind+1)
		}
	}
	f.Fuzz(func(t *testing.T, reply, later string, closeAfter bool, kind uint8) {
		kind %= 5 // GET, GET direct, HEAD, HEAD direct, POST
		tc := diffCase{method: methods[kind/2], reply: reply, later: later, close: closeAfter}
		path := diffPath(kind % 2)
		if len(reply)+len(later) > 64<<10 {
			return
		}
		// Short: an answer without an end costs this per run. A pause
		// longer than this between two requests of a run makes the
		// upstream close the connection, which changes whether it is used
		// again: the one-sided reuse check tolerates that.
		const idle = 50 * time.Millisecond
		h1 := diffRun(t, tc, path, false, false, idle)
		std := diffRun(t, tc, path, true, !h1.Reused, idle)
		if err := diffCompare(h1, std, false); err != nil {
			t.Fatalf("%v\nh1Transport:    %+v\nhttp.Transport: %+v", err, h1, std)
		}
	})
}

func TestFuzzTransportDiffSeeds(t *testing.T) {
	if len(diffCases) == 0 {
		t.Fatal("the differential corpus, FuzzTransportDiff's seeds, is empty")
	}
}
