package h1

import (
	"bufio"
	"bytes"
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

// TestIdleWaitOnSocket: an idle keep-alive connection (before its first
// request, and after one) waits on its socket, not in tls.Conn.Read,
// whose frames keep the runtime from shrinking the goroutine's stack
// (issue 17).
func TestIdleWaitOnSocket(t *testing.T) {
	addr, _, _ := startH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), 10*time.Second, 10*time.Second)
	fresh := reviewDial(t, addr)
	if err := fresh.Handshake(); err != nil {
		t.Fatal(err)
	}
	used := reviewDial(t, addr)
	used.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(used, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(used), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(res.Body); string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
	for _, g := range idleStacks(t, 2) {
		if strings.Contains(g, "crypto/tls.(*Conn).Read") {
			t.Errorf("an idle connection waits in tls.Conn.Read:\n%s", g)
		}
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
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	bc := &bufferedConn{Conn: raw}
	c := tls.Client(bc, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	// The handshake's writes go out at once; the requests' are held.
	c.SetDeadline(time.Now().Add(5 * time.Second))
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
