package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// reviewServer starts this server (and its fallback) with handler h and
// the given ReadHeaderTimeout, and returns its address.
func reviewServer(t *testing.T, h http.Handler, rht time.Duration) (string, *Server, *counts) {
	t.Helper()
	return startH1(t, h, rht, 10*time.Second)
}

func reviewDial(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestReviewBareLFHeadServedAtOnce: a complete head with bare-LF line
// ends (which net/http accepts) from a client that then waits for the
// answer is answered at once, not after ReadHeaderTimeout (the server
// used to wait for a CRLF CRLF that never comes).
func TestReviewBareLFHeadServedAtOnce(t *testing.T) {
	t.Parallel()
	for _, head := range []string{
		"GET /x HTTP/1.1\nHost: a\n\n",
		"GET /x HTTP/1.1\r\nHost: a\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\n\n",
	} {
		addr, _, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), 3*time.Second)
		c := reviewDial(t, addr)
		start := time.Now()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", head, err)
		}
		resp.Body.Close()
		if d := time.Since(start); d > 1500*time.Millisecond || resp.StatusCode != 200 {
			t.Errorf("%q: status %d after %v, want 200 at once", head, resp.StatusCode, d)
		}
	}
}

// TestReviewHandoverKeepsHeadDeadline: a head that goes to net/http
// (here: larger than the read buffer) must still be complete within
// ReadHeaderTimeout of its first byte; the handover used to give the
// client a fresh ReadHeaderTimeout (a slow client held the connection
// for twice the bound, three times counting the handshake).
func TestReviewHandoverKeepsHeadDeadline(t *testing.T) {
	t.Parallel()
	const rht = time.Second
	for _, name := range []string{"oversize", "timeout"} {
		addr, _, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), rht)
		c := reviewDial(t, addr)
		start := time.Now()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if name == "oversize" {
			// Just under the bound: a head larger than 4 KiB, unfinished.
			time.Sleep(rht * 8 / 10)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: "+strings.Repeat("p", 5000))
		} else {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
		}
		// Keep trickling header bytes, as a slowloris does.
		closed := make(chan time.Duration, 1)
		go func() {
			io.Copy(io.Discard, c)
			closed <- time.Since(start)
		}()
		tick := time.NewTicker(50 * time.Millisecond)
	loop:
		for {
			select {
			case d := <-closed:
				if d > rht*3/2 {
					t.Errorf("%s: connection held for %v, want <= ReadHeaderTimeout %v (+slack)", name, d, rht)
				}
				break loop
			case <-tick.C:
				c.Write([]byte("p"))
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: connection never closed", name)
			}
		}
		tick.Stop()
	}
}

// TestReviewPanicStopsWatch: a handler that panics (the proxy panics
// with http.ErrAbortHandler when an upstream body breaks) must not leave
// the client watch armed on a connection whose reader went back to the
// pool: run with -race.
func TestReviewPanicStopsWatch(t *testing.T) {
	t.Parallel()
	addr, _, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		panic(http.ErrAbortHandler)
	}), 3*time.Second)
	for range 20 {
		c := reviewDial(t, addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		b, _ := io.ReadAll(c)
		if bytes.Contains(b, []byte("HTTP/1.1 200")) && !bytes.Contains(b, []byte("partial")) {
			t.Logf("%q", b)
		}
	}
	time.Sleep(2 * watchAfter)
}

// TestReviewPipelineWithWatch: pipelined requests, sent at once, byte by
// byte (one TLS record each) or while the previous handler runs long
// enough for the client watch to read ahead, are answered in order and
// whole, with a request with a body in the middle (handed over).
func TestReviewPipelineWithWatch(t *testing.T) {
	t.Parallel()
	addr, _, n := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slow") {
			time.Sleep(2 * watchAfter)
		}
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(body))
	}), 3*time.Second)
	reqs := []string{
		"GET /slow1 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /slow2 HTTP/1.1\r\nHost: a\r\n\r\n",
		"DELETE /b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /slow3 HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"GET /slow4 HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	want := []string{"GET /slow1 ", "GET /a ", "GET /slow2 ", "DELETE /b ", "GET /slow3 ", "POST /c hello", "GET /slow4 "}
	for _, mode := range []string{"together", "bytes", "during"} {
		c := reviewDial(t, addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			switch mode {
			case "together":
				io.WriteString(c, strings.Join(reqs, ""))
			case "bytes":
				for _, b := range []byte(strings.Join(reqs, "")) {
					c.Write([]byte{b})
				}
			case "during":
				for _, r := range reqs {
					io.WriteString(c, r[:1])
					time.Sleep(watchAfter + watchAfter/2)
					io.WriteString(c, r[1:])
				}
			}
		}()
		br := bufio.NewReader(c)
		for i, w := range want {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: response %d: %v", mode, i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != w {
				t.Fatalf("%s: response %d = %q, want %q", mode, i, b, w)
			}
		}
	}
	if n.served.Load() == 0 {
		t.Fatal("h1 served nothing")
	}
}

// TestReviewTLSStateEveryPath: Request.TLS (with the client's
// certificate) reaches the handler on every path: served here, handed
// over after a request served here, and HTTP/2 by ALPN.
func TestReviewTLSStateEveryPath(t *testing.T) {
	t.Parallel()
	quiet := log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := serverTLS(t)
	cfg.ClientAuth = tls.RequireAnyClientCert
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n := -1
		if r.TLS != nil {
			n = len(r.TLS.PeerCertificates)
		}
		io.WriteString(w, r.Proto+" "+strings.Repeat("c", max(n, 0)))
		if n < 0 {
			io.WriteString(w, " notls")
		}
	})
	fb := &http.Server{Handler: h, ReadHeaderTimeout: time.Second, ErrorLog: quiet, TLSConfig: cfg.Clone()}
	srv := &Server{Handler: h, Fallback: fb, TLSConfig: cfg, ReadHeaderTimeout: time.Second, ErrorLog: quiet}
	go fb.Serve(srv.Handoff())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); fb.Close() })

	ccfg := &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{testCert}}
	for _, proto := range []string{"http/1.1", "h2"} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: ccfg.Clone(), ForceAttemptHTTP2: proto == "h2", MaxConnsPerHost: 1}}
		if proto == "http/1.1" {
			c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		for _, m := range []string{"GET", "POST", "GET"} {
			var body io.Reader
			if m == "POST" {
				body = strings.NewReader("x")
			}
			req, _ := http.NewRequest(m, "https://"+ln.Addr().String()+"/", body)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.HasSuffix(string(b), " c") {
				t.Errorf("%s %s: %q, want one client certificate", proto, m, b)
			}
		}
		c.CloseIdleConnections()
	}
}

// TestReviewShutdown: Shutdown closes an idle connection at once, lets a
// request in flight finish with "Connection: close", does not serve the
// request pipelined behind it, and returns when the connections are gone.
func TestReviewShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	addr, srv, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(w, r.URL.Path)
	}), 3*time.Second)
	idle := reviewDial(t, addr)
	idle.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(idle, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
	ibr := bufio.NewReader(idle)
	resp, err := http.ReadResponse(ibr, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)

	busy := reviewDial(t, addr)
	busy.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- srv.Shutdown(t.Context()) }()

	if _, err := ibr.ReadByte(); err == nil {
		t.Error("idle connection got bytes after Shutdown")
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("idle connection closed after %v", d)
	}
	b, _ := io.ReadAll(busy)
	if !bytes.Contains(b, []byte("Connection: close")) || !bytes.HasSuffix(b, []byte("/slow")) {
		t.Errorf("in-flight answer %q, want /slow with Connection: close and nothing after", b)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}

// TestReviewHijackGetsReadAhead: a handler that hijacks gets the bytes
// the server read past the head (pipelined, or one the client watch
// read while the handler ran), each once and in order.
func TestReviewHijackGetsReadAhead(t *testing.T) {
	t.Parallel()
	addr, _, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * watchAfter)
		}
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		line, _ := rw.ReadString('\n')
		rw.WriteString("got " + line)
		rw.Flush()
	}), 3*time.Second)
	for _, tc := range []struct{ path, early string }{{"/fast", "hel"}, {"/slow", "hel"}, {"/slow", ""}} {
		path := tc.path
		c := reviewDial(t, addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n"+tc.early)
		time.Sleep(watchAfter * 2)
		io.WriteString(c, "hello\n"[len(tc.early):])
		b, _ := io.ReadAll(c)
		if string(b) != "got hello\n" {
			t.Errorf("%s: %q, want %q", path, b, "got hello\n")
		}
	}
}

// TestReviewShutdownPartialHead: a connection whose client has sent part
// of a head (of the first request, or of a later one after fewer than 4
// bytes) is not served once Shutdown begins, so Shutdown closes it rather
// than wait for the client (net/http closes such connections too: they
// are idle to it until the head is read).
func TestReviewShutdownPartialHead(t *testing.T) {
	t.Parallel()
	for _, partial := range []string{"first", "later"} {
		addr, srv, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), 5*time.Second)
		c := reviewDial(t, addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if partial == "first" {
			io.WriteString(c, "GET / HTTP/1.1\r\n")
		} else {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			io.WriteString(c, "GE")
		}
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		err := srv.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Errorf("%s: Shutdown: %v after %v", partial, err, time.Since(start))
		}
	}
}

// TestReviewDifferentialByteRecords: the differential corpus, each byte
// in its own TLS record, so that every head is read in pieces (the head
// end search runs on every prefix).
func TestReviewDifferentialByteRecords(t *testing.T) {
	t.Parallel()
	p := newPair(t, behaviours())
	raws := append([]string(nil), requests...)
	raws = append(raws,
		"GET /plain HTTP/1.1\r\nHost: a\r\n\n",
		"GET /plain HTTP/1.1\nHost: a\r\n\r\n",
		"GET /plain HTTP/1.1\r\nHost: a\n\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /plain HTTP/1.1\r\nHost: a\r\nX: \r\r\n\r\n",
		"GET /plain HTTP/1.1\r\nHost: a\r\nX: \n\r\r\n\r\n",
		"GET /plain HTTP/1.1\r\nHost: a\r\n\r\nGET /plain HTTP/1.1\r\nHost: a\n\r\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
	)
	for _, raw := range raws {
		if len(raw) > 1000 {
			continue
		}
		std := normalise(exchangeBytes(t, p.std, []byte(raw)))
		stdOne := normalise(exchange(t, p.std, []byte(raw)))
		for _, addr := range p.h1s() {
			if fast := normalise(exchangeBytes(t, addr, []byte(raw))); std != fast {
				t.Errorf("request %q (h1 at %s):\n%s", raw, addr, firstDiff(std, fast))
			}
			if fast := normalise(exchange(t, addr, []byte(raw))); stdOne != fast {
				t.Errorf("request %q (one write, h1 at %s):\n%s", raw, addr, firstDiff(stdOne, fast))
			}
		}
	}
}
