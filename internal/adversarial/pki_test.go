package adversarial

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// writeCRL writes a CRL signed by ca revoking serials and returns its path.
func writeCRL(t *testing.T, dir, name string, ca *pkitest.CA, serials ...*big.Int) string {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// chainLeaf issues a client leaf under ca and appends ca's certificate, as
// a client holding an intermediate sends it.
func chainLeaf(t *testing.T, ca *pkitest.CA, name string) *tls.Certificate {
	t.Helper()
	c := ca.Issue(t, pkitest.Leaf{Names: []string{name}, Client: true})
	c.Certificate = append(c.Certificate, ca.Cert.Raw)
	return c
}

// identityOf asks path as cert (nil: none) and returns the status and the
// X-Client-Verify the upstream got for it ("" when nothing reached it).
func identityOf(t *testing.T, e *env, g *gateway, rec *recorder, cert *tls.Certificate, path string) (int, string) {
	t.Helper()
	conn := e.pki.rawH1(t, g, "a.test", cert)
	conn.send(t, "GET "+path+" HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
	resp, _, err := conn.response(t, "GET")
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	verify := ""
	for _, s := range rec.all() {
		if s.RequestURI == path {
			verify = s.Header.Get("X-Client-Verify")
		}
	}
	return resp.StatusCode, verify
}

func crlIntermediate(t *testing.T, e *env) {
	dir := t.TempDir()
	root := pkitest.NewCA(t, "adv CRL root")
	bad, good := root.Intermediate(t, "adv revoked intermediate"), root.Intermediate(t, "adv good intermediate")
	rootFile := writeFile(t, dir, "root.pem", root.PEM)
	crl := writeCRL(t, dir, "root.crl", root, bad.Cert.SerialNumber)
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.site("a.test", fmt.Sprintf("client_auth: {ca: [%q], crl: [%q]}", rootFile, crl),
		fmt.Sprintf("{path: /public/, upstreams: [%s]}", rec.URL),
		fmt.Sprintf("{path: /internal/, upstreams: [%s], client_auth: require}", rec.URL))))
	if code, v := identityOf(t, e, g, rec, chainLeaf(t, good, "carol"), "/internal/good"); code != 200 || v != "SUCCESS" {
		t.Fatalf("a leaf under the unrevoked intermediate: %d %q, want 200 SUCCESS (the fixture is wrong)", code, v)
	}
	leaf := chainLeaf(t, bad, "mallory")
	if code, v := identityOf(t, e, g, rec, leaf, "/internal/revoked"); code != 403 {
		t.Errorf("REVOKED ACCEPTED: a leaf under the revoked intermediate on a require route: %d (upstream saw X-Client-Verify %q), want 403", code, v)
	}
	if code, v := identityOf(t, e, g, rec, leaf, "/public/revoked"); code != 200 || v != "FAILED:revoked" {
		t.Errorf("a leaf under the revoked intermediate on a none route: %d, upstream saw X-Client-Verify %q, want FAILED:revoked", code, v)
	}
}

func crlByIntermediate(t *testing.T, e *env) {
	dir := t.TempDir()
	root := pkitest.NewCA(t, "adv CRL root 2")
	inter := root.Intermediate(t, "adv intermediate 2")
	ok, revoked := chainLeaf(t, inter, "dave"), chainLeaf(t, inter, "eve")
	rootFile := writeFile(t, dir, "root.pem", root.PEM)
	crl := writeCRL(t, dir, "inter.crl", inter, revoked.Leaf.SerialNumber)
	rec := newRecorder(t)
	yaml := gwConfig("", e.pki.site("a.test", fmt.Sprintf("client_auth: {ca: [%q], crl: [%q]}", rootFile, crl),
		fmt.Sprintf("{path: /public/, upstreams: [%s]}", rec.URL),
		fmt.Sprintf("{path: /internal/, upstreams: [%s], client_auth: require}", rec.URL)))
	if _, _, _, err := loadGateway(t, yaml); err != nil {
		t.Fatalf("a CRL signed by an intermediate of the trusted root is refused: %v", err)
	}
	g := startGateway(t, yaml)
	if code, v := identityOf(t, e, g, rec, ok, "/internal/ok"); code != 200 || v != "SUCCESS" {
		t.Errorf("an unrevoked leaf: %d %q, want 200 SUCCESS", code, v)
	}
	if code, v := identityOf(t, e, g, rec, revoked, "/internal/revoked"); code != 403 {
		t.Errorf("REVOKED ACCEPTED: a leaf the intermediate's CRL revokes, on a require route: %d (upstream saw %q), want 403", code, v)
	}
	if code, v := identityOf(t, e, g, rec, revoked, "/public/revoked"); v != "FAILED:revoked" {
		t.Errorf("a leaf the intermediate's CRL revokes, on a none route: %d, upstream saw X-Client-Verify %q, want FAILED:revoked", code, v)
	}
}

// handshake connects to sni with conf, asks path, and reports whether the
// TLS session resumed and the status.
func handshake(t *testing.T, g *gateway, conf *tls.Config, sni, path string) (resumed bool, status int) {
	t.Helper()
	conf = conf.Clone()
	conf.ServerName = sni
	conf.NextProtos = []string{"http/1.1"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", g.addr, conf)
	if err != nil {
		return false, 0 // a refused handshake resumes nothing
	}
	defer c.Close()
	rc := &rawConn{Conn: c}
	rc.br = bufio.NewReader(c)
	rc.send(t, "GET "+path+" HTTP/1.1\r\nHost: "+sni+"\r\nConnection: close\r\n\r\n")
	resp, _, err := rc.response(t, "GET")
	if err != nil {
		return c.ConnectionState().DidResume, 0
	}
	rc.more(50 * time.Millisecond) // read on, so a late ticket is stored
	return c.ConnectionState().DidResume, resp.StatusCode
}

func resumptionCASwap(t *testing.T, e *env) {
	dir := t.TempDir()
	ca1, ca2 := pkitest.NewCA(t, "adv swapped CA"), pkitest.NewCA(t, "adv swapped CA")
	f1, f2 := writeFile(t, dir, "ca1.pem", ca1.PEM), writeFile(t, dir, "ca2.pem", ca2.PEM)
	rec := newRecorder(t)
	siteWith := func(caFile string) string {
		return gwConfig("", e.pki.site("a.test", "client_auth: {ca: ["+q(caFile)+"]}",
			fmt.Sprintf("{path: /internal/, upstreams: [%s], client_auth: require}", rec.URL)))
	}
	g := startGateway(t, siteWith(f1))
	leaf := ca1.Issue(t, pkitest.Leaf{Names: []string{"frank"}, Client: true})
	var confs []*tls.Config
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		conf := e.pki.tls("a.test", leaf)
		conf.MaxVersion = v
		conf.ClientSessionCache = tls.NewLRUClientSessionCache(8)
		if _, code := handshake(t, g, conf, "a.test", "/internal/1"); code != 200 {
			t.Fatalf("CA1 client before the swap (%s): %d, want 200", tls.VersionName(v), code)
		}
		if resumed, code := handshake(t, g, conf, "a.test", "/internal/2"); !resumed || code != 200 {
			t.Logf("%s: no resumption before the swap (resumed %v, %d): the rest holds trivially", tls.VersionName(v), resumed, code)
		}
		confs = append(confs, conf)
	}
	if err := g.reload(t, siteWith(f2)); err != nil {
		t.Fatalf("reload to CA2: %v", err)
	}
	for _, conf := range confs {
		resumed, code := handshake(t, g, conf, "a.test", "/internal/3")
		if resumed {
			t.Errorf("RESUMED (%s): a session from CA1's trust resumed after the swap to CA2 (same name, other key); /internal/3 answered %d", tls.VersionName(conf.MaxVersion), code)
		}
		if code == 200 {
			t.Errorf("ADMITTED (%s): a CA1 certificate got /internal/ after the swap to CA2", tls.VersionName(conf.MaxVersion))
		}
	}
	for _, s := range rec.all() {
		if s.RequestURI == "/internal/3" {
			t.Errorf("the upstream got /internal/3 with X-Client-Verify %q, after the CA that issued the certificate was removed", s.Header.Get("X-Client-Verify"))
		}
	}
}

// stickyCache offers the first session it is given to every server.
type stickyCache struct {
	mu sync.Mutex
	s  *tls.ClientSessionState
}

func (c *stickyCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s, c.s != nil
}

func (c *stickyCache) Put(_ string, s *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s == nil && s != nil {
		c.s = s
	}
}

func resumptionAcrossSites(t *testing.T, e *env) {
	dir := t.TempDir()
	other := pkitest.NewCA(t, "adv other client CA")
	otherFile := writeFile(t, dir, "other.pem", other.PEM)
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("",
		e.pki.site("a.test", "", fmt.Sprintf("{path: /, upstreams: [%s]}", rec.URL)),
		e.pki.publicInternal("b.test", rec.URL),
		e.pki.site("c.test", "client_auth: {ca: ["+q(otherFile)+"]}", fmt.Sprintf("{path: /internal/, upstreams: [%s], client_auth: require}", rec.URL)),
	))
	cases := []struct{ from, to, path string }{
		{"a.test", "b.test", "/internal/from-a"},
		{"b.test", "c.test", "/internal/from-b"},
		{"c.test", "b.test", "/internal/from-c"},
		{"b.test", "a.test", "/from-b"},
	}
	for _, c := range cases {
		for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			t.Run(c.from+" to "+c.to+" "+tls.VersionName(v), func(t *testing.T) {
				conf := e.pki.tls("", e.pki.client)
				conf.MaxVersion = v
				conf.ClientSessionCache = &stickyCache{}
				handshake(t, g, conf, c.from, "/")
				resumed, code := handshake(t, g, conf, c.to, c.path)
				if resumed {
					t.Errorf("RESUMED: a ticket from %s resumed on %s (%s answered %d)", c.from, c.to, c.path, code)
				}
			})
		}
	}
	for _, s := range rec.all() {
		// c.test does not trust the client CA: nothing may reach its
		// upstream as verified.
		if s.RequestURI == "/internal/from-b" && s.Header.Get("X-Client-Verify") == "SUCCESS" {
			t.Errorf("the upstream got %s as SUCCESS on a site whose CA did not issue the certificate", s.RequestURI)
		}
	}
}

func badCAStart(t *testing.T, e *env) {
	dir := t.TempDir()
	keyPEM := func() []byte { _, k := pkitest.EncodePEM(t, e.pki.client); return k }()
	bad := map[string]string{
		"garbage":     writeFile(t, dir, "garbage.pem", []byte("not a certificate\n")),
		"empty":       writeFile(t, dir, "empty.pem", nil),
		"private key": writeFile(t, dir, "key.pem", keyPEM),
		"truncated":   writeFile(t, dir, "trunc.pem", e.pki.clientCA.PEM[:len(e.pki.clientCA.PEM)/2]),
		"missing":     filepath.Join(dir, "missing.pem"),
		"directory":   dir,
	}
	for name, file := range bad {
		t.Run("ca "+name, func(t *testing.T) {
			yaml := gwConfig("", e.pki.site("a.test", "client_auth: {ca: ["+q(file)+"]}", "{path: /internal/, upstreams: [http://127.0.0.1:9], client_auth: require}"))
			if _, _, _, err := loadGateway(t, yaml); err == nil {
				t.Errorf("a gateway was built with client_auth.ca = %s CA file", name)
			}
		})
	}
	t.Run("crl garbage", func(t *testing.T) {
		yaml := gwConfig("", e.pki.site("a.test", "client_auth: {ca: ["+q(e.pki.clientCAFile)+"], crl: ["+q(bad["garbage"])+"]}",
			"{path: /internal/, upstreams: [http://127.0.0.1:9], client_auth: require}"))
		if _, _, _, err := loadGateway(t, yaml); err == nil {
			t.Errorf("a gateway was built with an unparsable CRL")
		}
	})
}

func badCAReload(t *testing.T, e *env) {
	dir := t.TempDir()
	caFile := writeFile(t, dir, "ca.pem", e.pki.clientCA.PEM)
	rec := newRecorder(t)
	good := gwConfig("", e.pki.site("a.test", "client_auth: {ca: ["+q(caFile)+"]}",
		fmt.Sprintf("{path: /public/, upstreams: [%s]}", rec.URL),
		fmt.Sprintf("{path: /internal/, upstreams: [%s], client_auth: require}", rec.URL)))
	g := startGateway(t, good)
	enforced := func(when string) {
		t.Helper()
		slug := strings.ReplaceAll(when, " ", "-")
		if code, _ := identityOf(t, e, g, rec, nil, "/internal/nocert-"+slug); code != 403 {
			t.Errorf("after %s: no certificate on a require route: %d, want 403 (the old policy)", when, code)
		}
		if code, v := identityOf(t, e, g, rec, e.pki.client, "/internal/cert-"+slug); code != 200 || v != "SUCCESS" {
			t.Errorf("after %s: a valid certificate: %d %q, want 200 SUCCESS (the old trust)", when, code, v)
		}
	}
	enforced("start")
	garbage := writeFile(t, dir, "garbage.pem", []byte("garbage\n"))
	if err := g.reload(t, strings.ReplaceAll(good, q(caFile), q(garbage))); err == nil {
		t.Errorf("a reload to an unparsable CA file was accepted")
	}
	enforced("a reload to a garbage CA")
	if err := g.reload(t, strings.ReplaceAll(good, q(caFile), q(filepath.Join(dir, "missing.pem")))); err == nil {
		t.Errorf("a reload to a missing CA file was accepted")
	}
	enforced("a reload to a missing CA")
	// The same path, its content broken, then reloaded.
	os.WriteFile(caFile, []byte("garbage\n"), 0o644)
	if err := g.reload(t, good); err == nil {
		t.Errorf("a reload with the CA file's content broken was accepted")
	}
	enforced("a reload with the CA file broken in place")
	// The whole client_auth dropped by mistake is a legitimate config;
	// out of scope here.
}

func revocationAfterResumption(t *testing.T, e *env) {
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "adv revoking CA")
	caFile := writeFile(t, dir, "ca.pem", ca.PEM)
	crl := writeCRL(t, dir, "ca.crl", ca)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"grace"}, Client: true})
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.site("a.test", fmt.Sprintf("client_auth: {ca: [%q], crl: [%q]}", caFile, crl),
		fmt.Sprintf("{path: /internal/, upstreams: [%s], client_auth: require}", rec.URL))))
	conf := e.pki.tls("a.test", leaf)
	conf.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	if _, code := handshake(t, g, conf, "a.test", "/internal/before"); code != 200 {
		t.Fatalf("before revocation: %d, want 200", code)
	}
	// Revoke, and wait until a fresh handshake sees it.
	tmp := writeCRL(t, dir, "ca.crl.new", ca, leaf.Leaf.SerialNumber)
	if err := os.Rename(tmp, crl); err != nil {
		t.Fatal(err)
	}
	fresh := e.pki.tls("a.test", leaf)
	if !waitFor(5*time.Second, func() bool { _, code := handshake(t, g, fresh, "a.test", "/internal/probe"); return code == 403 }) {
		t.Fatalf("the new CRL was not applied within 5s")
	}
	resumed, code := handshake(t, g, conf, "a.test", "/internal/after")
	if code != 403 {
		t.Errorf("REVOKED ACCEPTED: a session from before the revocation (resumed %v) got /internal/: %d", resumed, code)
	}
	for _, s := range rec.all() {
		if s.RequestURI == "/internal/after" {
			t.Errorf("the upstream got %s from a revoked certificate (X-Client-Verify %q)", s.RequestURI, s.Header.Get("X-Client-Verify"))
		}
	}
}
