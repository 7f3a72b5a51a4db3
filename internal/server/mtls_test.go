package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// identityEcho is an upstream that answers with the identity headers it
// received, as JSON.
func identityEcho(t *testing.T) string {
	return newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := map[string][]string{}
		for k, v := range r.Header {
			if strings.HasPrefix(k, "X-Client") {
				got[k] = v
			}
		}
		json.NewEncoder(w).Encode(got)
	}))
}

// writeCRL writes a CRL signed by ca listing serials.
func writeCRL(t *testing.T, path string, ca *pkitest.CA, number int64, serials ...*big.Int) {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	writeRename(t, path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644)
}

type mtlsFixture struct {
	g        *gateway
	front    *pki
	ca       *pkitest.CA
	caFile   string
	crlFile  string
	payments *tls.Certificate // CN=payments, spiffe://example.org/payments, payments.internal
	billing  *tls.Certificate // CN=billing
}

func newMTLSFixture(t *testing.T) *mtlsFixture {
	t.Helper()
	dir := t.TempDir()
	f := &mtlsFixture{front: newPKI(t, "localhost"), ca: pkitest.NewCA(t, "clients CA")}
	f.caFile = f.ca.WriteRoot(t, dir)
	f.crlFile = filepath.Join(dir, "clients.crl")
	writeCRL(t, f.crlFile, f.ca, 1)
	f.payments = reissueWith(t, f.ca, "payments", []string{"payments.internal"}, "spiffe://example.org/payments", time.Time{})
	f.billing = reissueWith(t, f.ca, "billing", nil, "", time.Time{})
	up := identityEcho(t)
	f.g = startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    client_auth: {ca: [%s], crl: [%s]}
    routes:
      - {path: /public/, upstreams: [%[5]s]}
      - {path: /internal/, upstreams: [%[5]s], client_auth: require}
      - {path: /opt/, upstreams: [%[5]s], client_auth: optional}
      - {path: /spiffe/, upstreams: [%[5]s], client_auth: require, allow: {uris: ["spiffe://example.org/*"]}}
      - {path: /dn/, upstreams: [%[5]s], client_auth: require, allow: {subjects: ["CN=billing"]}}
`, f.front.certFile, f.front.keyFile, f.caFile, f.crlFile, up))
	return f
}

// reissueWith issues a client certificate with a CN, DNS SANs and a URI SAN.
func reissueWith(t *testing.T, ca *pkitest.CA, cn string, dns []string, uri string, notAfter time.Time) *tls.Certificate {
	t.Helper()
	c := ca.Issue(t, pkitest.Leaf{Names: append([]string{cn}, dns...), Client: true, NotAfter: notAfter})
	if uri == "" && len(dns) == 0 {
		return c
	}
	// pkitest puts every name in the DNS SANs; rebuild with the URI.
	tmpl := *c.Leaf
	tmpl.DNSNames = dns
	u, _ := url.Parse(uri)
	if uri != "" {
		tmpl.URIs = []*url.URL{u}
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Cert, c.Leaf.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: c.PrivateKey, Leaf: leaf}
}

// clientWith returns a keep-alive HTTP/1.1 client presenting cert (nil: none).
func (f *mtlsFixture) clientWith(cert *tls.Certificate) *http.Client {
	c := f.front.client(f.g.https, false)
	if cert != nil {
		// Present cert whatever CAs the server names, as a misconfigured
		// client would (Go's client otherwise withholds a certificate whose
		// issuer the server did not ask for).
		c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return cert, nil
		}
	}
	return c
}

func getIdentity(t *testing.T, c *http.Client, path string, hdr http.Header) (int, map[string][]string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://localhost"+path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var got map[string][]string
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: backend answer %q: %v", path, body, err)
		}
	}
	return resp.StatusCode, got, string(body)
}

func TestClientAuthPerRoute(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t)
	other := pkitest.NewCA(t, "other CA")
	foreign := other.Issue(t, pkitest.Leaf{Names: []string{"payments"}, Client: true})
	expired := reissueWith(t, f.ca, "old", nil, "", time.Now().Add(-time.Minute))

	cases := []struct {
		name   string
		cert   *tls.Certificate
		path   string
		status int
		verify string // X-Client-Verify the backend saw (200 only)
		body   string // part of the 403 body
	}{
		{"no cert, public", nil, "/public/x", 200, "NONE", ""},
		{"no cert, required", nil, "/internal/x", 403, "", `client certificate required: no certificate`},
		{"no cert, optional", nil, "/opt/x", 200, "NONE", ""},
		{"valid, required", f.payments, "/internal/x", 200, "SUCCESS", ""},
		{"valid, public", f.payments, "/public/x", 200, "SUCCESS", ""},
		{"other CA, required", foreign, "/internal/x", 403, "", `client certificate required: untrusted issuer`},
		{"other CA, optional", foreign, "/opt/x", 200, "FAILED:untrusted issuer", ""},
		{"expired, required", expired, "/internal/x", 403, "", `client certificate required: expired`},
		{"SPIFFE prefix allowed", f.payments, "/spiffe/x", 200, "SUCCESS", ""},
		{"SPIFFE prefix refused", f.billing, "/spiffe/x", 403, "", `client certificate required: not allowed for this route`},
		{"subject allowed", f.billing, "/dn/x", 200, "SUCCESS", ""},
		{"subject refused", f.payments, "/dn/x", 403, "", `not allowed for this route`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, got, body := getIdentity(t, f.clientWith(tc.cert), tc.path, nil)
			if code != tc.status {
				t.Fatalf("%s: %d %s, want %d", tc.path, code, body, tc.status)
			}
			if code == 200 && strings.Join(got["X-Client-Verify"], "|") != tc.verify {
				t.Errorf("X-Client-Verify = %q, want %q", got["X-Client-Verify"], tc.verify)
			}
			if code == 200 && tc.verify != "SUCCESS" && len(got) != 1 {
				t.Errorf("unverified client, yet the backend got identity headers %v", got)
			}
			if code == 403 && !strings.Contains(body, tc.body) {
				t.Errorf("403 body %q lacks %q", body, tc.body)
			}
		})
	}
}

// TestIdentityHeadersExactAndUnforgeable checks the headers byte for byte,
// and that copies sent by a client never reach the upstream.
func TestIdentityHeadersExactAndUnforgeable(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t)
	forged := http.Header{
		"X-Client-Verify":      {"SUCCESS"},
		"X-Client-Dn":          {"CN=admin"},
		"X-Client-San-Uri":     {"spiffe://example.org/admin"},
		"X-Client-San-Dns":     {"admin.internal"},
		"X-Client-Cert":        {"forged"},
		"X-Client-Fingerprint": {"00"},
	}
	leaf := f.payments.Leaf
	sum := sha256.Sum256(leaf.Raw)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	want := map[string][]string{
		"X-Client-Verify":      {"SUCCESS"},
		"X-Client-Dn":          {"CN=payments"},
		"X-Client-San-Uri":     {"spiffe://example.org/payments"},
		"X-Client-San-Dns":     {"payments.internal"},
		"X-Client-Cert":        {strings.ReplaceAll(url.QueryEscape(pemText), "+", "%20")}, // written differently from the gateway's encoder
		"X-Client-Fingerprint": {hex.EncodeToString(sum[:])},
	}
	for _, path := range []string{"/internal/x", "/public/x", "/opt/x"} {
		_, got, _ := getIdentity(t, f.clientWith(f.payments), path, forged)
		for k, v := range want {
			if strings.Join(got[k], "|") != strings.Join(v, "|") {
				t.Errorf("%s with a certificate: %s = %q, want %q", path, k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: backend got %v", path, got)
		}
		_, got, _ = getIdentity(t, f.clientWith(nil), path, forged)
		if path != "/internal/x" && (len(got) != 1 || got["X-Client-Verify"][0] != "NONE") {
			t.Errorf("%s without a certificate: backend got %v, want only X-Client-Verify: NONE", path, got)
		}
	}
	// A site that trusts no client CA strips the headers too.
	p := newPKI(t, "localhost", "127.0.0.1")
	g2 := startGateway(t, oneSite(p, "intermediate", identityEcho(t), ""))
	req, _ := http.NewRequest("GET", "https://localhost/x", nil)
	req.Header = forged.Clone()
	resp, err := p.client(g2.https, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "{}" {
		t.Errorf("site without client_auth passed client identity headers on: %s", body)
	}
}

// TestRevocationOnKeptAliveConnection publishes a new CRL while a client
// keeps its connection open: the next request on it is refused.
func TestRevocationOnKeptAliveConnection(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t)
	c := f.clientWith(f.payments)
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
			t.Fatalf("revoked certificate still accepted 5s after the CRL changed: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A CRL from another CA is refused; the last good one stays in force.
	other := pkitest.NewCA(t, "other CA")
	writeCRL(t, f.crlFile, other, 3)
	time.Sleep(1500 * time.Millisecond)
	if code, _, _ := getIdentity(t, c, "/internal/x", nil); code != 403 {
		t.Fatalf("an unsigned CRL replaced the revocation list: %d", code)
	}
	if !strings.Contains(f.g.logs.String(), "CRL change refused") {
		t.Error("no log line refusing the foreign CRL")
	}
}

// TestClientCertificatesWithCurlAndOpenSSL uses curl with PEM and PKCS#12
// client certificates and checks the CA names openssl is offered.
func TestClientCertificatesWithCurlAndOpenSSL(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	openssl := testpeer.Require(t, "openssl")
	f := newMTLSFixture(t)
	dir := t.TempDir()
	certFile, keyFile := pkitest.WriteFiles(t, dir, "payments", f.payments)
	p12, err := pkcs12.Modern2023.Encode(f.payments.PrivateKey, f.payments.Leaf, nil, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	p12File := filepath.Join(dir, "payments.p12")
	os.WriteFile(p12File, p12, 0o600)
	port := f.g.https[strings.LastIndex(f.g.https, ":")+1:]
	base := []string{"-sS", "--cacert", f.front.root, "--resolve", "localhost:" + port + ":127.0.0.1", "-w", "\n%{http_code}"}
	u := "https://localhost:" + port + "/internal/x"
	for name, args := range map[string][]string{
		"PEM":     {"--cert", certFile, "--key", keyFile},
		"PKCS#12": {"--cert-type", "P12", "--cert", p12File + ":s3cret"},
		"none":    nil,
	} {
		out, err := runTool(t, curl, append(append(append([]string{}, base...), args...), u)...)
		want := "200"
		if name == "none" {
			want = "403"
		}
		if err != nil || !strings.HasSuffix(strings.TrimSpace(out), want) {
			t.Errorf("curl %s: %v\n%s (want %s)", name, err, out, want)
		}
		if name != "none" && !strings.Contains(out, `"X-Client-Dn":["CN=payments"]`) {
			t.Errorf("curl %s: backend did not see the identity:\n%s", name, out)
		}
	}
	out, _ := runTool(t, openssl, "s_client", "-connect", f.g.https, "-servername", "localhost", "-CAfile", f.front.root)
	if !strings.Contains(out, "Acceptable client certificate CA names") || !strings.Contains(out, "CN = clients CA") {
		t.Errorf("the handshake does not name the trusted client CA:\n%s", out)
	}
}

// TestEscapedCertMatchesNginx has nginx itself encode the same client
// certificate ($ssl_client_escaped_cert) and compares byte for byte.
func TestEscapedCertMatchesNginx(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t)
	dir := t.TempDir()
	port := testpeer.FreePort(t)
	testpeer.StartNginx(t, dir, fmt.Sprintf(`
  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;
    ssl_client_certificate %s; ssl_verify_client on;
    location / { return 200 "$ssl_client_escaped_cert"; } }`, port, f.front.certFile, f.front.keyFile, f.caFile), fmt.Sprintf("127.0.0.1:%d", port))
	nc := f.clientWith(f.payments)
	nc.Transport.(*http.Transport).DialContext = func(ctx context.Context, n, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, n, fmt.Sprintf("127.0.0.1:%d", port))
	}
	resp, err := nc.Get("https://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	fromNginx, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, got, _ := getIdentity(t, f.clientWith(f.payments), "/internal/x", nil)
	if len(fromNginx) == 0 || got["X-Client-Cert"][0] != string(fromNginx) {
		t.Fatalf("X-Client-Cert differs from nginx's $ssl_client_escaped_cert:\n ours: %q\nnginx: %q", got["X-Client-Cert"], fromNginx)
	}
}

// runTool runs a real client program with a deadline.
func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	return run(t, name, args...)
}

// TestOpenSSLClientCertificate sends a request with openssl s_client and
// a PEM client certificate.
func TestOpenSSLClientCertificate(t *testing.T) {
	t.Parallel()
	openssl := testpeer.Require(t, "openssl")
	f := newMTLSFixture(t)
	certFile, keyFile := pkitest.WriteFiles(t, t.TempDir(), "payments", f.payments)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-quiet", "-connect", f.g.https, "-servername", "localhost",
		"-CAfile", f.front.root, "-cert", certFile, "-key", keyFile, "-alpn", "http/1.1")
	cmd.Stdin = strings.NewReader("GET /internal/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HTTP/1.1 200 OK") || !strings.Contains(string(out), `"X-Client-Dn":["CN=payments"]`) {
		t.Fatalf("openssl s_client with a client certificate: %v\n%s", err, out)
	}
}

// TestInternalCARevocation trusts the internal CA: a client certificate it
// issued works until `tlsgate ca revoke` + `tlsgate ca crl` (here the same
// calls on the CA package) publish its revocation.
func TestInternalCARevocation(t *testing.T) {
	t.Parallel()
	front := newPKI(t, "localhost")
	data := t.TempDir()
	g := startGateway(t, fmt.Sprintf(`
data_dir: %s
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    client_auth: {internal_ca: true}
    routes:
      - {path: /, upstreams: [%s], client_auth: require}
`, data, front.certFile, front.keyFile, identityEcho(t)))
	auth, err := g.srv.CA()
	if err != nil {
		t.Fatal(err)
	}
	cert, rec, err := auth.IssueRecorded(ca.Leaf{Names: []string{"orders"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &mtlsFixture{g: g, front: front}
	c := f.clientWith(cert)
	if code, got, body := getIdentity(t, c, "/x", nil); code != 200 || got["X-Client-Dn"][0] != "CN=orders" {
		t.Fatalf("internal-CA client certificate: %d %s", code, body)
	}
	if _, err := auth.Revoke(rec.Serial, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.CRL(0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, body := getIdentity(t, c, "/x", nil)
		if code == 403 && strings.Contains(body, "revoked") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked internal-CA certificate still accepted: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestInternalCALeafOnly: with client_auth.internal_ca, curl presenting
// only the NAME.pem that `tlsgate ca issue client` writes (no
// intermediate) is admitted, as with NAME.chain.pem: the gateway completes
// the chain with the internal CA's intermediate. The internal CRL still
// applies to the completed chain, and a leaf of another CA with the same
// names stays untrusted.
func TestInternalCALeafOnly(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	front := newPKI(t, "localhost")
	data := t.TempDir()
	g := startGateway(t, fmt.Sprintf(`
data_dir: %s
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    client_auth: {internal_ca: true}
    routes:
      - {path: /, upstreams: [%s], client_auth: require}
`, data, front.certFile, front.keyFile, identityEcho(t)))
	auth, err := g.srv.CA()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	issue := func(name string) *ca.Record {
		cert, rec, err := auth.IssueRecorded(ca.Leaf{Names: []string{name}, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		files, err := ca.Output(name, cert, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			os.WriteFile(filepath.Join(out, f.Name), f.Data, f.Mode)
		}
		return rec
	}
	issue("orders")
	rec := issue("billing")
	// A look-alike from another CA: same name, same layout of files.
	other := pkitest.NewCA(t, "tlsgate Development Intermediate CA")
	pkitest.WriteFiles(t, out, "impostor", other.Issue(t, pkitest.Leaf{Names: []string{"orders"}, Client: true}))

	port := g.https[strings.LastIndex(g.https, ":")+1:]
	get := func(cert, key string) string {
		t.Helper()
		o, _ := runTool(t, curl, "-sS", "--cacert", front.root, "--resolve", "localhost:"+port+":127.0.0.1",
			"--cert", filepath.Join(out, cert), "--key", filepath.Join(out, key), "-w", "\n%{http_code}", "https://localhost:"+port+"/x")
		return strings.TrimSpace(o)
	}
	for _, file := range []string{"orders.pem", "orders.chain.pem"} {
		if o := get(file, "orders.key"); !strings.HasSuffix(o, "200") || !strings.Contains(o, `"X-Client-Dn":["CN=orders"]`) {
			t.Errorf("curl --cert %s: want 200 with the identity, got\n%s", file, o)
		}
	}
	if o := get("impostor.pem", "impostor.key"); !strings.HasSuffix(o, "403") || !strings.Contains(o, "untrusted issuer") {
		t.Errorf("a leaf of another CA: want 403 untrusted issuer, got\n%s", o)
	}
	if _, err := auth.Revoke(rec.Serial, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.CRL(0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		o := get("billing.pem", "billing.key")
		if strings.HasSuffix(o, "403") && strings.Contains(o, "revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked leaf sent alone still accepted:\n%s", o)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if o := get("orders.pem", "orders.key"); !strings.HasSuffix(o, "200") {
		t.Errorf("after another's revocation, curl --cert orders.pem: %s", o)
	}
}

// TestClientAuthAfterResumption: a TLS 1.3 session resumed from a ticket
// still carries the client certificate (Go restores it from the ticket),
// and the route's policy is applied to it again on every request.
func TestClientAuthAfterResumption(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t)
	cache := tls.NewLRUClientSessionCache(4)
	var resumed []bool
	for i := 0; i < 2; i++ {
		tr := &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: f.front.ca.Pool(), ServerName: "localhost", ClientSessionCache: cache,
				NextProtos:           []string{"http/1.1"},
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return f.payments, nil }},
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, n, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, n, f.g.https)
			},
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://localhost/internal/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("connection %d: %d", i, resp.StatusCode)
		}
		resumed = append(resumed, resp.TLS.DidResume)
	}
	if !resumed[1] {
		t.Fatalf("second connection did not resume (%v): the test proves nothing", resumed)
	}
}

// chainOf returns leaf's certificate followed by the intermediates, as a
// client sends them.
func chainOf(leaf *tls.Certificate, intermediates ...*pkitest.CA) *tls.Certificate {
	c := *leaf
	c.Certificate = append([][]byte(nil), leaf.Certificate...)
	for _, i := range intermediates {
		c.Certificate = append(c.Certificate, i.Cert.Raw)
	}
	return &c
}

// mtlsSite is a gateway site trusting caFile with crlFile, with a
// required, an optional and a public route.
func mtlsSite(front *pki, caFile, crlFile, upstream string) string {
	return fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    client_auth: {ca: [%s], crl: [%s]}
    routes:
      - {path: /internal/, upstreams: [%[5]s], client_auth: require}
      - {path: /opt/, upstreams: [%[5]s], client_auth: optional}
      - {path: /public/, upstreams: [%[5]s]}
`, front.certFile, front.keyFile, caFile, crlFile, upstream)
}

// TestRevokedIntermediateRefused: the root's CRL revokes the
// intermediate, so a leaf it issued is refused even though the leaf itself
// is on no CRL.
func TestRevokedIntermediateRefused(t *testing.T) {
	t.Parallel()
	front := newPKI(t, "localhost")
	root := pkitest.NewCA(t, "clients root")
	inter := root.Intermediate(t, "clients issuing")
	dir := t.TempDir()
	caFile := root.WriteRoot(t, dir)
	crlFile := root.WriteCRL(t, dir, "root.crl", inter.Cert.SerialNumber)
	leaf := chainOf(inter.Issue(t, pkitest.Leaf{Names: []string{"svc"}, Client: true}), inter)
	g := startGateway(t, mtlsSite(front, caFile, crlFile, identityEcho(t)))
	f := &mtlsFixture{g: g, front: front}
	cases := []struct {
		path   string
		status int
		verify string
	}{
		{"/internal/x", 403, ""},
		{"/opt/x", 200, "FAILED:revoked"},
		{"/public/x", 200, "FAILED:revoked"},
	}
	for _, tc := range cases {
		code, got, body := getIdentity(t, f.clientWith(leaf), tc.path, nil)
		if code != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.path, code, body, tc.status)
		}
		if code == 403 && !strings.Contains(body, "client certificate required: revoked") {
			t.Errorf("%s: 403 body %q does not say revoked", tc.path, body)
		}
		if code == 200 && strings.Join(got["X-Client-Verify"], "|") != tc.verify {
			t.Errorf("%s: X-Client-Verify = %q, want %q", tc.path, got["X-Client-Verify"], tc.verify)
		}
	}
}

// TestInternalCARootWithItsCRL trusts the internal CA the way `tlsgate ca
// init` tells users to: its root.pem as client_auth.ca and the crl.pem
// `tlsgate ca crl` writes (signed by the intermediate) as client_auth.crl.
func TestInternalCARootWithItsCRL(t *testing.T) {
	t.Parallel()
	front := newPKI(t, "localhost")
	auth, err := ca.Init(t.TempDir(), "Example")
	if err != nil {
		t.Fatal(err)
	}
	revoked, rec, err := auth.IssueRecorded(ca.Leaf{Names: []string{"orders"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := auth.IssueRecorded(ca.Leaf{Names: []string{"billing"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Revoke(rec.Serial, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.CRL(0); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, mtlsSite(front, auth.RootPath(), filepath.Join(auth.Dir(), ca.CRLFile), identityEcho(t)))
	f := &mtlsFixture{g: g, front: front}
	if code, _, body := getIdentity(t, f.clientWith(revoked), "/internal/x", nil); code != 403 || !strings.Contains(body, "revoked") {
		t.Errorf("revoked certificate: %d %s, want 403 revoked", code, body)
	}
	if code, got, body := getIdentity(t, f.clientWith(kept), "/internal/x", nil); code != 200 || got["X-Client-Verify"][0] != "SUCCESS" {
		t.Errorf("certificate not revoked: %d %s, want 200 SUCCESS", code, body)
	}
}

// TestTicketLabelFollowsCAKeys: client CAs that share a name but not a
// key get different ticket labels; the same set in any order, the same.
func TestTicketLabelFollowsCAKeys(t *testing.T) {
	t.Parallel()
	a, b := pkitest.NewCA(t, "clients CA"), pkitest.NewCA(t, "clients CA")
	c := pkitest.NewCA(t, "partners CA")
	set := func(cas ...*pkitest.CA) []*x509.Certificate {
		var out []*x509.Certificate
		for _, ca := range cas {
			out = append(out, ca.Cert)
		}
		return out
	}
	cases := []struct {
		name string
		x, y []*x509.Certificate
		same bool
	}{
		{"same name, other key", set(a), set(b), false},
		{"same name, other key, beside another CA", set(a, c), set(b, c), false},
		{"one CA more", set(a), set(a, c), false},
		{"same CA", set(a), set(a), true},
		{"same CAs, other order", set(a, c), set(c, a), true},
		{"a CA listed twice", set(a, c), set(a, c, a), true},
	}
	for _, tc := range cases {
		if got := clientCAsID(tc.x) == clientCAsID(tc.y); got != tc.same {
			t.Errorf("%s: same ticket label = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// TestResumptionAcrossClientCASwap: a reload that swaps the trusted client
// CA for another with the same name ends the sessions made under the old
// one; a reload that keeps it keeps them.
func TestResumptionAcrossClientCASwap(t *testing.T) {
	t.Parallel()
	front := newPKI(t, "localhost")
	a, b := pkitest.NewCA(t, "clients CA"), pkitest.NewCA(t, "clients CA")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "clients.pem")
	writeRename(t, caFile, a.PEM, 0o644)
	crlFile := a.WriteCRL(t, dir, "a.crl")
	g := startGateway(t, mtlsSite(front, caFile, crlFile, identityEcho(t)))
	client := a.Issue(t, pkitest.Leaf{Names: []string{"svc"}, Client: true})
	// connect reports whether a connection with cfg resumed a session.
	connect := func(cfg *tls.Config) bool {
		t.Helper()
		conn, err := tls.Dial("tcp", g.https, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// TLS 1.3 tickets arrive after the handshake: read to receive them.
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		conn.Read(make([]byte, 1))
		return conn.ConnectionState().DidResume
	}
	versions := []uint16{tls.VersionTLS12, tls.VersionTLS13}
	cfgs := map[uint16]*tls.Config{}
	for _, v := range versions {
		cfgs[v] = &tls.Config{ServerName: "localhost", RootCAs: front.ca.Pool(), MaxVersion: v,
			ClientSessionCache:   tls.NewLRUClientSessionCache(4),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return client, nil }}
		connect(cfgs[v])
		if !connect(cfgs[v]) {
			t.Fatalf("%s: no resumption before any reload: the test proves nothing", tls.VersionName(v))
		}
	}
	// Same CA: sessions survive the reload.
	writeRename(t, caFile, a.PEM, 0o644)
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		if !connect(cfgs[v]) {
			t.Errorf("%s: a reload that keeps the client CA ended the sessions", tls.VersionName(v))
		}
	}
	// Same name, other key: no session made under a resumes. (The CRL
	// changes too: a's does not verify under b.)
	writeRename(t, caFile, b.PEM, 0o644)
	writeRename(t, crlFile, b.CRL(t), 0o644)
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		if connect(cfgs[v]) {
			t.Errorf("%s: a session made under one client CA resumed under another CA of the same name", tls.VersionName(v))
		}
	}
}
