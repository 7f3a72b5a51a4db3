package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// h3Client returns an HTTP/3 client (quic-go's http3.Transport) that
// trusts roots, presents cert when asked (nil: none), keeps sessions in
// cache (nil: none), and dials the gateway's UDP address for every host.
func h3Client(t *testing.T, udp string, roots *x509.CertPool, cert *tls.Certificate, cache tls.ClientSessionCache) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ClientSessionCache: cache}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http3.Transport{
		TLSClientConfig: cfg,
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 5 * time.Second},
		Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			return quic.DialAddr(ctx, udp, tlsCfg, qc)
		},
	}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (g *gateway) udp(t *testing.T) string {
	t.Helper()
	a := g.srv.HTTP3Addr()
	if a == nil {
		t.Fatal("no HTTP/3 listener")
	}
	return a.String()
}

// TestHTTP3ClientAuthPerRoute runs the per-route client-certificate cases
// over HTTP/3 and checks each answer is the TCP path's, then the headers
// (security, forwarding, identity) and a revocation taking effect on an
// open QUIC connection.
func TestHTTP3ClientAuthPerRoute(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t)
	udp := f.g.udp(t)
	roots := f.front.ca.Pool()
	other := pkitest.NewCA(t, "other CA")
	foreign := other.Issue(t, pkitest.Leaf{Names: []string{"payments"}, Client: true})
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		path   string
		status int
		verify string
	}{
		{"no cert, public", nil, "/public/x", 200, "NONE"},
		{"no cert, required", nil, "/internal/x", 403, ""},
		{"no cert, optional", nil, "/opt/x", 200, "NONE"},
		{"valid, required", f.payments, "/internal/x", 200, "SUCCESS"},
		{"other CA, required", foreign, "/internal/x", 403, ""},
		{"SPIFFE prefix refused", f.billing, "/spiffe/x", 403, ""},
		{"subject allowed", f.billing, "/dn/x", 200, "SUCCESS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, got, body := getIdentity(t, h3Client(t, udp, roots, tc.cert, nil), tc.path, nil)
			tcpCode, _, tcpBody := getIdentity(t, f.clientWith(tc.cert), tc.path, nil)
			if code != tc.status || code != tcpCode {
				t.Fatalf("%s over HTTP/3: %d %s; over TCP: %d %s; want %d on both", tc.path, code, body, tcpCode, tcpBody, tc.status)
			}
			if code == 200 && strings.Join(got["X-Client-Verify"], "|") != tc.verify {
				t.Errorf("X-Client-Verify = %q, want %q", got["X-Client-Verify"], tc.verify)
			}
			if code == 200 && tc.verify == "SUCCESS" && len(got) < 2 {
				t.Errorf("verified client, but the backend got only %v", got)
			}
			if code == 403 && !strings.Contains(body, "client certificate required") {
				t.Errorf("403 body %q does not say why", body)
			}
		})
	}

	// Headers of the TCP path, and Alt-Svc on TCP only.
	c := h3Client(t, udp, roots, f.payments, nil)
	resp, err := c.Get("https://localhost/public/x")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 3 {
		t.Fatalf("answered over %s, want HTTP/3", resp.Proto)
	}
	for _, h := range []string{"Strict-Transport-Security", "X-Content-Type-Options", "X-Request-Id"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("HTTP/3 response lacks %s: %v", h, resp.Header)
		}
	}
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Errorf("HTTP/3 response advertises Alt-Svc %q", v)
	}
	tcp, err := f.clientWith(nil).Get("https://localhost/public/x")
	if err != nil {
		t.Fatal(err)
	}
	tcp.Body.Close()
	_, port, _ := net.SplitHostPort(udp)
	if want := `h3=":` + port + `"; ma=86400`; tcp.Header.Get("Alt-Svc") != want {
		t.Errorf("TCP Alt-Svc = %q, want %q", tcp.Header.Get("Alt-Svc"), want)
	}

	// Revocation: checked per request, on the same QUIC connection.
	if code, _, body := getIdentity(t, c, "/internal/x", nil); code != 200 {
		t.Fatalf("before revocation: %d %s", code, body)
	}
	writeCRL(t, f.crlFile, f.ca, 2, f.payments.Leaf.SerialNumber)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, body := getIdentity(t, c, "/internal/x", nil)
		if code == 403 && strings.Contains(body, "client certificate required: revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked certificate still accepted over HTTP/3 5s after the CRL changed: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHTTP3ForwardingHeadersAndAccessLog: the upstream sees the TCP
// path's X-Forwarded-* and request ID; the access log names HTTP/3.
func TestHTTP3ForwardingHeadersAndAccessLog(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "A"), ""))
	resp, err := h3Client(t, g.udp(t), p.ca.Pool(), nil, nil).Get("https://localhost/some/path")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "backend=A path=/some/path xff=127.0.0.1 proto=https host=localhost reqid=") ||
		strings.HasSuffix(strings.TrimSpace(string(body)), "reqid=") {
		t.Errorf("upstream saw %q", body)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(g.logs.String(), "proto=HTTP/3.0") {
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line with proto=HTTP/3.0:\n%s", g.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHTTP3SitesByServerNameAndReload: SNI picks the site and its
// certificate over QUIC as over TCP, an unknown name is refused in the
// handshake, a Host of another site is 421, and a reload swaps the
// certificate QUIC serves.
func TestHTTP3SitesByServerNameAndReload(t *testing.T) {
	t.Parallel()
	pa, pb := newPKI(t, "a.test"), newPKI(t, "b.test")
	g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [a.test]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{path: /, upstreams: [%s]}]
  - hosts: [b.test]
    tls: {profile: modern, certificate: {cert: %s, key: %s}}
    routes: [{path: /, upstreams: [%s]}]
`, pa.certFile, pa.keyFile, backend(t, "A"), pb.certFile, pb.keyFile, backend(t, "B")))
	udp := g.udp(t)
	get := func(p *pki, host string) (*http.Response, string, error) {
		t.Helper()
		resp, err := h3Client(t, udp, p.ca.Pool(), nil, nil).Get("https://" + host + "/")
		if err != nil {
			return nil, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b), nil
	}
	for _, tc := range []struct {
		p             *pki
		host, backend string
	}{{pa, "a.test", "A"}, {pb, "b.test", "B"}} {
		resp, body, err := get(tc.p, tc.host)
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != tc.host || !strings.Contains(body, "backend="+tc.backend) {
			t.Errorf("%s: certificate %s, body %q", tc.host, cn, body)
		}
		if resp.TLS.Version != tls.VersionTLS13 || resp.TLS.NegotiatedProtocol != "h3" {
			t.Errorf("%s: %s %q", tc.host, tls.VersionName(resp.TLS.Version), resp.TLS.NegotiatedProtocol)
		}
	}
	if _, _, err := get(pa, "unknown.test"); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Errorf("unknown SNI over QUIC: want a TLS unrecognized_name alert, got %v", err)
	}
	// A connection made for a.test must not serve b.test.
	c := h3Client(t, udp, pa.ca.Pool(), nil, nil)
	req, _ := http.NewRequest("GET", "https://a.test/", nil)
	req.Host = "b.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host b.test on an a.test QUIC connection: %d, want 421", resp.StatusCode)
	}

	// Reload: a new certificate for a.test is what new QUIC connections get.
	before, _, err := get(pa, "a.test")
	if err != nil {
		t.Fatal(err)
	}
	next := pa.ca.Issue(t, pkitest.Leaf{Names: []string{"a.test"}})
	certFile, keyFile := pkitest.WriteFiles(t, t.TempDir(), "next", next)
	writeRename(t, pa.certFile, mustRead(t, certFile), 0o644)
	writeRename(t, pa.keyFile, mustRead(t, keyFile), 0o600)
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	after, _, err := get(pa, "a.test")
	if err != nil {
		t.Fatal(err)
	}
	was, now := before.TLS.PeerCertificates[0].SerialNumber, after.TLS.PeerCertificates[0].SerialNumber
	if was.Cmp(now) == 0 || now.Cmp(next.Leaf.SerialNumber) != 0 {
		t.Errorf("after reload QUIC serves serial %v (before %v), want %v", now, was, next.Leaf.SerialNumber)
	}
}

// anyKeyCache is a client session cache that offers the last session it
// was given for every server: an attacker's client trying to carry a
// session to a site or policy it was not made for.
type anyKeyCache struct {
	mu   sync.Mutex
	last *tls.ClientSessionState
}

func (c *anyKeyCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.last != nil
}

func (c *anyKeyCache) Put(_ string, cs *tls.ClientSessionState) {
	if cs == nil {
		return
	}
	c.mu.Lock()
	c.last = cs
	c.mu.Unlock()
}

// TestHTTP3ResumptionNeverCrossesPolicies: a QUIC session made on a site
// without client authentication, or on one trusting another client CA,
// or over TCP, does not resume on a site whose route requires a client
// certificate, and the request is refused. (Envoy's QUIC resumption bugs,
// PRs #47219 and #47381, and Go's CVE-2025-68121 are of this class.) One
// server certificate covers every name, so the client offers the session
// everywhere.
func TestHTTP3ResumptionNeverCrossesPolicies(t *testing.T) {
	t.Parallel()
	front := newPKI(t, "open.test", "mtls.test", "other.test")
	clientsA, clientsB := pkitest.NewCA(t, "clients A"), pkitest.NewCA(t, "clients B")
	caA, caB := clientsA.WriteRoot(t, t.TempDir()), clientsB.WriteRoot(t, t.TempDir())
	up := identityEcho(t)
	g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [open.test]
    tls: {certificate: {cert: %[1]s, key: %[2]s}}
    routes: [{path: /, upstreams: [%[3]s]}]
  - hosts: [mtls.test]
    tls: {certificate: {cert: %[1]s, key: %[2]s}}
    client_auth: {ca: [%[4]s]}
    routes: [{path: /, upstreams: [%[3]s], client_auth: require}]
  - hosts: [other.test]
    tls: {certificate: {cert: %[1]s, key: %[2]s}}
    client_auth: {ca: [%[5]s]}
    routes: [{path: /, upstreams: [%[3]s], client_auth: require}]
`, front.certFile, front.keyFile, up, caA, caB))
	udp := g.udp(t)
	certB := clientsB.Issue(t, pkitest.Leaf{Names: []string{"svc"}, Client: true})

	// get makes one request on a new QUIC connection.
	get := func(cache tls.ClientSessionCache, cert *tls.Certificate, host string) (code int, resumed bool) {
		t.Helper()
		c := h3Client(t, udp, front.ca.Pool(), cert, cache)
		resp, err := c.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.Transport.(*http3.Transport).Close()
		return resp.StatusCode, resp.TLS.DidResume
	}
	// ticket makes a session on host and checks that it resumes there:
	// without that the refusals below would prove nothing.
	ticket := func(cert *tls.Certificate, host string, code int) *anyKeyCache {
		t.Helper()
		cache := &anyKeyCache{}
		for i := 0; ; i++ {
			c, resumed := get(cache, cert, host)
			if c != code {
				t.Fatalf("%s: %d, want %d", host, c, code)
			}
			if resumed {
				return cache
			}
			if i == 5 {
				t.Fatalf("%s: no QUIC session resumed in 5 connections: the test proves nothing", host)
			}
		}
	}

	// A session of the site without client auth, offered to the site that
	// requires a certificate.
	open := ticket(nil, "open.test", 200)
	if code, resumed := get(open, nil, "mtls.test"); resumed || code != http.StatusForbidden {
		t.Errorf("open.test's session on mtls.test: resumed=%v status %d, want a full handshake and 403", resumed, code)
	}
	// A session with a certificate verified under clients B, offered to
	// the site that trusts clients A only.
	other := ticket(certB, "other.test", 200)
	if code, resumed := get(other, nil, "mtls.test"); resumed || code != http.StatusForbidden {
		t.Errorf("other.test's session (clients B) on mtls.test (clients A): resumed=%v status %d, want a full handshake and 403", resumed, code)
	}

	// A TCP session of the same site does not resume over QUIC.
	tcpCache := &anyKeyCache{}
	for range 2 {
		conn, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "open.test", RootCAs: front.ca.Pool(), ClientSessionCache: tcpCache})
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		conn.Read(make([]byte, 1)) // TLS 1.3 tickets arrive after the handshake
		conn.Close()
	}
	if tcpCache.last == nil {
		t.Fatal("no TCP session ticket")
	}
	if _, resumed := get(tcpCache, nil, "open.test"); resumed {
		t.Error("a TCP session resumed over QUIC")
	}
}

// TestHTTP3NoEarlyData: a client that resumes and tries 0-RTT is not
// accepted as early data (the gateway issues no tickets allowing it).
func TestHTTP3NoEarlyData(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "A"), ""))
	udp := g.udp(t)
	cache := tls.NewLRUClientSessionCache(4)
	var resumed bool
	for i := 0; i < 3 && !resumed; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := quic.DialAddrEarly(ctx, udp,
			&tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), ClientSessionCache: cache, NextProtos: []string{"h3"}},
			&quic.Config{Allow0RTT: true})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// Try to send on a stream before the handshake completes: with a
		// ticket allowing early data this would go out as 0-RTT.
		if s, err := conn.OpenStream(); err == nil {
			s.Write([]byte{0})
		}
		select {
		case <-conn.HandshakeComplete():
		case <-time.After(5 * time.Second):
			t.Fatal("no handshake")
		}
		cs := conn.ConnectionState()
		if cs.Used0RTT {
			t.Fatalf("connection %d: the gateway accepted 0-RTT", i)
		}
		resumed = cs.TLS.DidResume
		time.Sleep(50 * time.Millisecond) // the ticket arrives after the handshake
		conn.CloseWithError(0, "")
	}
	if !resumed {
		t.Fatal("no resumption: the 0-RTT attempt was never made, the test proves nothing")
	}
}

// TestHTTP3Off: listen.http3: off binds no UDP socket and advertises
// nothing.
func TestHTTP3Off(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	yaml := strings.Replace(oneSite(p, "intermediate", backend(t, "A"), ""), `http: "127.0.0.1:0"}`, `http: off, http3: off}`, 1)
	g := startGateway(t, yaml)
	if a := g.srv.HTTP3Addr(); a != nil {
		t.Fatalf("HTTP/3 listener on %s with listen.http3: off", a)
	}
	resp, err := p.client(g.https, true).Get("https://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Errorf("Alt-Svc %q with listen.http3: off", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if conn, err := quic.DialAddr(ctx, g.https, &tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), NextProtos: []string{"h3"}}, nil); err == nil {
		conn.CloseWithError(0, "")
		t.Error("a QUIC handshake succeeded on the HTTPS port with listen.http3: off")
	}
}

// TestHTTP3InitialFlood sends 5,000 QUIC Initial packets with random
// connection IDs from one socket, none of which will ever answer a
// Retry, and checks that the gateway holds a bounded number of
// handshakes (and goroutines) and that a real client still connects.
// Without address validation every one of them would be a connection in
// handshake until timeouts.read_header.
func TestHTTP3InitialFlood(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "A"), ""))
	udp := g.udp(t)
	gate := g.srv.h3Ln.gate
	raddr, err := net.ResolveUDPAddr("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	runtime.GC()
	goroutinesBefore := runtime.NumGoroutine()
	var peak int64
	const flood = 5000
	for i := range flood {
		if _, err := sock.Write(craftedInitial()); err != nil {
			t.Fatal(err)
		}
		if n := gate.inProgress.Load(); n > peak {
			peak = n
		}
		if i%200 == 0 {
			time.Sleep(time.Millisecond) // let the server read; the socket buffer is finite
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := gate.inProgress.Load(); n > peak {
		peak = n
	}
	grown := runtime.NumGoroutine() - goroutinesBefore
	t.Logf("%d Initials: peak %d handshakes in progress, %d goroutines more than before", flood, peak, grown)
	if peak > h3RetryAbove+16 {
		t.Errorf("%d handshakes in progress after a flood of %d Initials, want at most about %d (Retry above)", peak, flood, h3RetryAbove)
	}
	if grown > 20*h3RetryAbove {
		t.Errorf("%d more goroutines after the flood: state grows with spoofed Initials", grown)
	}
	// A real client (which answers the Retry) still gets through.
	resp, err := h3Client(t, udp, p.ca.Pool(), nil, nil).Get("https://localhost/")
	if err != nil {
		t.Fatalf("a real client during the flood's aftermath: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("real client: %d", resp.StatusCode)
	}
	// The flood's handshakes end at timeouts.read_header (2s here).
	deadline := time.Now().Add(10 * time.Second)
	for gate.inProgress.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d flood handshakes still in progress 10s later: the handshake timeout does not apply", gate.inProgress.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// craftedInitial is a QUIC v1 Initial packet as a flood would send it: a
// valid long header (RFC 9000 17.2.2) with fresh random connection IDs,
// padded to 1200 bytes, and a random (undecryptable) payload. The
// server must decide about the connection before it can decrypt.
func craftedInitial() []byte {
	dcid, scid := make([]byte, 8), make([]byte, 8)
	rand.Read(dcid)
	rand.Read(scid)
	b := []byte{0xc3} // long header, fixed bit, Initial, 4-byte packet number
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, byte(len(dcid)))
	b = append(b, dcid...)
	b = append(b, byte(len(scid)))
	b = append(b, scid...)
	b = append(b, 0) // no token
	rest := 1200 - len(b) - 2
	b = binary.BigEndian.AppendUint16(b, 0x4000|uint16(rest)) // 2-byte varint length
	payload := make([]byte, rest)
	rand.Read(payload)
	return append(b, payload...)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHTTP3MetricsAndGracefulShutdown: an HTTP/3 handshake is counted
// with alpn "h3" and its request under the site's route, as on TCP; a
// request in flight when the gateway stops finishes, and the UDP
// listener is gone afterwards.
func TestHTTP3MetricsAndGracefulShutdown(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	yaml := strings.Replace(oneSite(p, "intermediate", backend(t, "a"), ""), "log: {format: text}", "log: {format: text}\nadmin: {listen: \"127.0.0.1:0\"}", 1)
	g := startGateway(t, yaml)
	udp := g.udp(t)
	c := h3Client(t, udp, p.ca.Pool(), nil, nil)
	resp, err := c.Get("https://localhost/fast")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fams := scrape(t, g.srv.AdminAddr().String())
	if n := value(fams, "tlsgate_tls_handshakes_total", map[string]string{"alpn": "h3", "version": "TLS 1.3"}); n < 1 {
		t.Errorf("no handshake counted with alpn h3")
	}
	if n := value(fams, "tlsgate_http_requests_total", map[string]string{"route": "/", "code": "2xx"}); n < 1 {
		t.Errorf("the HTTP/3 request was not counted")
	}
	// A QUIC handshake for a name no site has fails as on TCP, and is
	// counted with the same reason.
	if _, err := h3Client(t, udp, p.ca.Pool(), nil, nil).Get("https://unknown.test/"); err == nil {
		t.Fatal("a QUIC handshake for an unknown name succeeded")
	}
	deadline := time.Now().Add(3 * time.Second)
	for value(scrape(t, g.srv.AdminAddr().String()), "tlsgate_tls_handshake_failures_total", map[string]string{"reason": "unknown_sni"}) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the failed QUIC handshake was not counted as unknown_sni:\n%s", g.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	done := make(chan error, 1)
	go func() {
		resp, err := c.Get("https://localhost/slow?sleep=1s")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // the request is in flight
	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()
	if err := <-done; err != nil {
		t.Fatalf("in-flight HTTP/3 request during shutdown: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	// The port is free again: binding it succeeds.
	pc, err := net.ListenPacket("udp", udp)
	if err != nil {
		t.Fatalf("UDP %s still bound after shutdown: %v", udp, err)
	}
	pc.Close()
}

// TestHTTP3HeaderLimit: limits.max_header_bytes holds over HTTP/3 as over
// TCP: 100 KiB of headers never reach the upstream.
func TestHTTP3HeaderLimit(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	var reached atomic.Int32
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Big") != "" {
			reached.Add(1)
		}
	}))
	g := startGateway(t, oneSite(p, "intermediate", up, ""))
	c := h3Client(t, g.udp(t), p.ca.Pool(), nil, nil)
	req, _ := http.NewRequest("GET", "https://localhost/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("100 KiB of headers over HTTP/3: %d", resp.StatusCode)
		}
	}
	if reached.Load() != 0 {
		t.Error("100 KiB of headers reached the upstream over HTTP/3")
	}
	// A request under the limit is served.
	req, _ = http.NewRequest("GET", "https://localhost/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 1<<10))
	resp, err = h3Client(t, g.udp(t), p.ca.Pool(), nil, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || reached.Load() != 1 {
		t.Errorf("1 KiB of headers: %d, upstream reached %d times", resp.StatusCode, reached.Load())
	}
}

// TestHTTP3SendTimeout: a client that stops reading an HTTP/3 answer has
// its stream reset after timeouts.send, as on TCP, and the upstream's
// request ends; without it the write would wait as long as the client
// keeps the connection alive.
func TestHTTP3SendTimeout(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	ended := make(chan struct{})
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(ended)
		chunk := make([]byte, 64<<10)
		for range 2000 { // 125 MiB at most: far beyond every window
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	yaml := strings.Replace(oneSite(p, "intermediate", up, ""), "timeouts: {", "timeouts: {send: 1s, ", 1)
	g := startGateway(t, yaml)
	c := h3Client(t, g.udp(t), p.ca.Pool(), nil, nil)
	c.Timeout = 0
	resp, err := c.Get("https://localhost/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Read nothing: the gateway's writes stall on QUIC flow control.
	select {
	case <-ended:
	case <-time.After(15 * time.Second):
		t.Fatal("the upstream's answer was still being sent 15s after the client stopped reading (timeouts.send: 1s)")
	}
}

// TestHTTP3StreamAndIdleLimits: one connection gets at most h3MaxStreams
// requests at once (the rest wait for a stream, none fails), and a
// connection with nothing to do ends after timeouts.idle.
func TestHTTP3StreamAndIdleLimits(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	var inFlight, peak atomic.Int32
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(300 * time.Millisecond)
	}))
	yaml := strings.Replace(oneSite(p, "intermediate", up, ""), "timeouts: {", "timeouts: {idle: 1s, ", 1)
	g := startGateway(t, yaml)
	udp := g.udp(t)
	c := h3Client(t, udp, p.ca.Pool(), nil, nil) // one QUIC connection for all
	const n = h3MaxStreams + 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			resp, err := c.Get("https://localhost/")
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("request: %v", err)
	}
	t.Logf("%d requests, at most %d at the upstream at once", n, peak.Load())
	if got := peak.Load(); got > h3MaxStreams || got < h3MaxStreams/2 {
		t.Errorf("%d requests of one connection at the upstream at once, want at most %d (and the test must reach near it)", got, h3MaxStreams)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, udp, &tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), NextProtos: []string{"h3"}},
		&quic.Config{MaxIdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	select {
	case <-conn.Context().Done():
	case <-ctx.Done():
		t.Fatal("an idle QUIC connection was still open 5s later (timeouts.idle: 1s)")
	}
}

// TestHTTP3ConnectionsCounted: QUIC connections count towards the memory
// trimmer's connection peak as TCP ones do (package memtrim), from the
// handshake to the close.
func TestHTTP3ConnectionsCounted(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	trim := g.srv.trim.Load()
	for deadline := time.Now().Add(5 * time.Second); trim == nil; trim = g.srv.trim.Load() {
		if time.Now().After(deadline) {
			t.Fatal("Serve did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := trim.Open()
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool()}, QUICConfig: &quic.Config{HandshakeIdleTimeout: 5 * time.Second},
		Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			return quic.DialAddr(ctx, g.udp(t), tlsCfg, qc)
		}}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://localhost/fast")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := trim.Open(); n != before+1 {
		t.Errorf("%d connections open with one QUIC connection up, %d before", n, before)
	}
	tr.Close()
	for deadline := time.Now().Add(5 * time.Second); trim.Open() != before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open 5 s after the QUIC connection closed, %d before", trim.Open(), before)
		}
	}
}

// resetToken sends the gateway's UDP port a short-header packet for a
// connection it does not have and returns the stateless reset token of
// its answer (RFC 9000 10.3: the last 16 bytes). The connection ID is
// fixed, so the token depends only on the gateway's reset key.
func resetToken(t *testing.T, udp string) []byte {
	t.Helper()
	c, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := make([]byte, 64)
	pkt[0] = 0x40 | 0x01 // short header, fixed bit
	for i := 1; i < 21; i++ {
		pkt[i] = byte(i) // the destination connection ID
	}
	buf := make([]byte, 1500)
	for range 5 { // UDP: ask again if an answer is lost
		c.Write(pkt)
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil && n >= 21 {
			return bytes.Clone(buf[n-16 : n])
		}
	}
	t.Fatal("no stateless reset from " + udp)
	return nil
}

// TestHTTP3StatelessResetKeyLasts: the stateless reset key outlives the
// process (it is kept in the data dir), so a client whose connection a
// restart ended believes the reset the new process sends; another data
// dir has another key.
func TestHTTP3StatelessResetKeyLasts(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	dataDir := t.TempDir()
	yaml := oneSite(p, "intermediate", backend(t, "a"), "") + "data_dir: " + dataDir + "\n"
	first := startGateway(t, yaml)
	token := resetToken(t, first.udp(t))
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dataDir, quicKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the QUIC key file: %v, mode %v; want 0600", err, fi.Mode())
	}
	again := startGateway(t, yaml)
	if got := resetToken(t, again.udp(t)); !bytes.Equal(got, token) {
		t.Errorf("after a restart on the same data dir the reset token is %x, was %x", got, token)
	}
	other := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	if got := resetToken(t, other.udp(t)); bytes.Equal(got, token) {
		t.Error("a gateway with another data dir makes the same reset token")
	}
}

// TestHTTP3AdvertisedPort: listen.http3_advertised_port is the port
// Alt-Svc names (a balancer mapping UDP 443 to the gateway's port).
func TestHTTP3AdvertisedPort(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	yaml := strings.Replace(oneSite(p, "intermediate", backend(t, "A"), ""), `http: "127.0.0.1:0"}`, `http: off, http3_advertised_port: 443}`, 1)
	g := startGateway(t, yaml)
	resp, err := p.client(g.https, true).Get("https://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v, want := resp.Header.Get("Alt-Svc"), `h3=":443"; ma=86400`; v != want {
		t.Errorf("Alt-Svc %q, want %q", v, want)
	}
}

// TestQUICKeyFileMode: a world-readable quic.key is refused (the gateway
// then runs on a random key, with a warning that names the fix); a 0600
// one is read back unchanged.
func TestQUICKeyFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), quicKeyFile)
	k1, err := loadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadOrCreateSecret(path)
	if err != nil || k2 != k1 {
		t.Fatalf("read back: %v, same key %v", err, k2 == k1)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = loadOrCreateSecret(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("world-readable key: err %v, want one naming chmod 600 %s", err, path)
	}
}
