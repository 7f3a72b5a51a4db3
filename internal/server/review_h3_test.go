package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tlsgate/tlsgate/internal/ech"
)

// echH3Get makes one HTTP/3 request for https://host/path to the ECH
// fixture's UDP address with cfg (RootCAs filled in), reporting the
// connection's TLS state.
func (f *echFixture) h3Get(t *testing.T, cfg *tls.Config, host, reqHost, path string) (*echResult, error) {
	t.Helper()
	cfg = cfg.Clone()
	cfg.RootCAs = f.ca.Pool()
	udp := f.g.udp(t)
	var cs tls.ConnectionState
	tr := &http3.Transport{
		TLSClientConfig: cfg,
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 5 * time.Second},
		Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			tlsCfg.ServerName = host
			c, err := quic.DialAddr(ctx, udp, tlsCfg, qc)
			if err == nil {
				cs = c.ConnectionState().TLS
			}
			return c, err
		},
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reqHost+path, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return &echResult{status: resp.StatusCode, body: string(body), cs: cs}, nil
}

// TestReviewHTTP3ECH: ECH works over HTTP/3 as over TCP: a client
// holding the published config has its hello accepted on the QUIC
// listener, the inner name picks the site (certificate, upstream,
// client-auth policy), and the public name cannot reach the inner site's
// routes. Before the fix the QUIC listener had no ECH keys: every ECH
// hello was refused with retry configs that could never be accepted, so
// ECH clients could not use HTTP/3 at all.
func TestReviewHTTP3ECH(t *testing.T) {
	f := newECHFixture(t, `ech: {public_name: public.example.test}`)
	list := f.g.srv.ECHConfigList()
	r, err := f.h3Get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "api.example.test", "/")
	if err != nil {
		var rej *tls.ECHRejectionError
		if errors.As(err, &rej) {
			t.Fatalf("HTTP/3 refused the published ECH config (retry configs %d bytes, same as published: %v)", len(rej.RetryConfigList), string(rej.RetryConfigList) == string(list))
		}
		t.Fatal(err)
	}
	if !r.cs.ECHAccepted {
		t.Fatal("ECH not accepted over HTTP/3")
	}
	if names := r.cs.PeerCertificates[0].DNSNames; !slices.Equal(names, []string{"api.example.test"}) {
		t.Errorf("certificate for %v, want the inner site's", names)
	}
	if r.status != 200 || !strings.Contains(r.body, "backend=api") {
		t.Errorf("got %d %q, want the api site's upstream", r.status, r.body)
	}
	// Client auth of the inner site holds over ECH and QUIC.
	r, err = f.h3Get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "api.example.test", "/secure/x")
	if err != nil {
		t.Fatal(err)
	}
	if !r.cs.ECHAccepted || r.status != http.StatusForbidden {
		t.Errorf("no client certificate over ECH+HTTP/3: accepted %v, %d %q; want 403", r.cs.ECHAccepted, r.status, r.body)
	}
	with := &tls.Config{EncryptedClientHelloConfigList: list, Certificates: []tls.Certificate{*f.client}}
	if r, err = f.h3Get(t, with, "api.example.test", "api.example.test", "/secure/x"); err != nil || r.status != 200 {
		t.Errorf("client certificate over ECH+HTTP/3: %v %+v", err, r)
	}
	// An ECH connection to the public name cannot be used for the api
	// site (its :authority is refused).
	if r, err = f.h3Get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "public.example.test", "api.example.test", "/secure/x"); err != nil || r.status != http.StatusMisdirectedRequest {
		t.Errorf("public-name connection asking for the api site: %v %+v; want 421", err, r)
	}
	// A config the gateway does not hold is refused with the current one,
	// which then works (the public site's config answers the outer hello).
	_, err = f.h3Get(t, &tls.Config{EncryptedClientHelloConfigList: staleECHList(t)}, "api.example.test", "api.example.test", "/")
	var rej *tls.ECHRejectionError
	if !errors.As(err, &rej) || string(rej.RetryConfigList) != string(list) {
		t.Fatalf("stale config over HTTP/3: %v; want a rejection with the current config", err)
	}
}

// staleECHList is an ECH config of a key the gateway never held.
func staleECHList(t *testing.T) []byte {
	t.Helper()
	r, _, err := ech.Ring{}.Update(ech.Settings{PublicName: "public.example.test", Rotate: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r.PublishedList()
}

// TestReviewHTTP3RequestHeadTimeout: a request stream whose HEADERS
// frame never completes is reset after timeouts.read_header, as an
// HTTP/1.1 request head is on TCP, while the client keeps its QUIC
// connection alive. Before the fix nothing bounded it: each such stream
// held a goroutine and a header buffer (up to 8 KiB at once, up to
// limits.max_header_bytes as bytes trickle in) for as long as the
// client sent a packet now and then, h3MaxStreams of them per
// connection.
func TestReviewHTTP3RequestHeadTimeout(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	yaml := strings.Replace(oneSite(p, "intermediate", backend(t, "A"), ""), "read_header: 2s", "read_header: 1s, idle: 60s", 1)
	g := startGateway(t, yaml)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, g.udp(t),
		&tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), NextProtos: []string{"h3"}},
		&quic.Config{KeepAlivePeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	const streams = 4
	strs := make([]*quic.Stream, streams)
	for i := range strs {
		str, err := conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A HEADERS frame (type 0x01) announcing 1000 bytes, then 3.
		if _, err := str.Write([]byte{0x01, 0x43, 0xe8, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		strs[i] = str
	}
	start := time.Now()
	for i, str := range strs {
		str.SetReadDeadline(start.Add(8 * time.Second))
		_, err := str.Read(make([]byte, 1))
		var serr *quic.StreamError
		if !errors.As(err, &serr) {
			t.Fatalf("stream %d with an unfinished request head: read %v after %v; want it reset by the gateway after timeouts.read_header (1s)", i, err, time.Since(start).Round(time.Millisecond))
		}
	}
	t.Logf("%d unfinished request heads reset after %v", streams, time.Since(start).Round(time.Millisecond))
	// The connection itself still serves a complete request.
	if conn.Context().Err() != nil {
		t.Fatal("the connection was closed; only the streams should be")
	}
	// Control: a request whose head arrives in time is served on a fresh
	// connection (slow streams do not break the listener).
	resp, err := h3Client(t, g.udp(t), p.ca.Pool(), nil, nil).Get("https://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("control request: %d", resp.StatusCode)
	}
}

// TestReviewHTTP3SlowBodyAfterHead: the request-head deadline ends with
// the head: an upload that makes progress may take longer than
// timeouts.read_header (the body has timeouts.body_read per read).
func TestReviewHTTP3SlowBodyAfterHead(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	got := make(chan int, 1)
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- len(b)
	}))
	yaml := strings.Replace(oneSite(p, "intermediate", up, ""), "read_header: 2s", "read_header: 1s", 1)
	g := startGateway(t, yaml)
	pr, pw := io.Pipe()
	go func() {
		for range 5 {
			time.Sleep(500 * time.Millisecond)
			if _, err := pw.Write(make([]byte, 1000)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "https://localhost/upload", pr)
	resp, err := h3Client(t, g.udp(t), p.ca.Pool(), nil, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a 2.5s upload with read_header 1s: %d", resp.StatusCode)
	}
	select {
	case n := <-got:
		if n != 5000 {
			t.Errorf("the upstream got %d bytes, want 5000", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream got no body")
	}
}

// TestReviewHTTP3ShutdownRefusesNewRequests: during a graceful shutdown
// a request in flight on a connection finishes, a new request on the same
// connection is refused with H3_REQUEST_REJECTED (safe for the client to
// retry elsewhere: nothing was processed) and never reaches the
// upstream, and the connection is closed afterwards.
func TestReviewHTTP3ShutdownRefusesNewRequests(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	var reached atomic.Int32
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.URL.Path == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
	}))
	g := startGateway(t, oneSite(p, "intermediate", up, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, g.udp(t), &tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), NextProtos: []string{"h3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	cc := (&http3.Transport{}).NewClientConn(conn)
	do := func(path string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://localhost"+path, nil)
		return cc.RoundTrip(req)
	}
	slow := make(chan error, 1)
	go func() {
		resp, err := do("/slow")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		slow <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for reached.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the upstream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()
	time.Sleep(300 * time.Millisecond) // the shutdown has begun
	resp, err := do("/new")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a new request during shutdown was answered %d", resp.StatusCode)
	}
	var serr *http3.Error
	if !errors.As(err, &serr) || serr.ErrorCode != http3.ErrCodeRequestRejected {
		t.Errorf("new request during shutdown: %v, want H3_REQUEST_REJECTED", err)
	}
	if err := <-slow; err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	if n := reached.Load(); n != 1 {
		t.Errorf("the upstream got %d requests, want only the one in flight", n)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Context().Done():
	case <-time.After(5 * time.Second):
		t.Error("the connection was still open 5s after the shutdown")
	}
}

// TestReviewHTTP3IdentityHeadersUnforgeable: client copies of the
// identity headers sent over HTTP/3
// never reach the upstream, as over TCP (TestIdentityHeadersExactAndUnforgeable).
func TestReviewHTTP3IdentityHeadersUnforgeable(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t)
	forged := http.Header{
		"X-Client-Verify":  {"SUCCESS"},
		"X-Client-Dn":      {"CN=admin"},
		"X-Client-Cert":    {"forged"},
		"X_client_verify":  {"SUCCESS"},
		"X-Client-San-Uri": {"spiffe://example.org/admin"},
	}
	udp := f.g.udp(t)
	roots := f.front.ca.Pool()
	for _, path := range []string{"/public/x", "/opt/x"} {
		_, got, _ := getIdentity(t, h3Client(t, udp, roots, nil, nil), path, forged)
		if len(got) != 1 || strings.Join(got["X-Client-Verify"], "|") != "NONE" {
			t.Errorf("%s over HTTP/3 without a certificate: backend got %v, want only X-Client-Verify: NONE", path, got)
		}
		_, got, _ = getIdentity(t, h3Client(t, udp, roots, f.payments, nil), path, forged)
		if strings.Join(got["X-Client-Verify"], "|") != "SUCCESS" || strings.Join(got["X-Client-Dn"], "|") != "CN=payments" || strings.Join(got["X-Client-Cert"], "|") == "forged" {
			t.Errorf("%s over HTTP/3 with a certificate: backend got %v", path, got)
		}
	}
}

// TestReviewHTTP3SiteRemovedOnReload: after a reload drops a site, new
// QUIC handshakes for its name fail and a QUIC connection made before the
// reload gets 421 for it, never the upstream, as on TCP.
func TestReviewHTTP3SiteRemovedOnReload(t *testing.T) {
	t.Parallel()
	pa, pb := newPKI(t, "a.test"), newPKI(t, "b.test")
	site := func(p *pki, host, name string) string {
		return fmt.Sprintf("  - hosts: [%s]\n    tls: {certificate: {cert: %s, key: %s}}\n    routes: [{path: /, upstreams: [%s]}]\n", host, p.certFile, p.keyFile, backend(t, name))
	}
	head := "listen: {https: \"127.0.0.1:0\", http: off}\nsites:\n"
	a, b := site(pa, "a.test", "A"), site(pb, "b.test", "B")
	g := startGateway(t, head+a+b)
	udp := g.udp(t)
	kept := h3Client(t, udp, pb.ca.Pool(), nil, nil)
	get := func(c *http.Client) (int, string, error) {
		resp, err := c.Get("https://b.test/")
		if err != nil {
			return 0, "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body), nil
	}
	if code, body, err := get(kept); err != nil || code != 200 || !strings.Contains(body, "backend=B") {
		t.Fatalf("before the reload: %d %q %v", code, body, err)
	}
	writeRename(t, g.configPath, []byte(head+a), 0o600)
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if code, body, err := get(kept); err == nil && (code != http.StatusMisdirectedRequest || strings.Contains(body, "backend=B")) {
		t.Errorf("the removed site on a QUIC connection made before the reload: %d %q, want 421", code, body)
	}
	if _, _, err := get(h3Client(t, udp, pb.ca.Pool(), nil, nil)); err == nil {
		t.Error("a new QUIC handshake for the removed site succeeded")
	}
}
