package server

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/memtrim"
	"github.com/tlsgate/tlsgate/internal/metrics"
	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// HTTP/3 (listen.http3) serves the HTTPS handler over QUIC on UDP, at the
// HTTPS listener's address and port. What it shares with the TCP path,
// and how:
//
//   - site selection: configForQUIC is configForClient with each site's
//     QUIC config (tlspolicy.QUIC: same certificate source, client CAs
//     and handshake hook; TLS 1.3 and "h3" only). Reloads swap the state
//     it reads, so certificates and sites change as on TCP. ECH hellos
//     are decrypted by the listener first (the same keys as TCP's), so
//     the inner name picks the site.
//   - requests: the same serveHTTPS (Host must match the SNI's site,
//     421 otherwise), so the same routes, per-route client-certificate
//     checks with CRLs per request, security, forwarding and identity
//     headers, access log and metrics.
//   - resumption: each site's QUIC config has ticket keys of its own
//     label (the site's, client CAs included, plus "|h3"): a session
//     never resumes on another site, under other client CAs, or on TCP.
//   - 0-RTT is off (quic.Config.Allow0RTT false, and the listener is not
//     an early one): early data can be replayed by anyone who saw it,
//     and the upstream APIs behind the gateway cannot tell.
//   - limits: handshake timeout timeouts.read_header (as on TCP, where it
//     bounds the handshake), and timeouts.read_header again for each
//     request head (h3Server), idle timeout timeouts.idle (HTTP/3's;
//     QUIC's h3IdleMargin later),
//     limits.max_header_bytes, h3MaxStreams streams per connection,
//     and handshakeGate against floods of Initial packets.

// h3MaxStreams is how many request streams a client may have open on one
// connection: Go's HTTP/2 server allows 250; quic-go's default of 100 is
// kept, which is stricter and as much as browsers use.
const h3MaxStreams = 100

// h3ReceiveWindow bounds what one connection (and one stream) may have
// sent that the handler has not read: 1 MiB, as Go's HTTP/2 server
// (quic-go's default allows 15 MiB per connection).
const h3ReceiveWindow = 1 << 20

// h3IdleMargin is how much longer the QUIC layer waits for a packet than
// the HTTP/3 layer waits for a request (timeouts.idle): HTTP/3's idle
// close sends CONNECTION_CLOSE and the client knows at once; QUIC's own
// idle timeout closes silently and the client finds out only on its own
// timer. QUIC's stays as the backstop for a peer that went silent with a
// request open.
const h3IdleMargin = 10 * time.Second

// altSvcMaxAge is how long (seconds) a client may remember that HTTP/3 is
// offered: a day, so that turning it off takes effect within one.
const altSvcMaxAge = 86400

// handshakeGate bounds the state that QUIC Initial packets can make the
// gateway hold. Each Initial with a new connection ID starts a
// handshake, with buffers and goroutines, before anything is known of
// the sender; Initials are small UDP packets whose source address is
// easily forged. Past retryAbove handshakes in progress, a new
// connection attempt must first prove its address with a Retry round
// trip (RFC 9000 8.1.2): a forger never sees the Retry, so it makes no
// state at all. Past refuseAbove, even proven addresses are refused
// (CONNECTION_REFUSED) until handshakes finish or time out.
type handshakeGate struct {
	inProgress  atomic.Int64
	retryAbove  int64
	refuseAbove int64
	// failed, when set, is told why a handshake ended before it completed
	// (metrics and the debug log, as net/http's handshake errors on TCP).
	failed func(error)
}

// Why these numbers: 64 concurrent handshakes is far more than one
// gateway sees from well-behaved clients in the time of one round trip,
// and only costs an extra round trip when exceeded; 1024 handshakes is
// a few tens of MiB at worst.
const (
	h3RetryAbove  = 64
	h3RefuseAbove = 1024
)

type handshakeDoneKey struct{}

var errHandshakesBusy = errors.New("too many QUIC handshakes in progress")

// verifySource is quic.Transport.VerifySourceAddress.
func (g *handshakeGate) verifySource(net.Addr) bool {
	return g.inProgress.Load() >= g.retryAbove
}

// connContext is quic.Transport.ConnContext: it counts the handshake
// until it completes (done, called by the HTTP/3 server when it takes
// the connection) or the connection ends.
func (g *handshakeGate) connContext(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	if g.inProgress.Add(1) > g.refuseAbove {
		g.inProgress.Add(-1)
		return ctx, errHandshakesBusy
	}
	var once sync.Once
	finish := func(completed bool) {
		once.Do(func() {
			g.inProgress.Add(-1)
			if !completed && g.failed != nil {
				g.failed(context.Cause(ctx))
			}
		})
	}
	context.AfterFunc(ctx, func() { finish(false) })
	return context.WithValue(ctx, handshakeDoneKey{}, func() { finish(true) }), nil
}

// handshakeDone marks the handshake of a connection's context complete.
func handshakeDone(ctx context.Context) {
	if done, ok := ctx.Value(handshakeDoneKey{}).(func()); ok {
		done()
	}
}

// h3Listener is the bound UDP socket and its QUIC transport.
type h3Listener struct {
	udp  *net.UDPConn
	tr   *quic.Transport
	gate *handshakeGate
}

// listenH3 binds UDP at the HTTPS listener's address and port (bound
// first, so that port 0 gets the same port on both).
func (s *Server) listenH3(cfg *config.Config) error {
	if !cfg.Listen.HTTP3Enabled() {
		return nil
	}
	ta := s.httpsLn.Addr().(*net.TCPAddr)
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ta.IP, Port: ta.Port, Zone: ta.Zone})
	if err != nil {
		return fmt.Errorf("listening for HTTP/3 on UDP %s: %w (or turn HTTP/3 off: listen.http3: off)", ta, err)
	}
	// A stateless reset (RFC 9000 10.3) tells a client at once that its
	// connection is gone (a restart, a silent idle close, a packet routed
	// to another gateway of the fleet) instead of leaving it to time out.
	// A client believes one only if its token is made with the key of the
	// gateway that made the connection, so the key outlives the process
	// and is the fleet's: derived from the storage key with etcd, else
	// kept in the data dir. Retry tokens are sealed with a key made the
	// same way, so that one made before a restart, or by another gateway,
	// still validates the client's address.
	resetKey, tokenKey := s.quicKeys()
	gate := &handshakeGate{retryAbove: h3RetryAbove, refuseAbove: h3RefuseAbove}
	gate.failed = func(err error) {
		if err == nil {
			return
		}
		if s.metrics != nil {
			s.metrics.HandshakeFailure(metrics.FailureReason(err.Error()))
		}
		s.log.Debug("quic handshake error", "err", err)
	}
	s.h3Ln = &h3Listener{
		udp:  udp,
		gate: gate,
		tr: &quic.Transport{
			Conn:                udp,
			StatelessResetKey:   &resetKey,
			TokenGeneratorKey:   &tokenKey,
			VerifySourceAddress: gate.verifySource,
			ConnContext:         gate.connContext,
		},
	}
	return nil
}

// HTTP3Addr is the bound HTTP/3 (UDP) address, or nil when it is off.
func (s *Server) HTTP3Addr() net.Addr {
	if s.h3Ln == nil {
		return nil
	}
	return s.h3Ln.udp.LocalAddr()
}

// closeH3 releases the UDP socket (Close, or Serve's end).
func (s *Server) closeH3() {
	if s.h3Ln != nil {
		s.h3Ln.tr.Close()
		s.h3Ln.udp.Close()
	}
}

// serveH3 starts the HTTP/3 server on the bound socket; errc gets its
// end.
func (s *Server) serveH3(cfg *config.Config, trim *memtrim.Trimmer, errc chan<- error) error {
	if s.h3Ln == nil {
		return nil
	}
	// ECH as on TCP (tlspolicy.WithECH): the listener decrypts the hello
	// before configForQUIC picks the site by the inner name. Without it
	// the site configs would refuse every ECH hello with retry configs
	// that never decrypt here either.
	tlsConf := tlspolicy.WithECH(tlspolicy.QUICListener(s.configForQUIC), s.ech.keys.ForHandshake)
	ln, err := s.h3Ln.tr.Listen(tlsConf, &quic.Config{
		HandshakeIdleTimeout:           cfg.Timeouts.ReadHeader,
		MaxIdleTimeout:                 cfg.Timeouts.Idle + h3IdleMargin,
		MaxIncomingStreams:             h3MaxStreams,
		InitialStreamReceiveWindow:     min(512<<10, h3ReceiveWindow),
		MaxStreamReceiveWindow:         h3ReceiveWindow,
		InitialConnectionReceiveWindow: h3ReceiveWindow,
		MaxConnectionReceiveWindow:     h3ReceiveWindow,
		Allow0RTT:                      false,
	})
	if err != nil {
		return fmt.Errorf("starting HTTP/3 on %s: %w", s.h3Ln.udp.LocalAddr(), err)
	}
	h3 := &http3.Server{
		Handler:        http.HandlerFunc(s.serveHTTPS),
		MaxHeaderBytes: cfg.Limits.MaxHeaderBytes,
		IdleTimeout:    cfg.Timeouts.Idle,
		Logger:         s.log.With("listener", "http3"),
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			handshakeDone(ctx)
			// QUIC connections count towards the memory trimmer's peak
			// as TCP ones do; the connection's context ends when it
			// closes.
			trim.ConnState(nil, http.StateNew)
			context.AfterFunc(c.Context(), func() { trim.ConnState(nil, http.StateClosed) })
			// Each connection caches its client-certificate
			// verification, as on TCP.
			return mtls.WithConn(ctx)
		},
	}
	s.h3 = newH3Server(h3, ln, cfg.Timeouts.ReadHeader)
	go func() {
		err := s.h3.serve()
		if errors.Is(err, http.ErrServerClosed) || errors.Is(err, quic.ErrServerClosed) {
			return
		}
		errc <- fmt.Errorf("HTTP/3: %w", err)
	}()
	return nil
}

// h3Server is the HTTP/3 accept loop. It is http3.Server's (ServeListener)
// but for one thing: each request stream has timeouts.read_header to
// deliver its request head, as an HTTP/1.1 request head has on TCP
// (h1.Server.ReadHeaderTimeout). http3.Server bounds nothing there: a
// stream that never completes its HEADERS frame holds a goroutine and a
// header buffer for as long as the client keeps its connection alive,
// h3MaxStreams of them per connection, and QUIC's idle timeout never
// fires while the client sends a packet now and then. The stream's read
// deadline is set when it is accepted and cleared by serveHTTPS once the
// head is read (the body then has timeouts.body_read per read, as on
// TCP).
//
// Graceful shutdown differs from http3.Server's in one way: its GOAWAY
// frame goes on a control stream that http3.RawServerConn keeps to
// itself, so none is sent. Instead, requests already in flight finish,
// streams opened meanwhile are refused with H3_REQUEST_REJECTED (which
// tells the client that nothing was processed and it may retry them
// elsewhere), and each connection is closed with H3_NO_ERROR h3Linger
// after its requests are done.
type h3Server struct {
	srv        *http3.Server
	ln         *quic.Listener
	readHeader time.Duration

	grace     context.Context // done: graceful shutdown started
	stopGrace context.CancelFunc
	closed    context.Context // done: connections are closed now
	stopAll   context.CancelFunc
	conns     sync.WaitGroup
}

func newH3Server(srv *http3.Server, ln *quic.Listener, readHeader time.Duration) *h3Server {
	h := &h3Server{srv: srv, ln: ln, readHeader: readHeader}
	h.grace, h.stopGrace = context.WithCancel(context.Background())
	h.closed, h.stopAll = context.WithCancel(context.Background())
	return h
}

// h3Linger is how long a connection stays open in a graceful shutdown
// after its last request finished, so that the answer's last packets
// can be acknowledged (or retransmitted) before the connection closes:
// many round trips, yet short next to timeouts.shutdown.
const h3Linger = time.Second

// HTTP/3 error codes (RFC 9114 8.1) that http3 does not export as
// ApplicationErrorCode values.
const (
	h3NoError         = quic.ApplicationErrorCode(http3.ErrCodeNoError)
	h3InternalError   = quic.ApplicationErrorCode(http3.ErrCodeInternalError)
	h3RequestRejected = quic.StreamErrorCode(http3.ErrCodeRequestRejected)
)

// serve accepts connections until shutdown; it returns
// http.ErrServerClosed then.
func (h *h3Server) serve() error {
	for {
		conn, err := h.ln.Accept(h.grace)
		if h.grace.Err() != nil {
			if err == nil {
				conn.CloseWithError(h3NoError, "")
			}
			return http.ErrServerClosed
		}
		if err != nil {
			return err
		}
		h.conns.Go(func() { h.serveConn(conn) })
	}
}

// serveConn serves one connection's streams until it ends.
func (h *h3Server) serveConn(conn *quic.Conn) {
	hc, err := h.srv.NewRawServerConn(conn)
	if err != nil {
		conn.CloseWithError(h3InternalError, "")
		return
	}
	go func() {
		for {
			str, err := conn.AcceptUniStream(context.Background())
			if err != nil {
				return
			}
			go hc.HandleUnidirectionalStream(str)
		}
	}()
	var reqs sync.WaitGroup
	defer reqs.Wait()
	ctx := h.grace
	for {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			if conn.Context().Err() != nil {
				return // closed, by either side
			}
			if h.closed.Err() != nil {
				hc.CloseWithError(h3NoError, "")
				return
			}
			// Graceful shutdown: close once the requests in flight are
			// done; refuse new ones meanwhile.
			ctx = h.closed
			go func() {
				reqs.Wait()
				// The last answers may still be unacknowledged: closing
				// at once would discard them. Linger (as net/http does
				// before a reset) unless the client closes first.
				select {
				case <-conn.Context().Done():
				case <-h.closed.Done():
				case <-time.After(h3Linger):
				}
				hc.CloseWithError(h3NoError, "")
			}()
			continue
		}
		if ctx == h.closed {
			str.CancelRead(h3RequestRejected)
			str.CancelWrite(h3RequestRejected)
			continue
		}
		if h.readHeader > 0 {
			str.SetReadDeadline(time.Now().Add(h.readHeader))
		}
		reqs.Go(func() { hc.HandleRequestStream(str) })
	}
}

// shutdown stops accepting connections and requests, waits for those in
// flight until ctx ends, then closes every connection.
func (h *h3Server) shutdown(ctx context.Context) error {
	h.stopGrace()
	// Handshakes in progress or not yet accepted are refused
	// (CONNECTION_REFUSED); established connections go on.
	h.ln.Close()
	done := make(chan struct{})
	go func() {
		h.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		h.stopAll()
		<-done
		return ctx.Err()
	}
}

// clearHeadDeadline lifts the request-head deadline h3Server set on an
// HTTP/3 request's stream, once the head is read.
func clearHeadDeadline(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 3 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
}

// configForQUIC picks a site's QUIC config by SNI, as configForClient
// does for TCP; unknown names get the config that refuses every
// handshake.
func (s *Server) configForQUIC(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	st := s.state.Load()
	if si := st.siteForTLS(hello.ServerName, hello.Conn.LocalAddr()); si != nil && si.h3 != nil {
		return si.h3, nil
	}
	s.log.Debug("quic handshake for unknown name", "sni", hello.ServerName, "remote", hello.Conn.RemoteAddr().String())
	return st.reject, nil
}

// altSvc is the Alt-Svc value advertising HTTP/3 on TCP responses, or ""
// when it is off.
func (s *Server) altSvcValue() string {
	if s.h3Ln == nil {
		return ""
	}
	port := s.h3Ln.udp.LocalAddr().(*net.UDPAddr).Port
	if p := s.cfg.Load().Listen.HTTP3Port; p != 0 {
		port = p
	}
	return `h3=":` + strconv.Itoa(port) + `"; ma=` + strconv.Itoa(altSvcMaxAge)
}

func (s *Server) h3AddrString() string {
	if a := s.HTTP3Addr(); a != nil {
		return a.String()
	}
	return "off"
}

// quicKeyFile is the data dir's secret from which the QUIC keys of a
// gateway without etcd are derived.
const quicKeyFile = "quic.key"

// quicKeys are the stateless-reset and Retry-token keys: derived from the
// storage key with etcd (the same on every gateway), else from a secret
// in the data dir (the same across restarts). Without a writable data dir
// they are random, and live as long as the process.
func (s *Server) quicKeys() (quic.StatelessResetKey, quic.TokenGeneratorKey) {
	var master [32]byte
	if s.cluster != nil {
		master = s.cluster.Derive("quic keys")
	} else if b, err := loadOrCreateSecret(filepath.Join(s.dataDir, quicKeyFile)); err == nil {
		master = b
	} else {
		s.log.Warn("HTTP/3: no lasting QUIC key; clients ignore stateless resets sent after a restart and wait for their idle timeout instead", "err", err)
		rand.Read(master[:])
	}
	reset, _ := hkdf.Key(sha256.New, master[:], nil, "tlsgate quic stateless reset", 32)
	token, _ := hkdf.Key(sha256.New, master[:], nil, "tlsgate quic retry token", 32)
	return quic.StatelessResetKey(reset), quic.TokenGeneratorKey(token)
}

// loadOrCreateSecret reads 32 bytes from path, or makes them and writes
// them there (mode 0600) when there is no file.
func loadOrCreateSecret(path string) ([32]byte, error) {
	var k [32]byte
	b, err := os.ReadFile(path)
	if err == nil {
		// As for TLS and ECH keys: whoever reads it can end any client's
		// connection with a forged stateless reset, and mint Retry tokens.
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
			return k, fmt.Errorf("%s has mode %04o: other users can read the key that ends connections (stateless reset): run chmod 600 %s", path, fi.Mode().Perm(), path)
		}
		if len(b) != len(k) {
			return k, fmt.Errorf("%s: want %d bytes, found %d (delete it: a new one is made)", path, len(k), len(b))
		}
		copy(k[:], b)
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	rand.Read(k[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return k, err
	}
	if err := atomicfile.Write(path, k[:], 0o600); err != nil {
		return k, err
	}
	return k, nil
}
