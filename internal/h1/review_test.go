package h1

import (
	"bufio"
	"bytes"
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
func reviewServer(t *testing.T, h http.Handler, rht time.Duration) (string, *Server) {
	t.Helper()
	quiet := log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := serverTLS(t)
	fb := &http.Server{Handler: h, ReadHeaderTimeout: rht, IdleTimeout: 10 * time.Second, ErrorLog: quiet, TLSConfig: cfg.Clone()}
	srv := &Server{Handler: h, Fallback: fb, TLSConfig: cfg, ReadHeaderTimeout: rht, IdleTimeout: 10 * time.Second, ErrorLog: quiet}
	go fb.Serve(srv.Handoff())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); fb.Close() })
	return ln.Addr().String(), srv
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
		addr, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), 3*time.Second)
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
		addr, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), rht)
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
	addr, _ := reviewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
