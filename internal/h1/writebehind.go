package h1

import (
	"net"
	"os"
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
// 2.94 socket writes per request, the one to the upstream included
// (docs/benchmarks.md). writeBehind sits under crypto/tls, on the socket:
// a small write returns once its bytes are copied, and a goroutine writes
// them to the socket, together with those written before it ran. The
// records of the answers that are ready (the HEADERS and DATA of one, and
// those of the streams beside it) then leave in one system call: 1.17
// socket writes per request under the same load, upstream included.
//
// It behaves as a larger socket buffer, bounded by wbMax:
//   - The bytes leave in the order they were written, each once. A write
//     of directMin bytes or more, when nothing is queued, and one that
//     does not fit beside the queued bytes once they are written, is
//     written directly, as without write-behind.
//   - At most wbMax bytes are queued or being written; past that, a write
//     waits, as on a full socket. The socket's write deadline
//     (send_timeout) still ends a socket write that makes no progress.
//   - A failed socket write fails every later write, as in crypto/tls. A
//     write error is reported by the write after the one whose bytes
//     failed (as for bytes a kernel accepted and could not deliver).
//   - Nothing waits for the queued bytes: a write deadline set while they
//     are being written applies once they are (so send_timeout still
//     bounds them, and a deadline cleared later does not unbound them);
//     after one in the past, writes fail at once. Close fails waiting
//     writes and reads at once and closes the socket once the queued
//     bytes are written (close_notify, a last GOAWAY), as a kernel sends
//     what it queued before a close. A deadline in the past and Close
//     give them closeDrain at most (crypto/tls gives close_notify 5 s).
//   - An idle connection holds no buffer: it goes back to a pool once the
//     goroutine has written it.
//
// It is on only once a connection has negotiated HTTP/2: HTTP/1.1 answers
// leave in one write already (h1's response buffer).
type writeBehind struct {
	net.Conn // the socket

	on atomic.Bool

	mu       sync.Mutex
	cond     sync.Cond // signalled when bytes leave or the goroutine stops
	buf      *[]byte   // queued, not yet taken by the goroutine; nil: none
	inflight int       // bytes the goroutine is writing
	running  bool      // a goroutine writes to the socket, or a direct write does
	direct   bool      // the write in progress is a direct one
	closed   bool      // Close was called
	past     bool      // the write deadline set last is in the past
	err      error     // the first failed socket write
	// What waits for the goroutine to finish: a write deadline to set,
	// the socket to close, and the timer that bounds the wait.
	dl        time.Time
	dlPending bool
	closeLate bool
	bound     *time.Timer
	gen       uint64 // counts the goroutine's runs, for bound
}

const (
	// wbMax is how many bytes may be queued or being written.
	wbMax = 16 << 10
	// directMin is the size of a write that is not copied when nothing
	// is queued: bulk answers are written as without write-behind.
	directMin = 4 << 10
)

// closeDrain bounds the time queued bytes get after Close or a write
// deadline in the past.
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

// NetConn is the socket, as tls.Conn.NetConn.
func (w *writeBehind) NetConn() net.Conn { return w.Conn }

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
			w.queueLocked(p)
			w.running = true
			w.mu.Unlock()
			go w.flush()
			return len(p), nil
		}
		if w.past {
			w.mu.Unlock()
			return 0, &net.OpError{Op: "write", Net: "tcp", Source: w.LocalAddr(), Addr: w.RemoteAddr(), Err: os.ErrDeadlineExceeded}
		}
		if !w.direct {
			queued := 0
			if w.buf != nil {
				queued = len(*w.buf)
			}
			if w.inflight+queued+len(p) <= wbMax {
				w.queueLocked(p)
				w.mu.Unlock()
				return len(p), nil
			}
		}
		w.cond.Wait()
	}
}

// queueLocked appends p to the queued bytes.
func (w *writeBehind) queueLocked(p []byte) {
	if w.buf == nil {
		w.buf = wbBufs.Get().(*[]byte) // empty: putWBBuf empties what it pools
	}
	*w.buf = append(*w.buf, p...)
}

// writeDirect writes p on the caller's goroutine; w.mu is held, nothing
// is queued, and it returns with w.mu released.
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

// flush writes the queued bytes to the socket until none are left, then
// does what waited for it.
func (w *writeBehind) flush() {
	// Let the goroutines that are ready run first: the handler whose
	// HEADERS frame was just written queues its DATA frame, other streams
	// their frames.
	runtime.Gosched()
	w.mu.Lock()
	for w.buf != nil && w.err == nil {
		b := w.buf
		w.buf, w.inflight = nil, len(*b)
		w.mu.Unlock()
		_, err := w.Conn.Write(*b)
		putWBBuf(b)
		w.mu.Lock()
		w.inflight = 0
		if err != nil && w.err == nil {
			w.err = err
		}
		w.cond.Broadcast()
	}
	if w.buf != nil { // after a failed write: never sent
		putWBBuf(w.buf)
		w.buf = nil
	}
	w.running = false
	w.gen++
	if w.bound != nil {
		w.bound.Stop()
		w.bound = nil
	}
	if w.dlPending {
		w.Conn.SetWriteDeadline(w.dl)
		w.dlPending = false
	}
	closeLate := w.closeLate
	w.cond.Broadcast()
	w.mu.Unlock()
	if closeLate {
		w.Conn.Close()
	}
}

func putWBBuf(b *[]byte) {
	if cap(*b) <= wbMax {
		*b = (*b)[:0]
		wbBufs.Put(b)
	}
}

// queuedLocked reports whether the goroutine is writing queued bytes.
func (w *writeBehind) queuedLocked() bool { return w.running && !w.direct }

// boundLocked gives the goroutine's current run closeDrain to finish: then
// its socket write fails.
func (w *writeBehind) boundLocked() {
	if w.bound != nil {
		return
	}
	gen := w.gen
	w.bound = time.AfterFunc(closeDrain, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.gen == gen && w.queuedLocked() {
			w.Conn.SetWriteDeadline(aLongTimeAgo)
		}
	})
}

// SetWriteDeadline sets the socket's write deadline, once the queued bytes
// are written.
func (w *writeBehind) SetWriteDeadline(t time.Time) error {
	if !w.on.Load() {
		return w.Conn.SetWriteDeadline(t)
	}
	past := !t.IsZero() && !t.After(time.Now())
	w.mu.Lock()
	w.past = past
	if w.queuedLocked() {
		w.dl, w.dlPending = t, true
		if past {
			w.boundLocked()
			w.cond.Broadcast() // waiting writes fail
		}
		w.mu.Unlock()
		return nil
	}
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

// Close closes the socket, at once or once the queued bytes are written.
// It returns at once; reads and waiting writes fail.
func (w *writeBehind) Close() error {
	if !w.on.Load() {
		return w.Conn.Close()
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return net.ErrClosed
	}
	w.closed = true
	if w.queuedLocked() {
		// The goroutine closes the socket once it sees closeLate, which
		// it reads under w.mu: the socket is still open here.
		w.closeLate = true
		w.boundLocked()
		w.cond.Broadcast()
		w.Conn.SetReadDeadline(aLongTimeAgo)
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	return w.Conn.Close()
}
