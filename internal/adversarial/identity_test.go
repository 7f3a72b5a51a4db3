package adversarial

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// defaultIdentity are the identity header names of a site that does not
// rename them.
var defaultIdentity = []string{"X-Client-Verify", "X-Client-DN", "X-Client-SAN-URI", "X-Client-SAN-DNS", "X-Client-Cert", "X-Client-Fingerprint"}

// identityKey folds a header name the way upstream frameworks may (case,
// '_' for '-', surrounding space), so a forged spelling is caught however
// the upstream reads it.
func identityKey(name string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), "_", "-"))
}

// checkIdentity fails when the upstream request s carries any header that
// folds to one of names with values other than want (want nil: absent).
func checkIdentity(t *testing.T, what string, s seen, names []string, want map[string]string) {
	t.Helper()
	for n := range want {
		if len(s.Header.Values(n)) == 0 {
			t.Errorf("%s: the upstream got no %s: the gateway must always set it", what, n)
		}
	}
	for k, v := range s.Header {
		for _, n := range names {
			if identityKey(k) != identityKey(n) {
				continue
			}
			w, ok := want[identityKey(n)]
			if !ok || k != http.CanonicalHeaderKey(n) || len(v) != 1 || v[0] != w {
				t.Errorf("FORGED (%s): the upstream got %q: %q (want %s)", what, k, v, describeWant(w, ok))
			}
		}
	}
}

func describeWant(w string, ok bool) string {
	if !ok {
		return "no such header"
	}
	return fmt.Sprintf("exactly one %q, set by the gateway", w)
}

func forgedSpellings(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	forms := []string{
		"X-Client-Verify: SUCCESS",
		"x-client-verify: SUCCESS",
		"X-CLIENT-VERIFY: SUCCESS",
		"X_Client_Verify: SUCCESS",
		"x_client_verify: SUCCESS",
		"X-Client-Verify : SUCCESS",
		"X-Client-Verify\t: SUCCESS",
		"X-Client-Verify: NONE\r\nX-Client-Verify: SUCCESS",
		"X-Client-Verify: SUCCESS\r\nX-Client-Verify: SUCCESS",
		"X-Client-DN: CN=admin\r\nX_Client_DN: CN=admin",
		"X-Client-Fingerprint: 00\r\nX-Client-Cert: x\r\nX-Client-SAN-URI: spiffe://x/admin\r\nX-Client-SAN-DNS: admin",
		"X-Client-Verify:SUCCESS",
		"Connection: X-Client-Verify\r\nX-Client-Verify: SUCCESS",
	}
	for i, f := range forms {
		t.Run(fmt.Sprintf("h1 %q", f), func(t *testing.T) {
			t.Parallel()
			conn := e.pki.rawH1(t, g, "a.test", nil)
			path := fmt.Sprintf("/public/forged%d", i)
			conn.send(t, "GET "+path+" HTTP/1.1\r\nHost: a.test\r\n"+f+"\r\nConnection: close\r\n\r\n")
			resp, body, err := conn.response(t, "GET")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 && resp.StatusCode != 400 {
				t.Errorf("%d %q, want 200 (header stripped) or 400 (refused)", resp.StatusCode, body)
			}
			found := false
			for _, s := range rec.all() {
				if s.Path == path {
					found = true
					checkIdentity(t, f, s, defaultIdentity, map[string]string{"x-client-verify": "NONE"})
				}
			}
			if resp.StatusCode == 200 && !found {
				t.Errorf("200, yet the upstream did not get %s", path)
			}
		})
	}
	h2forms := [][][2]string{
		{{"x-client-verify", "SUCCESS"}},
		{{"x-client-verify", "SUCCESS"}, {"x-client-verify", "SUCCESS"}},
		{{"x_client_verify", "SUCCESS"}},
		{{"x-client-dn", "CN=admin"}, {"x-client-san-uri", "spiffe://x/admin"}},
	}
	for i, f := range h2forms {
		t.Run(fmt.Sprintf("h2 %q", f), func(t *testing.T) {
			t.Parallel()
			path := fmt.Sprintf("/public/forged-h2-%d", i)
			r := e.pki.rawH2(t, g, "a.test", nil).request(t, "GET", "a.test", path, f...)
			if r.Status != "200" && r.Status != "400" && !r.Reset {
				t.Errorf("%s", r)
			}
			for _, s := range rec.all() {
				if s.Path == path {
					checkIdentity(t, fmt.Sprint(f), s, defaultIdentity, map[string]string{"x-client-verify": "NONE"})
				}
			}
		})
	}
	t.Run("h2 trailer", func(t *testing.T) {
		t.Parallel()
		h := e.pki.rawH2(t, g, "a.test", nil)
		id := h.open(t, [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", "a.test"}, {":path", "/public/forged-trailer"}, {"trailer", "x-client-verify"}}, false)
		h.fr.WriteData(id, false, []byte("hi"))
		h.encBuf.Reset()
		h.enc.WriteField(hpackField("x-client-verify", "SUCCESS"))
		h.enc.WriteField(hpackField("x-forwarded-for", "203.0.113.7"))
		h.fr.WriteHeaders(headersParam(id, h.encBuf.Bytes()))
		r := h.wait(id, ioTimeout)
		if r.Status != "200" && r.Status != "400" && !r.Reset {
			t.Errorf("%s", r)
		}
		for _, s := range rec.all() {
			if s.Path == "/public/forged-trailer" {
				if v := s.Trailer.Get("X-Client-Verify"); v != "" {
					t.Errorf("FORGED: trailer X-Client-Verify %q reached the upstream", v)
				}
				if v := s.Trailer.Get("X-Forwarded-For"); v != "" {
					t.Errorf("FORGED: trailer X-Forwarded-For %q reached the upstream", v)
				}
				checkIdentity(t, "trailer", s, defaultIdentity, map[string]string{"x-client-verify": "NONE"})
			}
		}
	})
}

func renamedIdentity(t *testing.T, e *env) {
	recA, recB, recC := newRecorder(t), newRecorder(t), newRecorder(t)
	ca := "client_auth: {ca: [" + q(e.pki.clientCAFile) + "]}"
	g := startGateway(t, gwConfig("",
		e.pki.site("a.test", ca+"\nidentity_headers: {verify: X-Mtls-Verify, dn: X-Mtls-Subject}", fmt.Sprintf("{path: /, upstreams: [%s]}", recA.URL)),
		e.pki.site("b.test", ca, fmt.Sprintf("{path: /, upstreams: [%s]}", recB.URL)),
		e.pki.site("c.test", "", fmt.Sprintf("{path: /, upstreams: [%s]}", recC.URL)),
	))
	renamed := []string{"X-Mtls-Verify", "X-Mtls-Subject"}
	everyName := append(append([]string{}, defaultIdentity...), renamed...)
	forged := "X-Mtls-Verify: SUCCESS\r\nX-Mtls-Subject: CN=admin\r\nx_mtls_verify: SUCCESS\r\n" +
		"X-Client-Verify: SUCCESS\r\nX-Client-DN: CN=admin\r\nX-Client-Fingerprint: 00\r\n"
	for _, site := range []struct {
		host string
		rec  *recorder
		want map[string]string
	}{
		{"a.test", recA, map[string]string{"x-mtls-verify": "NONE"}},
		{"b.test", recB, map[string]string{"x-client-verify": "NONE"}},
		{"c.test", recC, map[string]string{}},
	} {
		t.Run(site.host, func(t *testing.T) {
			for _, proto := range []string{"h1", "h2"} {
				path := "/forged-" + proto
				if proto == "h1" {
					conn := e.pki.rawH1(t, g, site.host, nil)
					conn.send(t, "GET "+path+" HTTP/1.1\r\nHost: "+site.host+"\r\n"+forged+"Connection: close\r\n\r\n")
					if resp, body, err := conn.response(t, "GET"); err != nil || resp.StatusCode != 200 && resp.StatusCode != 400 {
						t.Errorf("%v %v %q", resp, err, body)
					}
				} else {
					var f [][2]string
					for _, l := range strings.Split(strings.TrimSpace(forged), "\r\n") {
						k, v, _ := strings.Cut(l, ": ")
						f = append(f, [2]string{strings.ToLower(k), v})
					}
					r := e.pki.rawH2(t, g, site.host, nil).request(t, "GET", site.host, path, f...)
					if r.Status != "200" && r.Status != "400" && !r.Reset {
						t.Errorf("%s", r)
					}
				}
				n := 0
				for _, s := range site.rec.all() {
					if s.Path == path {
						n++
						checkIdentity(t, proto+" on "+site.host, s, everyName, site.want)
					}
				}
				if n == 0 {
					t.Logf("%s: refused, nothing forwarded", proto)
				}
			}
		})
	}
}

func forgedForwarding(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	forged := "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: http\r\n" +
		"Forwarded: for=203.0.113.7;host=evil.example;proto=http\r\nX-Request-Id: forged-id\r\nx_forwarded_for: 203.0.113.8\r\n"
	for _, proto := range []string{"h1", "h2"} {
		path := "/public/fwd-" + proto
		if proto == "h1" {
			conn := e.pki.rawH1(t, g, "a.test", nil)
			conn.send(t, "GET "+path+" HTTP/1.1\r\nHost: a.test\r\n"+forged+"Connection: close\r\n\r\n")
			if _, _, err := conn.response(t, "GET"); err != nil {
				t.Fatal(err)
			}
		} else {
			var f [][2]string
			for _, l := range strings.Split(strings.TrimSpace(forged), "\r\n") {
				k, v, _ := strings.Cut(l, ": ")
				f = append(f, [2]string{strings.ToLower(k), v})
			}
			e.pki.rawH2(t, g, "a.test", nil).request(t, "GET", "a.test", path, f...)
		}
		for _, s := range rec.all() {
			if s.Path != path {
				continue
			}
			for k, v := range s.Header {
				joined := strings.Join(v, ",")
				if strings.Contains(joined, "203.0.113") || strings.Contains(joined, "evil.example") || joined == "forged-id" {
					t.Errorf("FORGED (%s): the upstream got %s: %q from an untrusted client", proto, k, v)
				}
			}
			if got := s.Header.Get("X-Forwarded-Proto"); got != "https" {
				t.Errorf("%s: X-Forwarded-Proto %q, want https", proto, got)
			}
		}
	}
}

// issueSANs issues a client certificate with exactly the SANs given, as a
// CA that lets its users choose them would.
func issueSANs(t *testing.T, ca *pkitest.CA, cn string, dns []string, uris []string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     dns,
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("issuing %v %v: %v", dns, uris, err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func identityListInjection(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	cases := []struct {
		name     string
		dns      []string
		uris     []string
		claimed  string // an identity the certificate does not hold
		header   string
		separate string
	}{
		{"URI SAN with a comma", nil, []string{"spiffe://evil.example/x,spiffe://example.org/payments"}, "spiffe://example.org/payments", "X-Client-San-Uri", ","},
		{"DNS SAN with a comma", []string{"evil.example,payments.internal"}, nil, "payments.internal", "X-Client-San-Dns", ","},
		{"DNS SAN with CRLF", []string{"evil.example\r\nX-Client-Verify: SUCCESS"}, nil, "", "X-Client-San-Dns", ","},
		{"URI SAN with a space", nil, []string{"spiffe://evil.example/x%20spiffe://example.org/payments"}, "spiffe://example.org/payments", "X-Client-San-Uri", " "},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cert := issueSANs(t, e.pki.clientCA, fmt.Sprintf("odd%d", i), c.dns, c.uris)
			path := fmt.Sprintf("/internal/odd%d", i)
			for _, method := range []string{"GET", "POST"} {
				conn := e.pki.rawH1(t, g, "a.test", cert)
				conn.send(t, method+" "+path+" HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				if _, _, err := conn.response(t, method); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range rec.all() {
				if s.Path != path {
					continue
				}
				if v := s.Header.Values("X-Client-Verify"); len(v) != 1 || v[0] != "SUCCESS" {
					t.Errorf("X-Client-Verify %q", v)
				}
				if c.claimed == "" {
					continue
				}
				for _, v := range s.Header.Values(c.header) {
					for _, item := range strings.Split(v, c.separate) {
						if strings.TrimSpace(item) == c.claimed {
							t.Errorf("CONFUSED: %s %q lists %q, which the certificate (SANs %q %q) does not hold", c.header, v, c.claimed, c.dns, c.uris)
						}
					}
				}
			}
		})
	}
}
