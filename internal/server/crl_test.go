package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// TestCRLDistributionPoint: with ca.crl_url and ca.serve_crl, certificates
// the internal CA issues (the site's own and client certificates) name the
// URL, and the plain-HTTP listener answers its path, whatever the Host,
// with the current CRL as DER (application/pkix-crl) that openssl reads,
// carrying revocations and their reason codes. A CRL on disk past half its
// validity is re-signed. Every other request to that listener still only
// redirects.
func TestCRLDistributionPoint(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	openssl := testpeer.Require(t, "openssl")
	data := t.TempDir()
	const crlURL = "http://pki.tlsgate.test/ca/tlsgate.crl"
	g := startGateway(t, fmt.Sprintf(`
data_dir: %s
listen: {https: "127.0.0.1:0", http: "127.0.0.1:0"}
ca: {crl_url: %q, serve_crl: true}
sites:
  - hosts: [localhost]
    client_auth: {internal_ca: true}
    routes:
      - {path: /, upstreams: [%s]}
`, data, crlURL, identityEcho(t)))
	auth, err := g.srv.CA()
	if err != nil {
		t.Fatal(err)
	}

	// The site's certificate, issued at start, names the distribution point.
	conn, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "localhost", RootCAs: auth.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	site := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if !slices.Equal(site.CRLDistributionPoints, []string{crlURL}) {
		t.Errorf("site certificate: CRL distribution points %q, want [%s]", site.CRLDistributionPoints, crlURL)
	}
	if b, _ := os.ReadFile(filepath.Join(auth.Dir(), ca.CRLURLFile)); strings.TrimSpace(string(b)) != crlURL {
		t.Errorf("%s holds %q: 'tlsgate ca issue' would not name the same URL", ca.CRLURLFile, b)
	}
	_, rec, err := auth.IssueRecorded(ca.Leaf{Names: []string{"orders"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Revoke(rec.Serial, "superseded"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.CRL(0); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	fetch := func(method, host, path string) (code, ctype string, body []byte) {
		t.Helper()
		out := filepath.Join(dir, "body")
		os.Remove(out)
		args := []string{"-sS", "-o", out, "-w", "%{http_code} %{content_type}", "-H", "Host: " + host, "http://" + g.http + path}
		args = append([]string{"-X", method}, args...)
		o, err := run(t, curl, args...)
		if err != nil {
			t.Fatalf("curl %s %s: %v\n%s", method, path, err, o)
		}
		code, ctype, _ = strings.Cut(strings.TrimSpace(o), " ")
		body, _ = os.ReadFile(out)
		return code, ctype, body
	}
	for _, host := range []string{"pki.tlsgate.test", "localhost", "203.0.113.9"} {
		code, ctype, body := fetch("GET", host, "/ca/tlsgate.crl")
		if code != "200" || ctype != "application/pkix-crl" {
			t.Fatalf("GET the CRL with Host %s: %s %s", host, code, ctype)
		}
		crl, err := x509.ParseRevocationList(body)
		if err != nil {
			t.Fatalf("the body is no DER CRL: %v", err)
		}
		if err := crl.CheckSignatureFrom(auth.Intermediate()); err != nil {
			t.Fatalf("CRL not signed by the intermediate: %v", err)
		}
		if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Text(16) != rec.Serial ||
			crl.RevokedCertificateEntries[0].ReasonCode != 4 {
			t.Fatalf("CRL entries %+v, want %s (superseded)", crl.RevokedCertificateEntries, rec.Serial)
		}
	}
	crlFile := filepath.Join(dir, "body")
	if o, err := run(t, openssl, "crl", "-inform", "DER", "-in", crlFile, "-noout", "-text"); err != nil || !strings.Contains(o, "Superseded") {
		t.Errorf("openssl crl -inform DER: %v\n%s", err, o)
	}
	if resp, err := http.Head("http://" + g.http + "/ca/tlsgate.crl"); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Errorf("HEAD the CRL: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, _, _ := fetch("POST", "localhost", "/ca/tlsgate.crl"); code != "405" {
		t.Errorf("POST the CRL: %s, want 405", code)
	}
	// The rest of the listener is unchanged.
	if code, _, _ := fetch("GET", "localhost", "/ca/other.crl"); code != "301" {
		t.Errorf("GET another path: %s, want the 301 redirect", code)
	}
	if code, _, _ := fetch("GET", "unknown.example", "/ca/tlsgate.crl/x"); code != "421" {
		t.Errorf("GET with an unknown host: %s, want 421", code)
	}

	// A CRL past half its validity is re-signed before it is served.
	if _, err := auth.CRL(time.Minute); err != nil {
		t.Fatal(err)
	}
	_, _, body := fetch("GET", "localhost", "/ca/tlsgate.crl")
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(crl.NextUpdate) < 24*time.Hour || len(crl.RevokedCertificateEntries) != 1 {
		t.Errorf("a CRL due for renewal was served as is: next update %s, %d entries", crl.NextUpdate, len(crl.RevokedCertificateEntries))
	}
	resp, err := http.Get("http://" + g.http + "/ca/tlsgate.crl")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
		t.Errorf("Cache-Control %q", cc)
	}
}

// TestLeafOnlyAfterIntermediateRenewal: a client certificate signed by an
// intermediate that the CA then renewed (at the gateway's start) still
// works sent alone, since the replaced intermediate stays known while
// valid, and its revocation, in a CRL the new intermediate signs, still
// applies.
func TestLeafOnlyAfterIntermediateRenewal(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	front := newPKI(t, "localhost")
	data := t.TempDir()
	dir := filepath.Join(data, "ca")
	if _, err := ca.Init(dir, "tlsgate Development"); err != nil {
		t.Fatal(err)
	}
	// An intermediate a month from its end, as the CA names its own, then
	// a client certificate it signs.
	root := readPEMCert(t, filepath.Join(dir, ca.RootCertFile))
	rootKey := readPEMKey(t, filepath.Join(dir, ca.RootKeyFile))
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	interDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "tlsgate Development Intermediate CA", Organization: []string{"tlsgate Development"}},
		NotBefore: now.Add(-300 * 24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}, root, interKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ := x509.ParseCertificate(interDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial := big.NewInt(now.UnixNano() + 1)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "old-orders"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(20 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, inter, leafKey.Public(), interKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, ca.IntermediateCertFile), "CERTIFICATE", interDER)
	k8, _ := x509.MarshalPKCS8PrivateKey(interKey)
	writePEM(t, filepath.Join(dir, ca.IntermediateKeyFile), "PRIVATE KEY", k8)
	out := t.TempDir()
	writePEM(t, filepath.Join(out, "old.pem"), "CERTIFICATE", leafDER)
	k8, _ = x509.MarshalPKCS8PrivateKey(leafKey)
	writePEM(t, filepath.Join(out, "old.key"), "PRIVATE KEY", k8)
	// The record 'ca issue' would have written, so that it can be revoked.
	rec, _ := json.Marshal(ca.Record{Serial: serial.Text(16), Kind: "client", Subject: "CN=old-orders", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(20 * 24 * time.Hour)})
	os.MkdirAll(filepath.Join(dir, "issued"), 0o700)
	os.WriteFile(filepath.Join(dir, "issued", serial.Text(16)+".json"), rec, 0o644)

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
	if auth.Intermediate().Equal(inter) {
		t.Fatal("the intermediate was not renewed at start")
	}
	port := g.https[strings.LastIndex(g.https, ":")+1:]
	get := func() string {
		o, _ := run(t, curl, "-sS", "--cacert", front.root, "--resolve", "localhost:"+port+":127.0.0.1",
			"--cert", filepath.Join(out, "old.pem"), "--key", filepath.Join(out, "old.key"), "-w", "\n%{http_code}", "https://localhost:"+port+"/x")
		return strings.TrimSpace(o)
	}
	if o := get(); !strings.HasSuffix(o, "200") || !strings.Contains(o, `"X-Client-Dn":["CN=old-orders"]`) {
		t.Fatalf("leaf of the replaced intermediate, sent alone: want 200, got\n%s", o)
	}
	if _, err := auth.Revoke(serial.Text(16), "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.CRL(0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for o := get(); !strings.HasSuffix(o, "403") || !strings.Contains(o, "revoked"); o = get() {
		if time.Now().After(deadline) {
			t.Fatalf("revoked leaf of the replaced intermediate still accepted:\n%s", o)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readPEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, _ := os.ReadFile(path)
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readPEMKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	data, _ := os.ReadFile(path)
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
