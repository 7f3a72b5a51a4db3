package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptUpstream is a raw-socket upstream on 127.0.0.1. It reads each
// request (head and body) and answers with answer(conn, n, req): conn
// counts connections from 1, n requests on that connection from 1. After
// writing an answer it writes later (if any) after delay, for injections
// that arrive once the gateway has read the answer; done is closed when
// the first connection's first answer, and its later bytes, are written.
type scriptUpstream struct {
	ln       net.Listener
	conns    atomic.Int32
	requests atomic.Int32
	answer   func(conn, n int, req *http.Request) (now, later string, delay time.Duration)
	done     chan struct{}
	doneOnce sync.Once
}

func newScriptUpstream(t testing.TB, answer func(conn, n int, req *http.Request) (string, string, time.Duration)) *scriptUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptUpstream{ln: ln, answer: answer, done: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(u.conns.Add(1))
			wg.Go(func() { u.serve(c, n) })
		}
	})
	return u
}

func (u *scriptUpstream) serve(c net.Conn, conn int) {
	defer c.Close()
	// Bounded: every test finishes well within this.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for n := 1; n <= 100; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		u.requests.Add(1)
		now, later, delay := u.answer(conn, n, req)
		if _, err := io.WriteString(c, now); err != nil {
			return
		}
		if later != "" {
			time.Sleep(delay)
			io.WriteString(c, later)
		}
		if conn == 1 && n == 1 {
			u.doneOnce.Do(func() { close(u.done) })
		}
	}
}

func (u *scriptUpstream) url() string { return "http://" + u.ln.Addr().String() }

// injected is a complete response an out-of-step upstream sends unasked.
const injected = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nINJECTED"

func ownAnswer(conn, n int) string {
	body := fmt.Sprintf("conn %d request %d", conn, n)
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// TestUnsolicitedUpstreamBytes: an upstream that sends more than the
// answer to a request (a second response, a body on a HEAD, 204 or 304
// answer, at once or a few milliseconds later) must not have those bytes
// read as the answer to the next request, which may be another client's
// (response-queue poisoning). The connection is dropped instead, as
// http.Transport drops it ("Unsolicited response received on idle HTTP
// channel"). Both the direct path and the ReverseProxy path are checked,
// each with a request from a different client connection.
func TestUnsolicitedUpstreamBytes(t *testing.T) {
	t.Parallel()
	headBody := injected // the HEAD answer announces the injected response as its body
	cases := []struct {
		name       string
		first      string // method of the first request
		now, later string
		delay      time.Duration
	}{
		{name: "second response appended", first: "GET",
			now: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" + injected},
		{name: "body on a HEAD answer", first: "HEAD",
			now: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(headBody), headBody)},
		{name: "body on a 204", first: "GET",
			now: "HTTP/1.1 204 No Content\r\n\r\n" + injected},
		{name: "body on a 304", first: "GET",
			now: "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n" + injected},
		{name: "second response a few ms later", first: "GET",
			now: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", later: injected, delay: 5 * time.Millisecond},
		{name: "HEAD body a few ms later", first: "HEAD",
			now: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(headBody)), later: headBody, delay: 5 * time.Millisecond},
	}
	for _, tc := range cases {
		for _, direct := range []bool{true, false} {
			name := tc.name + "/reverse proxy"
			if direct {
				name = tc.name + "/direct"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				up := newScriptUpstream(t, func(conn, n int, req *http.Request) (string, string, time.Duration) {
					if conn == 1 && n == 1 {
						return tc.now, tc.later, tc.delay
					}
					return ownAnswer(conn, n), "", 0
				})
				s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{up.url()}})
				if !direct {
					s.routes[0].direct = false
				}
				front := frontend(t, s)
				// A new client connection per request: the second request is
				// another client's.
				client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
					TLSClientConfig:   &tls.Config{RootCAs: certPool(front)},
					DisableKeepAlives: true,
				}}
				send := func(method string) *http.Response {
					t.Helper()
					var body io.Reader
					if !direct && method == "POST" {
						body = strings.NewReader(`{"a":1}`)
					}
					req, _ := http.NewRequestWithContext(t.Context(), method, front.URL+"/x", body)
					resp, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					return resp
				}
				first := tc.first
				if !direct && first == "GET" {
					first = "POST"
				}
				resp := send(first)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				select {
				case <-up.done:
				case <-time.After(5 * time.Second):
					t.Fatal("the upstream did not answer")
				}
				time.Sleep(20 * time.Millisecond) // the later bytes reach the gateway

				second := "GET"
				if !direct {
					second = "POST"
				}
				resp = send(second)
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(got), "INJECTED") || resp.StatusCode != 200 {
					t.Fatalf("the second client got %d %q: the first upstream answer's extra bytes", resp.StatusCode, got)
				}
				if want := "conn 2 request 1"; string(got) != want {
					t.Errorf("the second client got %q, want %q (its own answer, on a new upstream connection)", got, want)
				}
				if c, r := up.conns.Load(), up.requests.Load(); c != 2 || r != 2 {
					t.Errorf("upstream saw %d connections and %d requests, want 2 and 2", c, r)
				}
			})
		}
	}
}

func certPool(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

// TestPooledConnHoldsNoBuffers: an upstream connection waiting in the pool
// holds neither its 4 KiB reader nor its writer (after a burst the pool
// keeps hundreds of connections; issue 17), gets them back when reused,
// and carries the next request on the same connection. Answers with a
// Content-Length body, a chunked body and no body are each pooled so.
func TestPooledConnHoldsNoBuffers(t *testing.T) {
	t.Parallel()
	up := newScriptUpstream(t, func(conn, n int, req *http.Request) (string, string, time.Duration) {
		switch n {
		case 2:
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nchunk\r\n0\r\n\r\n", "", 0
		case 3:
			return "HTTP/1.1 204 No Content\r\n\r\n", "", 0
		}
		return ownAnswer(conn, n), "", 0
	})
	tr := newH1Transport(2*time.Second, 2*time.Second, DefaultMaxUpstreamHeaderBytes, newTransport(2*time.Second, 2*time.Second, DefaultMaxUpstreamHeaderBytes, nil))
	defer tr.CloseIdleConnections()
	addr := up.ln.Addr().String()
	want := []string{"conn 1 request 1", "chunk", "", "conn 1 request 4"}
	for i, w := range want {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, "GET", up.url()+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil || string(b) != w {
			t.Fatalf("request %d: body %q, %v; want %q", i+1, b, err, w)
		}
		tr.mu.Lock()
		idle := tr.idle[addr]
		if len(idle) != 1 {
			tr.mu.Unlock()
			t.Fatalf("after request %d: %d pooled connections, want 1", i+1, len(idle))
		}
		br, bw := idle[0].br, idle[0].bw
		tr.mu.Unlock()
		if br != nil || bw != nil {
			t.Errorf("after request %d: the pooled connection holds a reader (%v) or a writer (%v)", i+1, br != nil, bw != nil)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections, want 1 (reused)", n)
	}
}

// TestIdleUpstreamConnsExpire: pooled upstream connections idle longer
// than the idle timeout are closed by the reaper, including the oldest,
// which getConn (newest first) reaches only once the pool is drained, and
// with no request at all; the younger stay pooled.
func TestIdleUpstreamConnsExpire(t *testing.T) {
	t.Parallel()
	tr := newH1Transport(time.Second, time.Second, DefaultMaxUpstreamHeaderBytes, newTransport(time.Second, time.Second, DefaultMaxUpstreamHeaderBytes, nil))
	defer tr.CloseIdleConnections()
	start := time.Now()
	var peers []net.Conn
	for i, age := range []time.Duration{3 * tr.idleTimeout, 2 * tr.idleTimeout, tr.idleTimeout / 2, 0} {
		nc, peer := net.Pipe()
		defer peer.Close()
		peers = append(peers, peer)
		c, err := newH1Conn(nc, "upstream:80")
		if err != nil {
			t.Fatal(err)
		}
		c.takenAt = start.Add(-age)
		tr.putConn(c)
		if i == 0 {
			tr.mu.Lock()
			armed := tr.reaper != nil
			tr.mu.Unlock()
			if !armed {
				t.Fatal("no reaper armed with a connection pooled")
			}
		}
	}
	tr.mu.Lock()
	expired, next := tr.prune(start)
	left := len(tr.idle["upstream:80"])
	tr.mu.Unlock()
	for _, c := range expired {
		c.nc.Close()
	}
	if len(expired) != 2 || left != 2 {
		t.Fatalf("%d expired, %d left pooled; want 2 and 2", len(expired), left)
	}
	if next <= 0 || next > tr.idleTimeout/2 {
		t.Errorf("next expiry in %v, want in (0, %v]", next, tr.idleTimeout/2)
	}
	// The two oldest are closed (their peers read EOF), the others not.
	for i, peer := range peers {
		peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := peer.Read(make([]byte, 1))
		if closed := err == io.EOF; closed != (i < 2) {
			t.Errorf("connection %d: closed %v (%v), want %v", i, closed, err, i < 2)
		}
	}
	tr.CloseIdleConnections()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.reaper != nil {
		t.Error("the reaper is still armed after CloseIdleConnections")
	}
}
