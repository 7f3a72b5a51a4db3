package h1

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// diffAt is where two byte strings part.
func diffAt(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// countConn counts the writes that reach a socket.
type countConn struct {
	net.Conn
	writes atomic.Int64
	bytes  atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	n, err := c.Conn.Write(p)
	c.bytes.Add(int64(n))
	return n, err
}

// tcpPair is a connected pair of loopback TCP sockets.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// onPair is a write-behind socket, on, and the other end.
func onPair(t testing.TB) (*writeBehind, *net.TCPConn) {
	a, b := tcpPair(t)
	w := newWriteBehind(a)
	w.enable()
	return w, b
}

// shortDrain sets closeDrain to d for the test.
func shortDrain(t testing.TB, d time.Duration) {
	old := closeDrain
	closeDrain = d
	t.Cleanup(func() { closeDrain = old })
}

// idle waits until w has nothing to write and reports whether it holds a
// buffer.
func (w *writeBehind) idleAfter(t testing.TB) bool {
	t.Helper()
	for range 500 {
		w.mu.Lock()
		running, held := w.running, w.buf != nil
		w.mu.Unlock()
		if !running {
			return held
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("write-behind still writing after 1 s")
	return true
}

// pattern is n bytes that differ from one offset to the next.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		x := off + i
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	return b
}

// writeSeq writes sizes through a write-behind socket (write-behind on or
// off), then closes it, and returns what the other end read and the
// socket writes made. It is the differential test's one side: the bytes
// read must be the bytes written, whatever the write-behind does.
func writeSeq(t testing.TB, on bool, sizes []int, deadlines bool) (sent, got []byte, writes int64) {
	a, b := tcpPair(t)
	cc := &countConn{Conn: a}
	w := newWriteBehind(cc)
	if on {
		w.enable()
	}
	done := make(chan []byte, 1)
	go func() {
		got, _ := io.ReadAll(b)
		done <- got
	}()
	off := 0
	for i, n := range sizes {
		p := pattern(off, n)
		off += n
		if deadlines && i%3 == 1 {
			w.SetWriteDeadline(time.Now().Add(time.Minute))
		}
		if k, err := w.Write(p); k != n || err != nil {
			t.Fatalf("write %d of %d bytes: %d, %v", i, n, k, err)
		}
		if i%7 == 6 {
			runtime.Gosched() // let the goroutine run between writes now and then
		}
		sent = append(sent, p...)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case got = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader did not see the end of the connection")
	}
	return sent, got, cc.writes.Load()
}

// TestWriteBehindSameBytes: the bytes on the wire are the bytes written,
// in order, each once, for small writes that are copied, large ones that
// are written directly and mixes of both, with deadlines pushed between
// them, and a close right after the last write sends them all first.
func TestWriteBehindSameBytes(t *testing.T) {
	for name, sizes := range map[string][]int{
		"small":  {1, 9, 150, 66, 0, 3000, 1, 1, 1},
		"large":  {directMin, 16 << 10, wbMax, wbMax + 1, 100 << 10},
		"mixed":  {100, 20 << 10, 5, 16 << 10, 16 << 10, 16 << 10, 1, wbMax - 1, 2, 70 << 10, 9},
		"closed": {42},
	} {
		t.Run(name, func(t *testing.T) {
			sent, got, _ := writeSeq(t, true, sizes, true)
			if !bytes.Equal(got, sent) {
				t.Fatalf("read %d bytes, want the %d written (first difference at %d)", len(got), len(sent), diffAt(got, sent))
			}
		})
	}
}

// FuzzWriteBehind is the differential fuzzer: any sequence of writes gives
// the other end the same bytes as the socket itself would (their
// concatenation), and every write succeeds.
func FuzzWriteBehind(f *testing.F) {
	f.Add([]byte{0, 1, 0, 66, 0, 150})
	f.Add([]byte{64, 0, 0, 9, 128, 0, 255, 255, 0, 1})
	f.Add([]byte{16, 0, 16, 0, 16, 0, 0, 3, 127, 255, 1, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		var sizes []int
		for i := 0; i+1 < len(ops); i += 2 {
			sizes = append(sizes, (int(ops[i])<<8|int(ops[i+1]))%(80<<10))
		}
		sent, got, _ := writeSeq(t, true, sizes, len(ops)%2 == 1)
		if !bytes.Equal(got, sent) {
			t.Fatalf("sizes %v: read %d bytes, want %d (first difference at %d)", sizes, len(got), len(sent), diffAt(got, sent))
		}
	})
}

// TestWriteBehindCoalesces: small writes made before the goroutine runs
// leave in one socket write; without write-behind each is a write. One P,
// so that the goroutine cannot run beside the writer.
func TestWriteBehindCoalesces(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, on := range []bool{true, false} {
		a, b := tcpPair(t)
		cc := &countConn{Conn: a}
		w := newWriteBehind(cc)
		if on {
			w.enable()
		}
		for _, n := range []int{120, 90, 3000} { // HEADERS, DATA, ... records
			if _, err := w.Write(pattern(0, n)); err != nil {
				t.Fatal(err)
			}
		}
		if held := w.idleAfter(t); held {
			t.Errorf("on=%v: an idle write-behind still holds a buffer", on)
		}
		b.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(b, make([]byte, 3210)); err != nil {
			t.Fatal(err)
		}
		want := int64(1)
		if !on {
			want = 3
		}
		if got := cc.writes.Load(); got != want {
			t.Errorf("on=%v: %d socket writes for three small writes, want %d", on, got, want)
		}
	}
}

// stalled fills a socket whose other end does not read, from a goroutine,
// until its writes stop making progress; it returns the goroutine's
// result channel.
func stalled(t *testing.T, w *writeBehind) chan error {
	t.Helper()
	var wrote atomic.Int64
	res := make(chan error, 1)
	go func() {
		p := pattern(0, 1000)
		for range 100_000 { // 100 MB at most: more than any socket buffer
			if _, err := w.Write(p); err != nil {
				res <- err
				return
			}
			wrote.Add(1000)
		}
		res <- nil
	}()
	last := int64(-1)
	for range 100 { // 5 s at most
		time.Sleep(50 * time.Millisecond)
		now := wrote.Load()
		if now == last {
			return res
		}
		last = now
	}
	t.Fatal("writes to a socket nobody reads never stopped")
	return nil
}

// queuedBytes is what w has queued or is writing.
func (w *writeBehind) queuedBytes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.inflight
	if w.buf != nil {
		n += len(*w.buf)
	}
	return n
}

// released waits for the blocked writer's error, 2 s at most.
func released(t *testing.T, res chan error, what string) error {
	t.Helper()
	select {
	case err := <-res:
		if err == nil {
			t.Errorf("the blocked writer succeeded after %s", what)
		}
		return err
	case <-time.After(2 * time.Second):
		t.Fatalf("the blocked writer was not released by %s", what)
		return nil
	}
}

// TestWriteBehindBounded: against a client that does not read, at most
// wbMax bytes are queued or being written (the writer waits, as on a full
// socket). A deadline in the past returns at once and fails the waiting
// writer at once; the socket write of the queued bytes fails after
// closeDrain.
func TestWriteBehindBounded(t *testing.T) {
	shortDrain(t, 200*time.Millisecond)
	w, _ := onPair(t)
	res := stalled(t, w)
	if n := w.queuedBytes(); n > wbMax {
		t.Errorf("%d bytes queued for a client that does not read, want at most %d", n, wbMax)
	}
	start := time.Now()
	w.SetWriteDeadline(time.Now().Add(-time.Second))
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("setting a deadline in the past took %v, want it at once", d)
	}
	if err := released(t, res, "a deadline in the past"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the blocked writer got %v, want a deadline error", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("a write after a deadline in the past succeeded")
	}
	w.idleAfter(t) // the queued bytes' socket write ends within closeDrain
}

// TestWriteBehindCloseAtOnce: Close against a client that does not read
// returns at once and releases the blocked writer; the socket closes after
// closeDrain, and the client reads what it held, then the end.
func TestWriteBehindCloseAtOnce(t *testing.T) {
	shortDrain(t, 200*time.Millisecond)
	w, b := onPair(t)
	res := stalled(t, w)
	start := time.Now()
	w.Close()
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Close took %v, want it at once", d)
	}
	released(t, res, "Close")
	if _, err := w.Read(make([]byte, 1)); err == nil {
		t.Error("a read after Close succeeded")
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, b); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the socket is still open 5 s after Close")
	}
}

// TestWriteBehindTLSCloseInterlock: crypto/tls's Close, called while a
// Write is in flight, closes the socket to break that write (x/net's serve
// loop and net/http's Server.Close rely on it); under write-behind it
// returns at once too. (From the attacker review of the change.)
func TestWriteBehindTLSCloseInterlock(t *testing.T) {
	for _, on := range []bool{false, true} {
		a, b := tcpPair(t)
		a.SetWriteBuffer(4096)
		b.SetReadBuffer(4096)
		w := newWriteBehind(a)
		tc := tls.Server(w, serverTLS(t))
		cc := tls.Client(b, &tls.Config{InsecureSkipVerify: true})
		errc := make(chan error, 1)
		go func() { errc <- cc.Handshake() }()
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if on {
			w.enable()
		}
		var wrote atomic.Int64
		done := make(chan error, 1)
		go func() {
			p := make([]byte, 1000) // small records: HEADERS, small DATA, PING acks
			for range 1_000_000 {
				if _, err := tc.Write(p); err != nil {
					done <- err
					return
				}
				wrote.Add(1)
			}
			done <- nil
		}()
		for last := int64(-1); wrote.Load() != last; {
			last = wrote.Load()
			time.Sleep(100 * time.Millisecond)
		}
		start := time.Now()
		tc.Close()
		d := time.Since(start)
		if err := <-done; err == nil {
			t.Errorf("on=%v: the stalled write succeeded", on)
		}
		if d > time.Second {
			t.Errorf("on=%v: tls.Conn.Close with a Write in flight took %v, want it at once", on, d.Round(time.Millisecond))
		}
	}
}

// TestWriteBehindDeadlineWaits: a write deadline set while queued bytes
// are being written applies after them: clearing it does not take
// send_timeout's bound off the socket write in progress.
func TestWriteBehindDeadlineWaits(t *testing.T) {
	w, _ := onPair(t)
	w.SetWriteDeadline(time.Now().Add(time.Hour))
	res := stalled(t, w)
	w.mu.Lock()
	queued := w.queuedLocked()
	w.mu.Unlock()
	if !queued {
		t.Fatal("the stalled writer is not behind queued bytes")
	}
	w.Conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond)) // send_timeout's push, on the socket
	w.SetWriteDeadline(time.Time{})                                 // cleared above it
	if err := released(t, res, "the socket's deadline"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the blocked writer got %v, want a deadline error", err)
	}
}

// TestWriteBehindPastDeadline: a deadline in the past lets the bytes
// written before it leave, and fails the writes after it at once, as on
// the socket.
func TestWriteBehindPastDeadline(t *testing.T) {
	w, b := onPair(t)
	if _, err := w.Write([]byte("close_notify")); err != nil {
		t.Fatal(err)
	}
	w.SetWriteDeadline(time.Now())
	if _, err := w.Write([]byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a write after a deadline in the past: %v, want a deadline error", err)
	}
	w.Close()
	got, _ := io.ReadAll(b)
	if string(got) != "close_notify" {
		t.Errorf("read %q, want %q", got, "close_notify")
	}
}

// TestWriteBehindPeerGone: once the client has gone, writes fail, and go
// on failing.
func TestWriteBehindPeerGone(t *testing.T) {
	w, b := onPair(t)
	b.SetLinger(0)
	b.Close() // a reset
	var err error
	for range 200 { // until the reset has arrived: 1 s at most
		if _, err = w.Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
	for range 3 {
		if _, err := w.Write([]byte("y")); err == nil {
			t.Fatal("a write succeeded after one failed")
		}
	}
}

// TestHTTP2AnswersCoalesce: through the server, small HTTP/2 answers to
// concurrent streams of one connection leave together: x/net's server
// flushes whenever its queue is empty (here one socket write per answer
// without write-behind), write-behind sends what has queued when its
// goroutine runs (a tenth as many). One P, as the benchmarks run the
// proxy; with more, the goroutine may run at once, as without
// write-behind.
func TestHTTP2AnswersCoalesce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	body := bytes.Repeat([]byte("a"), 66)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	quiet := log.New(io.Discard, "", 0)
	cfg := serverTLS(t)
	fb := &http.Server{Handler: h, ErrorLog: quiet, TLSConfig: cfg.Clone()}
	srv := &Server{Handler: h, Fallback: fb, TLSConfig: cfg, ErrorLog: quiet}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countListener{Listener: inner}
	go fb.Serve(srv.Handoff())
	go srv.Serve(ln)
	defer srv.Close()
	defer fb.Close()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	url := "https://" + inner.Addr().String() + "/"
	get := func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || !bytes.Equal(got, body) {
			return fmt.Errorf("%s, %q", resp.Proto, got)
		}
		return nil
	}
	if err := get(); err != nil { // the handshake and the settings
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	cc := ln.conn()
	before := cc.writes.Load()
	const streams, each = 10, 20
	errs := make(chan error, streams)
	for range streams {
		go func() {
			for range each {
				if err := get(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range streams {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := ln.accepted.Load(); n != 1 {
		t.Fatalf("the client opened %d connections, want one", n)
	}
	n := int64(streams * each)
	writes := cc.writes.Load() - before
	t.Logf("%d socket writes for %d answers", writes, n)
	if writes > n/2 {
		t.Errorf("%d socket writes for %d small HTTP/2 answers to %d concurrent streams, want at most half as many", writes, n, streams)
	}
}

// countListener counts the writes to the connection it accepted.
type countListener struct {
	net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	c        *countConn
}

func (l *countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countConn{Conn: c}
	l.accepted.Add(1)
	l.mu.Lock()
	l.c = cc
	l.mu.Unlock()
	return cc, nil
}

func (l *countListener) conn() *countConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c
}

// TestWriteBehindServerClose: net/http's Server.Close closes its
// connections one after the other, holding the server's mutex; with
// HTTP/2 clients that stopped reading, it still returns at once (a drain
// per connection would add up: from the attacker review of the change).
func TestWriteBehindServerClose(t *testing.T) {
	shortDrain(t, time.Second)
	const clients = 4
	var chunks atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		p := make([]byte, 100)
		for range 1_000_000 {
			if _, err := w.Write(p); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			chunks.Add(1)
			time.Sleep(20 * time.Microsecond) // small answers, one by one
		}
	})
	quiet := log.New(io.Discard, "", 0)
	cfg := serverTLS(t)
	fb := &http.Server{Handler: h, ErrorLog: quiet, TLSConfig: cfg.Clone()}
	srv := &Server{Handler: h, Fallback: fb, TLSConfig: cfg, ErrorLog: quiet}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go fb.Serve(srv.Handoff())
	go srv.Serve(&smallSndBufListener{inner})
	defer srv.Close()
	for range clients {
		raw, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		raw.(*net.TCPConn).SetReadBuffer(4096)
		defer raw.Close()
		cc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err := cc.Handshake(); err != nil {
			t.Fatal(err)
		}
		io.WriteString(cc, http2.ClientPreface)
		fr := http2.NewFramer(cc, cc)
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
		fr.WriteWindowUpdate(0, 1<<31-1-65535)
		var hb []byte
		for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/"}} {
			hb = appendLiteral(hb, kv[0], kv[1])
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb, EndStream: true, EndHeaders: true})
		// and never read
	}
	last := int64(-1)
	for i := 0; chunks.Load() != last; i++ {
		if i == 30 {
			t.Fatal("the answers did not stall in 9 s")
		}
		last = chunks.Load()
		time.Sleep(300 * time.Millisecond)
	}
	start := time.Now()
	fb.Close()
	if d := time.Since(start); d > closeDrain/2 {
		t.Errorf("http.Server.Close with %d stalled HTTP/2 clients took %v, want it at once", clients, d.Round(time.Millisecond))
	}
}

// appendLiteral is an HPACK literal header field without indexing, new name.
func appendLiteral(b []byte, name, value string) []byte {
	b = append(b, 0x00, byte(len(name)))
	b = append(b, name...)
	b = append(b, byte(len(value)))
	return append(b, value...)
}

// smallSndBufListener gives accepted sockets a small send buffer, so that
// they fill quickly.
type smallSndBufListener struct{ net.Listener }

func (l *smallSndBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}
