package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// webSocketUpgrade reports whether an Upgrade header asks for WebSocket
// and nothing else, the one protocol switch the gateway relays.
func webSocketUpgrade(values []string) bool {
	return len(values) == 1 && strings.EqualFold(strings.TrimSpace(values[0]), "websocket")
}

// trailersFor returns the trailer map for the upstream request: the
// client's declared trailer names that an upstream may get (values are
// filled in as the body ends), or nil when there are none. Trailers are
// held to the same rules as headers (identity and forwarding headers are
// the gateway's), and to RFC 9110, 6.5.1: no framing, routing,
// authentication or content fields.
func (s *Site) trailersFor(in http.Header) http.Header {
	var out http.Header
	for k := range in {
		if s.notForwarded(k) || !httpguts.ValidTrailerHeader(k) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		if out == nil {
			out = http.Header{}
		}
		out[k] = nil
	}
	return out
}

// trailerBody copies the client's trailer values into the upstream
// request's trailer map when the client's body ends: the client's map is
// filled only then. Only names already in to are copied.
type trailerBody struct {
	io.ReadCloser
	from, to http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		for k := range b.to {
			b.to[k] = b.from[k]
		}
	}
	return n, err
}

// sendWriter bounds the time between successful writes of an answer to an
// HTTP/2 client: before a write, the stream's write deadline is pushed to
// d from now, so a client that stops reading (a zero flow-control window)
// gets its stream reset after d, the handler's write fails, and the
// upstream connection is released. Pushing the deadline costs a message to
// the connection's goroutine, so it is pushed again only once a quarter of
// d has passed: the bound between writes is then between 3/4 d and d.
type sendWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	d     time.Duration
	armed time.Time
}

func (w *sendWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(w.armed) > w.d/4 {
		w.armed = now
		_ = w.rc.SetWriteDeadline(now.Add(w.d)) // unsupported writers: no deadline
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *sendWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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

// sendConn embeds *net.TCPConn so that CloseWrite and SyscallConn stay
// visible to crypto/tls and net/http.
type sendConn struct {
	*net.TCPConn
	d     time.Duration
	armed atomic.Int64 // unix nanos of the last deadline push; 0 = push on the next write
}

func (c *sendConn) Write(p []byte) (int, error) {
	if now := time.Now(); now.UnixNano()-c.armed.Load() > int64(c.d/4) {
		c.armed.Store(now.UnixNano())
		c.TCPConn.SetWriteDeadline(now.Add(c.d))
	}
	return c.TCPConn.Write(p)
}

// SetWriteDeadline lets a deadline set by crypto/tls or net/http (such as
// the 5 s bound on sending close_notify) stand until d/4 has passed.
func (c *sendConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.armed.Store(0)
	} else {
		c.armed.Store(time.Now().UnixNano())
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
