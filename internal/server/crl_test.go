package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
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
