package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Timeouts between two steps of progress, as nginx bounds them, so that a
// peer that stops cannot hold a connection, a handler and an upstream
// connection for as long as it likes:
//   - reading a request body (client_body_timeout): deadlineBody,
//     Options.BodyRead;
//   - writing an answer to a client (send_timeout): SendTimeoutListener
//     for connections, sendWriter for HTTP/2 streams, Options.Send;
//   - writing a request to an upstream (proxy_send_timeout): sendDialer,
//     Options.Send.
//
// The wait for an upstream's response head (proxy_read_timeout's first
// part) is the transports' (Options.UpstreamResponse, transport.go).

// deadlineBody pushes the connection's read deadline forward before each
// read of a request body, like nginx's client_body_timeout: an upload may
// take as long as it needs while it makes progress, but a client that
// stops sending is cut off. A zero d sets no deadline.
//
// It also records in inf when reading failed for another reason than the
// end of the body, so that the failure is not blamed on the upstream.
type deadlineBody struct {
	io.ReadCloser
	rc  *http.ResponseController
	d   time.Duration
	inf *info
	eof bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if !b.eof && b.d > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d)) // unsupported writers: no deadline, as before
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.eof {
		b.eof = true
		if err != io.EOF {
			b.inf.bodyErr.Store(&err)
		}
		if b.d <= 0 {
			return n, err
		}
		// Clear the deadline: net/http keeps reading the connection in the
		// background to notice a client hang-up while the upstream works,
		// and that read must not time out.
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// bodyFinished reports whether body, a request body, was read to its end
// without an error.
func bodyFinished(body io.ReadCloser) bool {
	b, ok := body.(*deadlineBody)
	return ok && b.eof && b.inf.bodyError() == nil
}

// SendTimeoutListener wraps ln so that every write to an accepted
// connection must make progress within d (nginx's send_timeout): a client
// that stops reading an answer is disconnected after d instead of holding
// its connection, the handler and the upstream connection for as long as
// it likes. The deadline is pushed before a write only once a quarter of d
// has passed since it was last pushed, so the bound between writes is
// between 3/4 d and d. It applies to TLS handshakes and HTTP/1.1 and
// HTTP/2 alike (an HTTP/2 stream whose window a client keeps shut is
// bounded by Options.Send).
func SendTimeoutListener(ln net.Listener, d time.Duration) net.Listener {
	if d <= 0 {
		return ln
	}
	return &sendListener{Listener: ln, d: d}
}

type sendListener struct {
	net.Listener
	d time.Duration
}

func (l *sendListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &sendConn{TCPConn: tc, d: l.d}, nil
	}
	return c, nil
}

// sendConn embeds *net.TCPConn so that CloseWrite and SyscallConn stay
// visible to crypto/tls and net/http.
type sendConn struct {
	*net.TCPConn
	d        time.Duration
	armed    atomic.Int64 // unix nanos of the last deadline push; 0 = push on the next write
	poisoned atomic.Bool  // a deadline in the past was set (a cancellation): never push it forward
}

func (c *sendConn) Write(p []byte) (int, error) {
	if now := time.Now(); now.UnixNano()-c.armed.Load() > int64(c.d/4) && !c.poisoned.Load() {
		c.armed.Store(now.UnixNano())
		c.TCPConn.SetWriteDeadline(now.Add(c.d))
		if c.poisoned.Load() { // set while we pushed: put the poison back
			c.TCPConn.SetWriteDeadline(time.Unix(1, 0))
		}
	}
	return c.TCPConn.Write(p)
}

// SetWriteDeadline lets a deadline set by crypto/tls or net/http (such as
// the 5 s bound on sending close_notify) stand until d/4 has passed, and
// one in the past (a cancellation) stand for good.
func (c *sendConn) SetWriteDeadline(t time.Time) error {
	now := time.Now()
	switch {
	case t.IsZero():
		c.poisoned.Store(false)
		c.armed.Store(0)
	case t.Before(now):
		c.poisoned.Store(true)
	default:
		c.poisoned.Store(false)
		c.armed.Store(now.UnixNano())
	}
	return c.TCPConn.SetWriteDeadline(t)
}

// SetDeadline is SetWriteDeadline for both directions.
func (c *sendConn) SetDeadline(t time.Time) error {
	if err := c.TCPConn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// sendDialer wraps dial so that every write to a connection it makes must
// make progress within d, as SendTimeoutListener does for accepted ones.
func sendDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), d time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if d <= 0 || dial == nil {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && err == nil {
			return &sendConn{TCPConn: tc, d: d}, nil
		}
		return c, err
	}
}

// sendWriter bounds how long one write (or flush) of an answer to an
// HTTP/2 client may block: a client that keeps a stream's flow-control
// window shut gets the stream reset after d (give or take the watchdog's
// tick), the handler's write fails, and the upstream connection is
// released. The bound runs only while a write is pending, as nginx's
// send_timeout does: a streamed answer whose upstream pauses longer than d
// between two events is not cut.
//
// A write only stamps its start and end; one watchdog goroutine for the
// process looks at the stamps of the registered writers every second. A
// timer per request would cost far more: arming one wakes the network
// poller, a system call per request (measured: +10% CPU per HTTP/2
// request).
type sendWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	d       int64        // nanoseconds
	writing atomic.Int64 // unix nanos when the pending write began; 0 = none

	mu   sync.Mutex // orders expire against finish
	done bool
}

func newSendWriter(w http.ResponseWriter, d time.Duration) *sendWriter {
	sw := &sendWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: int64(d)}
	stalls.add(sw)
	return sw
}

func (w *sendWriter) Write(p []byte) (int, error) {
	w.writing.Store(time.Now().UnixNano())
	n, err := w.ResponseWriter.Write(p)
	w.writing.Store(0)
	return n, err
}

// FlushError flushes under the same bound: HTTP/2 data waits for the
// flow-control window here as much as in Write.
func (w *sendWriter) FlushError() error {
	w.writing.Store(time.Now().UnixNano())
	err := w.rc.Flush()
	w.writing.Store(0)
	return err
}

// expire resets the stream if its pending write began before limit and
// the handler has not finished (after that the server recycles the
// stream's writer, which must not be touched).
func (w *sendWriter) expire(now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.writing.Load(); !w.done && s != 0 && now-s > w.d {
		_ = w.rc.SetWriteDeadline(time.Unix(1, 0)) // in the past: the stream is reset now
	}
}

// finish ends the bound for good; the handler defers it.
func (w *sendWriter) finish() {
	stalls.remove(w)
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// Unwrap lets http.ResponseController reach the server's writer.
// Flush is FlushError for handlers that assert http.Flusher.
func (w *sendWriter) Flush() { _ = w.FlushError() }

func (w *sendWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// stalls is the registry the watchdog scans: sharded, so that requests
// on different cores rarely share a lock.
var stalls stallRegistry

type stallRegistry struct {
	once   sync.Once
	shards [16]struct {
		mu   sync.Mutex
		m    map[*sendWriter]struct{}
		peak int      // most entries m has held since it was made
		_    [40]byte // keep shards on separate cache lines
	}
}

// A shard's map that grew past stallShrinkMin entries is rebuilt once it
// holds a quarter of its peak: Go maps never shrink, and after a burst of
// 5,000 requests (issue 17) the shards kept their slots, which watch also
// walks every second. Rebuilding copies at most a quarter of the entries
// deleted since the last rebuild.
const stallShrinkMin = 128

func (r *stallRegistry) shard(w *sendWriter) int {
	return int(uintptr(unsafe.Pointer(w))>>6) % len(r.shards)
}

func (r *stallRegistry) add(w *sendWriter) {
	r.once.Do(func() { go r.watch() })
	sh := &r.shards[r.shard(w)]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = map[*sendWriter]struct{}{}
	}
	sh.m[w] = struct{}{}
	sh.peak = max(sh.peak, len(sh.m))
	sh.mu.Unlock()
}

func (r *stallRegistry) remove(w *sendWriter) {
	sh := &r.shards[r.shard(w)]
	sh.mu.Lock()
	delete(sh.m, w)
	if sh.peak >= stallShrinkMin && len(sh.m) <= sh.peak/4 {
		m := make(map[*sendWriter]struct{}, len(sh.m))
		for w := range sh.m {
			m[w] = struct{}{}
		}
		sh.m, sh.peak = m, len(m)
	}
	sh.mu.Unlock()
}

// watch runs for the life of the process: once a second it resets the
// streams whose pending write is older than their bound.
func (r *stallRegistry) watch() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var late []*sendWriter
	for range t.C {
		now := time.Now().UnixNano()
		for i := range r.shards {
			sh := &r.shards[i]
			sh.mu.Lock()
			for w := range sh.m {
				if s := w.writing.Load(); s != 0 && now-s > w.d {
					late = append(late, w)
				}
			}
			sh.mu.Unlock()
		}
		for _, w := range late {
			w.expire(now) // outside the shard lock: resetting a stream may wait for its connection
		}
		clear(late)
		late = late[:0]
	}
}
