package h1

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Write-behind for HTTP/2 connections (issue 17).
//
// The HTTP/2 server (net/http's, from x/net) flushes its buffer whenever
// its queue of frames is empty, and a handler waits until its HEADERS frame
// is written before it queues the DATA frame. With several streams in
// flight, each answer's frames then leave in separate TLS records and
// system calls, each a wake-up of the client: under h2load -c 50 -m 10,
// 1.9 socket writes to the client per answer, where nginx makes 0.7
// (docs/benchmarks.md). writeBehind sits under crypto/tls, on the socket:
// a small write returns once its bytes are copied, and a goroutine writes
// them to the socket, together with those written before it ran. The
// records of the answers that are ready (the HEADERS and DATA of one, and
// those of the streams beside it) then leave in one system call: 0.17
// socket writes to the client per answer under the same load.
//
// It behaves as a larger socket buffer, bounded by wbMax:
//   - The bytes leave in the order they were written, each once. A write
//     of directMin bytes or more waits until the bytes before it are
//     written and is then written directly, as without write-behind.
//   - Once wbMax bytes wait, a write waits for the goroutine to take them.
//     A client that does not read holds at most 2*wbMax bytes here, and
//     the socket's write deadline (send_timeout) still ends it.
//   - A failed socket write fails every later write, as in crypto/tls.
//   - A write deadline in the past (crypto/tls sets one after close_notify)
//     and Close first wait, for closeDrain at most, until the bytes
//     written before them are on the socket, as a kernel sends the bytes
//     queued before a close; then the deadline or the close applies, and
//     a write after such a deadline fails at once. A deadline that passes
//     while bytes wait fails their socket write, and so the next write.
//   - An idle connection holds no buffer: it goes back to a pool once the
//     goroutine has written it.
//
// It is on only once a connection has negotiated HTTP/2: HTTP/1.1 answers
// leave in one write already (h1's response buffer).
type writeBehind struct {
	net.Conn // the socket

	on atomic.Bool

	mu      sync.Mutex
	cond    sync.Cond // signalled when the goroutine takes buf or stops
	buf     *[]byte   // written, not yet taken by the goroutine; nil: none
	running bool      // a goroutine writes to the socket, or a direct write does
	direct  bool      // the write in progress is a direct one
	closed  bool
	past    bool  // the write deadline is one set in the past
	err     error // the first failed socket write
}

const (
	// wbMax is how many bytes may wait for the goroutine.
	wbMax = 32 << 10
	// directMin is the size of a write that is not copied: bulk answers
	// are written as without write-behind.
	directMin = 4 << 10
)

// closeDrain bounds the wait for written bytes in Close and in a write
// deadline in the past (crypto/tls gives close_notify 5 s, too).
var closeDrain = 5 * time.Second

var wbBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2<<10); return &b }}

func newWriteBehind(c net.Conn) *writeBehind {
	w := &writeBehind{Conn: c}
	w.cond.L = &w.mu
	return w
}

// enable turns write-behind on; it is called before the connection is
// handed over, so no write is in progress.
func (w *writeBehind) enable() { w.on.Store(true) }

func (w *writeBehind) Write(p []byte) (int, error) {
	if !w.on.Load() {
		return w.Conn.Write(p)
	}
	w.mu.Lock()
	for {
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			return 0, err
		}
		if w.closed {
			w.mu.Unlock()
			return 0, net.ErrClosed
		}
		if !w.running {
			if len(p) >= directMin || w.past {
				return w.writeDirect(p)
			}
			w.buf = wbBufs.Get().(*[]byte)
			*w.buf = append((*w.buf)[:0], p...)
			w.running = true
			w.mu.Unlock()
			go w.flush()
			return len(p), nil
		}
		if !w.direct && !w.past && len(p) <= wbMax {
			if w.buf == nil {
				w.buf = wbBufs.Get().(*[]byte)
				*w.buf = (*w.buf)[:0]
			}
			if len(*w.buf)+len(p) <= wbMax {
				*w.buf = append(*w.buf, p...)
				w.mu.Unlock()
				return len(p), nil
			}
		}
		w.cond.Wait()
	}
}

// writeDirect writes p on the caller's goroutine; w.mu is held, nothing
// waits to be written, and it returns with w.mu released.
func (w *writeBehind) writeDirect(p []byte) (int, error) {
	w.running, w.direct = true, true
	w.mu.Unlock()
	n, err := w.Conn.Write(p)
	w.mu.Lock()
	w.running, w.direct = false, false
	if err != nil && w.err == nil {
		w.err = err
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	return n, err
}

// flush writes buf to the socket until nothing waits.
func (w *writeBehind) flush() {
	// Let the goroutines that are ready run first: the handler whose
	// HEADERS frame was just written queues its DATA frame, other streams
	// their frames.
	runtime.Gosched()
	w.mu.Lock()
	for w.buf != nil && w.err == nil {
		b := w.buf
		w.buf = nil
		w.cond.Broadcast()
		w.mu.Unlock()
		_, err := w.Conn.Write(*b)
		putWBBuf(b)
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = err
		}
	}
	if w.buf != nil { // after a failed write: never sent
		putWBBuf(w.buf)
		w.buf = nil
	}
	w.running = false
	w.cond.Broadcast()
	w.mu.Unlock()
}

func putWBBuf(b *[]byte) {
	if cap(*b) <= 2*wbMax {
		*b = (*b)[:0]
		wbBufs.Put(b)
	}
}

// drain waits until the bytes written so far are on the socket (or their
// write failed), for closeDrain at most; then it fails the socket write in
// progress. A direct write in progress is not waited for: a deadline in
// the past or a close interrupts it, as without write-behind.
func (w *writeBehind) drain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running || w.direct {
		return
	}
	t := time.AfterFunc(closeDrain, func() { w.Conn.SetWriteDeadline(aLongTimeAgo) })
	defer t.Stop()
	for w.running && !w.direct {
		w.cond.Wait()
	}
}

// SetWriteDeadline sets the socket's write deadline; one in the past
// applies after the bytes already written are sent.
func (w *writeBehind) SetWriteDeadline(t time.Time) error {
	if !w.on.Load() {
		return w.Conn.SetWriteDeadline(t)
	}
	past := !t.IsZero() && !t.After(time.Now())
	if past {
		w.drain()
	}
	// After a deadline in the past, writes go to the socket directly, so
	// that they fail at once, as without write-behind.
	w.mu.Lock()
	w.past = past
	w.mu.Unlock()
	return w.Conn.SetWriteDeadline(t)
}

// SetDeadline is SetReadDeadline and SetWriteDeadline.
func (w *writeBehind) SetDeadline(t time.Time) error {
	if err := w.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return w.SetWriteDeadline(t)
}

// Close closes the socket once the bytes already written are sent.
func (w *writeBehind) Close() error {
	if w.on.Load() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.drain()
	}
	return w.Conn.Close()
}
