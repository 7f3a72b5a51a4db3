package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// idleStacks returns the stacks of the goroutines waiting in
// waitFirstByte, polling until want of them are there (at most 5 s).
func idleStacks(t *testing.T, want int) []string {
	t.Helper()
	buf := make([]byte, 1<<20)
	var waiting []string
	for range 500 {
		waiting = waiting[:0]
		all := string(buf[:runtime.Stack(buf, true)])
		for g := range strings.SplitSeq(all, "\n\n") {
			if strings.Contains(g, "h1.(*conn).waitFirstByte") && strings.Contains(g, "h1.(*conn).serve(") {
				waiting = append(waiting, g)
			}
		}
		if len(waiting) >= want {
			return waiting
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d connections wait for a request, want %d", len(waiting), want)
	return nil
}

// get sends GET path on c and returns the answer's body.
func get(t *testing.T, c *tls.Conn, br *bufio.Reader, path string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func echoPath(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }

// TestIdleWaitOnSocket: a keep-alive connection idle for parkAfter
// (before its first request, and after one) waits on its socket, not in
// tls.Conn.Read, whose frames keep the runtime from shrinking the
// goroutine's stack (issue 17); both are then served as before.
func TestIdleWaitOnSocket(t *testing.T) {
	addr, _, n := startH1Park(t, http.HandlerFunc(echoPath), 10*time.Second, 10*time.Second, 20*time.Millisecond)
	fresh := reviewDial(t, addr)
	if err := fresh.Handshake(); err != nil {
		t.Fatal(err)
	}
	used := reviewDial(t, addr)
	usedR := bufio.NewReader(used)
	if b := get(t, used, usedR, "/one"); b != "/one" {
		t.Fatalf("body %q", b)
	}
	for range 500 {
		parked := 0
		for _, g := range idleStacks(t, 2) {
			if !strings.Contains(g, "crypto/tls.(*Conn).Read") {
				parked++
			}
		}
		if parked == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, g := range idleStacks(t, 2) {
		if strings.Contains(g, "crypto/tls.(*Conn).Read") {
			t.Fatalf("a connection idle for longer than parkAfter waits in tls.Conn.Read:\n%s", g)
		}
	}
	if b := get(t, used, usedR, "/two"); b != "/two" {
		t.Errorf("after the wait on the socket: body %q", b)
	}
	if b := get(t, fresh, bufio.NewReader(fresh), "/first"); b != "/first" {
		t.Errorf("first request after the wait on the socket: body %q", b)
	}
	if got := n.served.Load(); got != 3 {
		t.Errorf("%d requests served by h1, want 3", got)
	}
}

// TestIdleWaitInTLSReadFirst: before parkAfter, a connection waits in
// tls.Conn.Read, so a busy client's next request costs no peek and no
// extra deadline change.
func TestIdleWaitInTLSReadFirst(t *testing.T) {
	addr, _, _ := startH1Park(t, http.HandlerFunc(echoPath), 10*time.Second, 10*time.Second, time.Hour)
	c := reviewDial(t, addr)
	if b := get(t, c, bufio.NewReader(c), "/one"); b != "/one" {
		t.Fatalf("body %q", b)
	}
	time.Sleep(50 * time.Millisecond)
	for _, g := range idleStacks(t, 1) {
		if !strings.Contains(g, "crypto/tls.(*Conn).Read") {
			t.Errorf("a connection idle for less than parkAfter does not wait in tls.Conn.Read:\n%s", g)
		}
	}
}

// TestIdleWaitKeepsIdleTimeout: the wait on the socket ends at the idle
// timeout, not at parkAfter: a request after parkAfter is served, and the
// connection is closed once idle for IdleTimeout.
func TestIdleWaitKeepsIdleTimeout(t *testing.T) {
	const idle = 500 * time.Millisecond
	addr, _, _ := startH1Park(t, http.HandlerFunc(echoPath), 10*time.Second, idle, 20*time.Millisecond)
	c := reviewDial(t, addr)
	br := bufio.NewReader(c)
	for _, p := range []string{"/one", "/two", "/three"} {
		if b := get(t, c, br, p); b != p {
			t.Fatalf("body %q, want %q", b, p)
		}
		time.Sleep(idle / 3) // past parkAfter, within the idle timeout
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("idle connection closed after %v, IdleTimeout is %v", waited, idle)
	}
}

// TestIdleWaitShutdown: Shutdown closes a connection waiting on its
// socket, and returns.
func TestIdleWaitShutdown(t *testing.T) {
	addr, srv, _ := startH1Park(t, http.HandlerFunc(echoPath), 10*time.Second, time.Minute, 20*time.Millisecond)
	c := reviewDial(t, addr)
	br := bufio.NewReader(c)
	if b := get(t, c, br, "/one"); b != "/one" {
		t.Fatalf("body %q", b)
	}
	for range 500 {
		if g := idleStacks(t, 1); !strings.Contains(g[0], "crypto/tls.(*Conn).Read") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Shutdown: read %v, want EOF", err)
	}
}

// TestIdleWaitPartialRecord: a request whose TLS record arrives in two
// parts, the second after parkAfter (tls.Conn holds the first part while
// the connection waits on its socket), is served.
func TestIdleWaitPartialRecord(t *testing.T) {
	addr, _, n := startH1Park(t, http.HandlerFunc(echoPath), 10*time.Second, 10*time.Second, 20*time.Millisecond)
	c, bc, raw := dialHeld(t, addr)
	io.WriteString(c, "GET /split HTTP/1.1\r\nHost: x\r\n\r\n")
	bc.mu.Lock()
	rec := bytes.Clone(bc.buf.Bytes())
	bc.buf.Reset()
	bc.mu.Unlock()
	if _, err := raw.Write(rec[:len(rec)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server parks with half a record
	if _, err := raw.Write(rec[len(rec)/2:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(res.Body); string(b) != "/split" {
		t.Errorf("body %q", b)
	}
	if got := n.served.Load(); got != 1 {
		t.Errorf("%d requests served by h1, want 1", got)
	}
}

// bufferedConn holds what is written until flush, so that two TLS
// records reach the server in one TCP write.
type bufferedConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *bufferedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *bufferedConn) held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *bufferedConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.Conn.Write(b.buf.Bytes())
	b.buf.Reset()
	return err
}

// TestIdleWaitTakesBufferedRecord: a request that tls.Conn read from the
// socket together with the one before it (pipelined, in a record of its
// own) is served at once, although the socket has nothing more to read.
func TestIdleWaitTakesBufferedRecord(t *testing.T) {
	addr, _, n := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}), 10*time.Second, 10*time.Second)
	c, bc, _ := dialHeld(t, addr)
	io.WriteString(c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
	io.WriteString(c, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n")
	if err := bc.flush(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for _, want := range []string{"/one", "/two"} {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the answer to %s: %v", want, err)
		}
		b, _ := io.ReadAll(res.Body)
		if string(b) != want {
			t.Fatalf("body %q, want %q", b, want)
		}
	}
	if got := n.served.Load(); got != 2 {
		t.Errorf("%d requests served by h1, want 2", got)
	}
}

// TestIdleWaitDeadlinesAfterFirstByte: waitFirstByte's wait in
// tls.Conn.Read ends earlier than the idle deadline, but a request whose
// first bytes came before that does not inherit it: its first 4 bytes have
// the idle timeout (as net/http), its head ReadHeaderTimeout, or without
// one the idle timeout; the first request's head has ReadHeaderTimeout
// from the end of the handshake. Each case sends a head in two TLS
// records with a pause past parkAfter between them; h1 must serve it.
func TestIdleWaitDeadlinesAfterFirstByte(t *testing.T) {
	const park = 30 * time.Millisecond
	const pause = 200 * time.Millisecond
	for _, tc := range []struct {
		name       string
		readHeader time.Duration
		first      bool   // the connection's first request
		part       string // sent before the pause
	}{
		{"later request, fewer than 4 bytes", 5 * time.Second, false, "GE"},
		{"later request, head", 5 * time.Second, false, "GET /slow HT"},
		{"later request without ReadHeaderTimeout", 0, false, "GET /slow HT"},
		{"first request, head", 5 * time.Second, true, "GET /slow HT"},
		{"first request without ReadHeaderTimeout", 0, true, "GET /slow HT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _, n := startH1Park(t, http.HandlerFunc(echoPath), tc.readHeader, 5*time.Second, park)
			c := reviewDial(t, addr)
			br := bufio.NewReader(c)
			want := int64(1)
			if !tc.first {
				if b := get(t, c, br, "/one"); b != "/one" {
					t.Fatalf("body %q", b)
				}
				want = 2
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.part)
			time.Sleep(pause)
			io.WriteString(c, strings.TrimPrefix("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", tc.part))
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(res.Body); string(b) != "/slow" {
				t.Errorf("body %q", b)
			}
			if got := n.served.Load(); got != want {
				t.Errorf("%d requests served by h1, want %d (the head timed out and went to net/http?)", got, want)
			}
		})
	}
}

// dialHeld connects to addr and completes the TLS handshake through a
// bufferedConn, whose later writes are then held until flush: two TLS
// records can reach the server in one TCP write, or one record in two.
// It returns the TLS connection, its bufferedConn and the TCP connection.
func dialHeld(t *testing.T, addr string) (*tls.Conn, *bufferedConn, net.Conn) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	bc := &bufferedConn{Conn: raw}
	c := tls.Client(bc, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	// The handshake's writes go out at once; later writes are held.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	hsDone := make(chan error, 1)
	go func() { hsDone <- c.Handshake() }()
	for range 500 {
		if bc.held() > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := bc.flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-hsDone; err != nil {
		t.Fatal(err)
	}
	bc.flush() // the client's Finished, if the handshake wrote it after the first flush
	return c, bc, raw
}
