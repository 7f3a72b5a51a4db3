package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/ech"
	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// echFixture is a gateway with ECH under public.example.test and two
// sites: the public name's own, and api.example.test, whose /secure/
// route requires a client certificate.
type echFixture struct {
	g       *gateway
	ca      *pkitest.CA
	clients *pkitest.CA
	client  *tls.Certificate
}

func newECHFixture(t *testing.T, echYAML string) *echFixture {
	t.Helper()
	dir := t.TempDir()
	f := &echFixture{ca: pkitest.NewCA(t, "ech test CA"), clients: pkitest.NewCA(t, "ech clients CA")}
	pubCert, pubKey := pkitest.WriteFiles(t, dir, "public", f.ca.Issue(t, pkitest.Leaf{Names: []string{"public.example.test"}}))
	apiCert, apiKey := pkitest.WriteFiles(t, dir, "api", f.ca.Issue(t, pkitest.Leaf{Names: []string{"api.example.test"}}))
	clientsCA := f.clients.WriteRoot(t, dir)
	f.client = f.clients.Issue(t, pkitest.Leaf{Names: []string{"payments"}, Client: true})
	f.g = startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
%s
sites:
  - hosts: [public.example.test]
    tls: {certificate: {cert: %s, key: %s}}
    routes:
      - {path: /, upstreams: [%s]}
  - hosts: [api.example.test]
    tls: {certificate: {cert: %s, key: %s}}
    client_auth: {ca: [%s]}
    routes:
      - {path: /, upstreams: [%s]}
      - {path: /secure/, upstreams: [%[8]s], client_auth: require}
`, echYAML, pubCert, pubKey, backend(t, "public"), apiCert, apiKey, clientsCA, backend(t, "api")))
	return f
}

// recordingConn keeps what the client wrote: the outer ClientHello.
type recordingConn struct {
	net.Conn
	mu    sync.Mutex
	wrote bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.wrote.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

type echResult struct {
	status int
	body   string
	cs     tls.ConnectionState
	wrote  []byte // the client's bytes on the wire
}

// echGet makes one HTTP/1.1 request to the gateway for https://host/path
// with cfg (ServerName and RootCAs are filled in).
func (f *echFixture) get(t *testing.T, cfg *tls.Config, host, path string) (*echResult, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", f.g.https, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rc := &recordingConn{Conn: raw}
	defer rc.Close()
	rc.SetDeadline(time.Now().Add(10 * time.Second))
	cfg = cfg.Clone()
	cfg.ServerName, cfg.RootCAs, cfg.NextProtos = host, f.ca.Pool(), []string{"http/1.1"}
	c := tls.Client(rc, cfg)
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return &echResult{status: resp.StatusCode, body: string(body), cs: c.ConnectionState(), wrote: bytes.Clone(rc.wrote.Bytes())}, nil
}

// TestECHAccepted: Go's ECH client, given the config the gateway
// publishes, has its hello accepted; on the wire its outer hello names
// only the public name, while the inner name chose the site: its
// certificate and its upstream answer.
func TestECHAccepted(t *testing.T) {
	f := newECHFixture(t, `ech: {public_name: public.example.test}`)
	list := f.g.srv.ECHConfigList()
	if len(list) == 0 {
		t.Fatal("no ECH config list")
	}
	r, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "/")
	if err != nil {
		t.Fatal(err)
	}
	if !r.cs.ECHAccepted || r.cs.Version != tls.VersionTLS13 {
		t.Fatalf("ECHAccepted %v, version %x", r.cs.ECHAccepted, r.cs.Version)
	}
	if names := r.cs.PeerCertificates[0].DNSNames; !slices.Equal(names, []string{"api.example.test"}) {
		t.Errorf("certificate for %v, want the inner site's (api.example.test)", names)
	}
	if r.status != 200 || !strings.Contains(r.body, "backend=api") {
		t.Errorf("got %d %q, want the api site's upstream", r.status, r.body)
	}
	if !bytes.Contains(r.wrote, []byte("public.example.test")) || bytes.Contains(r.wrote, []byte("api.example.test")) {
		t.Errorf("the wire shows the inner name or not the public name (public: %v, api: %v)",
			bytes.Contains(r.wrote, []byte("public.example.test")), bytes.Contains(r.wrote, []byte("api.example.test")))
	}
	// Control: without ECH, the name is on the wire and ECH not used.
	r, err = f.get(t, &tls.Config{}, "api.example.test", "/")
	if err != nil {
		t.Fatal(err)
	}
	if r.cs.ECHAccepted || !bytes.Contains(r.wrote, []byte("api.example.test")) {
		t.Errorf("plain client: ECHAccepted %v, name on the wire %v", r.cs.ECHAccepted, bytes.Contains(r.wrote, []byte("api.example.test")))
	}
}

// TestECHStaleConfig: a client holding a config of another key is
// answered under the public name with the current config, and succeeds
// with it; after a rotation the previous config keeps working for the
// grace period and is refused (with the retry configs) after it.
func TestECHStaleConfig(t *testing.T) {
	f := newECHFixture(t, `ech: {public_name: public.example.test, grace: 2s}`)
	foreign, _, err := ech.Ring{}.Update(ech.Settings{PublicName: "public.example.test", Rotate: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	retryWith := func(list []byte) []byte {
		t.Helper()
		_, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "/")
		var rej *tls.ECHRejectionError
		if !errors.As(err, &rej) || len(rej.RetryConfigList) == 0 {
			t.Fatalf("stale config: got %v, want an ECHRejectionError with retry configs", err)
		}
		r, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: rej.RetryConfigList}, "api.example.test", "/")
		if err != nil || !r.cs.ECHAccepted || !strings.Contains(r.body, "backend=api") {
			t.Fatalf("retry with the server's configs: %v", err)
		}
		return rej.RetryConfigList
	}
	if got := retryWith(foreign.PublishedList()); !bytes.Equal(got, f.g.srv.ECHConfigList()) {
		t.Error("the retry configs are not the published config")
	}

	old := f.g.srv.ECHConfigList()
	if err := f.g.srv.RotateECH(context.Background()); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(old, f.g.srv.ECHConfigList()) {
		t.Fatal("rotation kept the config")
	}
	if r, err := f.get(t, &tls.Config{EncryptedClientHelloConfigList: old}, "api.example.test", "/"); err != nil || !r.cs.ECHAccepted {
		t.Fatalf("previous config within grace: %v", err)
	}
	// Past the grace period (2s) the old key is dropped.
	waitOneECHKey(t, f.g, 15*time.Second, "the previous key was still live 15s after a 2s grace period")
	if got := retryWith(old); !bytes.Equal(got, f.g.srv.ECHConfigList()) {
		t.Error("the retry configs are not the current config")
	}
}

// TestECHWithClientAuth: a route requiring a client certificate on the
// inner site works over ECH with one and refuses without.
func TestECHWithClientAuth(t *testing.T) {
	f := newECHFixture(t, `ech: {public_name: public.example.test}`)
	list := f.g.srv.ECHConfigList()
	with := &tls.Config{EncryptedClientHelloConfigList: list, Certificates: []tls.Certificate{*f.client}}
	r, err := f.get(t, with, "api.example.test", "/secure/x")
	if err != nil {
		t.Fatal(err)
	}
	if !r.cs.ECHAccepted || r.status != 200 || !strings.Contains(r.body, "backend=api") {
		t.Errorf("with a client certificate over ECH: accepted %v, %d %q", r.cs.ECHAccepted, r.status, r.body)
	}
	r, err = f.get(t, &tls.Config{EncryptedClientHelloConfigList: list}, "api.example.test", "/secure/x")
	if err != nil {
		t.Fatal(err)
	}
	if !r.cs.ECHAccepted || r.status != http.StatusForbidden && r.status != http.StatusUnauthorized {
		t.Errorf("without a client certificate over ECH: accepted %v, %d %q; want a refusal", r.cs.ECHAccepted, r.status, r.body)
	}
}

// TestECHResumptionStaysOnItsSite: a session made with the public site
// (no client CAs) is not resumed for the api site over ECH, where the
// inner hello carries it: tickets are keyed per site and client-auth
// policy (tlspolicy.TicketKeys), ECH or not. The same site resumes.
func TestECHResumptionStaysOnItsSite(t *testing.T) {
	f := newECHFixture(t, `ech: {public_name: public.example.test}`)
	list := f.g.srv.ECHConfigList()
	cache := tls.NewLRUClientSessionCache(8)
	// Go's client caches by server name: hand the api name the public
	// site's session.
	shared := &aliasCache{ClientSessionCache: cache, alias: map[string]string{"api.example.test": "public.example.test"}}
	cfg := &tls.Config{EncryptedClientHelloConfigList: list, ClientSessionCache: shared}
	for i := range 2 {
		r, err := f.get(t, cfg, "public.example.test", "/")
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 && !r.cs.DidResume {
			t.Fatal("control: the public site did not resume its own session")
		}
	}
	r, err := f.get(t, cfg, "api.example.test", "/secure/x")
	if err != nil {
		t.Fatal(err)
	}
	if !r.cs.ECHAccepted {
		t.Fatal("ECH not accepted")
	}
	if r.cs.DidResume || r.status == 200 {
		t.Errorf("the public site's session resumed on the api site over ECH (resumed %v, status %d)", r.cs.DidResume, r.status)
	}
}

// aliasCache answers Get for one name with another name's session.
type aliasCache struct {
	tls.ClientSessionCache
	alias map[string]string
}

func (a *aliasCache) Get(key string) (*tls.ClientSessionState, bool) {
	if to, ok := a.alias[key]; ok {
		return a.ClientSessionCache.Get(to)
	}
	return a.ClientSessionCache.Get(key)
}

// TestECHOffWithoutPublicName: sites with only single-label names or
// addresses leave ECH off; ech.enabled: false turns it off.
func TestECHOffWithoutPublicName(t *testing.T) {
	p := newPKI(t, "localhost")
	g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{path: /, upstreams: [%s]}]
`, p.certFile, p.keyFile, backend(t, "a")))
	if l := g.srv.ECHConfigList(); l != nil {
		t.Error("ECH on without a usable public name")
	}
	f := newECHFixture(t, `ech: {enabled: false}`)
	if l := f.g.srv.ECHConfigList(); l != nil {
		t.Error("ECH on with enabled: false")
	}
}
