package scan

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// fixtureHost is the name every fixture certificate is issued for (but
// wrong-host's); scans send it as SNI and connect to 127.0.0.1.
const fixtureHost = "scan.test"

// hstsYear is the header of fixtures built to have a good HSTS policy.
const hstsYear = "max-age=31536000; includeSubDomains"

// pki is the throwaway PKI of the fixtures: trusted roots (ECDSA and, for
// SHA-1 leaves, RSA) written to one bundle for the scanner and testssl.
type pki struct {
	root, rsaRoot *pkitest.CA
	roots         *x509.CertPool
	bundle        string // PEM of both roots
	dir           string
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	p := &pki{dir: dir, root: pkitest.NewCA(t, "tlsgate scan test root"), rsaRoot: pkitest.NewRSACA(t, "tlsgate scan test RSA root")}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.root.Cert)
	p.roots.AddCert(p.rsaRoot.Cert)
	p.bundle = filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(p.bundle, append(append([]byte{}, p.root.PEM...), p.rsaRoot.PEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// leaf is a 90-day certificate for fixtureHost (no expiry warning).
func (p *pki) leaf(t *testing.T, o pkitest.Odd) *tls.Certificate {
	t.Helper()
	if len(o.Names) == 0 {
		o.Names = []string{fixtureHost}
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	issuer := p.root
	if o.SHA1 {
		issuer = p.rsaRoot
	}
	return issuer.IssueOdd(t, o)
}

func (p *pki) write(t *testing.T, name string, c *tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	return pkitest.WriteFiles(t, p.dir, name, c)
}

// fixture is one server built to be scanned, with what it was built to be.
type fixture struct {
	name     string
	addr     string // 127.0.0.1:port
	httpPort int    // plain-HTTP port to check for a redirect, 0 for none
	sni      string // default fixtureHost
	want     want
	// testssl asks testssl.sh (the external referee) for these checks;
	// empty means testssl does not scan this fixture. Certificate (-S) and
	// header (-h) checks run with --ssl-native (openssl throughout, a third
	// faster); protocol and cipher checks keep testssl.sh's own sockets,
	// which OpenSSL 3 cannot replace for SSL 2.0, SSL 3.0 and TLS 1.0.
	testssl []string
	// disagree names the referee checks (refereeChecks) where tlsgate and
	// testssl.sh are known to differ on this fixture, and why.
	disagree map[string]string
}

// want is the design of a fixture, checked against the scan.
type want struct {
	grade     string
	ifTrusted string   // Grade.IgnoringTrust, for T and M
	protocols []string // exactly the offered versions
	caps      []string // grading rules that must apply
	findings  []string // finding IDs that must be present
	absent    []string // finding IDs that must not be present
	suites    []string // suite names that must be accepted (any protocol)
	groups    []string // group names that must be offered
}

// nginxServer is one server{} block of the fixtures' nginx.
type nginxServer struct {
	name      string
	cert, key string
	protocols string
	ciphers   string // "" for nginx's default
	hsts      string // Strict-Transport-Security value, "" for none
}

func (s nginxServer) block(port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server {\n  listen 127.0.0.1:%d ssl http2;\n  server_name %s;\n", port, fixtureHost)
	fmt.Fprintf(&b, "  ssl_certificate %s;\n  ssl_certificate_key %s;\n  ssl_protocols %s;\n", s.cert, s.key, s.protocols)
	if s.ciphers != "" {
		fmt.Fprintf(&b, "  ssl_ciphers %q;\n  ssl_prefer_server_ciphers on;\n", s.ciphers)
	}
	fmt.Fprintf(&b, "  ssl_session_cache shared:%s:1m;\n", strings.ReplaceAll(s.name, "-", "_"))
	if s.hsts != "" {
		fmt.Fprintf(&b, "  add_header Strict-Transport-Security %q always;\n", s.hsts)
	}
	b.WriteString("  location / { return 200 \"ok\\n\"; }\n}\n")
	return b.String()
}

// startNginxFixtures runs one nginx with a server block per fixture and
// two plain-HTTP ports: one redirecting to HTTPS, one not.
func startNginxFixtures(t *testing.T, dir string, servers []nginxServer) (ports map[string]int, redirectPort, plainPort int) {
	t.Helper()
	ports = map[string]int{}
	var body strings.Builder
	var first string
	for _, s := range servers {
		port := testpeer.FreePort(t)
		ports[s.name] = port
		body.WriteString(s.block(port))
		if first == "" {
			first = fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	redirectPort, plainPort = testpeer.FreePort(t), testpeer.FreePort(t)
	fmt.Fprintf(&body, "server {\n  listen 127.0.0.1:%d;\n  return 301 https://%s$request_uri;\n}\n", redirectPort, fixtureHost)
	fmt.Fprintf(&body, "server {\n  listen 127.0.0.1:%d;\n  location / { return 200 \"plain\\n\"; }\n}\n", plainPort)
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		t.Fatal(err)
	}
	testpeer.StartNginx(t, ndir, body.String(), first)
	for _, p := range append([]int{redirectPort, plainPort}, mapValues(ports)...) {
		waitListen(t, fmt.Sprintf("127.0.0.1:%d", p))
	}
	return ports, redirectPort, plainPort
}

func mapValues(m map[string]int) []int {
	var v []int
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

func waitListen(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 10s", addr)
}

// startGoTLS serves HTTPS with crypto/tls (what OpenSSL 3 will not: 3DES,
// RC4, SHA-1 and RSA-1024 certificates) and HSTS for a year.
func startGoTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", hstsYear)
			w.Write([]byte("ok\n"))
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          quietLog(),
	}
	// Serve rather than ServeTLS: ServeTLS refuses configurations without
	// the suites HTTP/2 requires, which the weak fixtures are.
	cfg.NextProtos = []string{"http/1.1"}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// serveIssuer serves der over plain HTTP on loopback, as a CA serves its
// intermediate at the leaf's AIA URL, and returns the URL.
func serveIssuer(t *testing.T, der []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Write(der)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/intermediate.der"
}

// tlsgateConfig is the server config tlsgate builds for a site on the
// default profile.
func tlsgateConfig(t *testing.T, cert *tls.Certificate) *tls.Config {
	t.Helper()
	c, err := tlspolicy.Server(tlspolicy.Options{Profile: tlspolicy.Intermediate,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startFixtures builds the PKI and every server and returns the fixtures
// with their designs.
func startFixtures(t *testing.T) (*pki, []*fixture) {
	t.Helper()
	dir := t.TempDir()
	p := newPKI(t, dir)
	ec := func(name string, o pkitest.Odd) (string, string) { return p.write(t, name, p.leaf(t, o)) }
	goodCert, goodKey := ec("good", pkitest.Odd{})
	rsaCert, rsaKey := ec("rsa", pkitest.Odd{Leaf: pkitest.Leaf{RSA: true}})
	// Expired ten minutes ago, inside the root's validity (from an hour ago),
	// so that the chain itself is sound.
	expCert, expKey := ec("expired", pkitest.Odd{Leaf: pkitest.Leaf{NotBefore: time.Now().Add(-50 * time.Minute), NotAfter: time.Now().Add(-10 * time.Minute)}})
	wrongCert, wrongKey := ec("wrong", pkitest.Odd{Leaf: pkitest.Leaf{Names: []string{"other.test"}}})
	selfCert, selfKey := p.write(t, "self", pkitest.SelfSigned(t, pkitest.Odd{Leaf: pkitest.Leaf{Names: []string{fixtureHost}, NotAfter: time.Now().Add(90 * 24 * time.Hour)}}))
	inter := p.root.Intermediate(t, "tlsgate scan test intermediate")
	aia := serveIssuer(t, inter.Cert.Raw)
	noInt := inter.IssueOdd(t, pkitest.Odd{Leaf: pkitest.Leaf{Names: []string{fixtureHost}, NotAfter: time.Now().Add(90 * 24 * time.Hour)}, IssuerURL: aia})
	noIntCert, noIntKey := p.write(t, "nointermediate", noInt)

	modernCiphers := "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"
	nginx := []nginxServer{
		{name: "tls13-only", cert: goodCert, key: goodKey, protocols: "TLSv1.3", hsts: hstsYear},
		{name: "modern", cert: goodCert, key: goodKey, protocols: "TLSv1.2 TLSv1.3", ciphers: modernCiphers, hsts: hstsYear},
		{name: "legacy-tls10", cert: goodCert, key: goodKey, protocols: "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
			ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0", hsts: hstsYear},
		{name: "cbc-static-rsa", cert: rsaCert, key: rsaKey, protocols: "TLSv1.2",
			ciphers: "AES128-SHA:AES256-SHA:AES128-SHA256:AES256-SHA256:@SECLEVEL=0", hsts: hstsYear},
		{name: "no-hsts", cert: goodCert, key: goodKey, protocols: "TLSv1.2 TLSv1.3", ciphers: modernCiphers},
		{name: "short-hsts", cert: goodCert, key: goodKey, protocols: "TLSv1.2 TLSv1.3", ciphers: modernCiphers, hsts: "max-age=86400"},
		{name: "expired", cert: expCert, key: expKey, protocols: "TLSv1.2 TLSv1.3", ciphers: modernCiphers, hsts: hstsYear},
		{name: "self-signed", cert: selfCert, key: selfKey, protocols: "TLSv1.2 TLSv1.3", ciphers: modernCiphers, hsts: hstsYear},
		{name: "wrong-host", cert: wrongCert, key: wrongKey, protocols: "TLSv1.2 TLSv1.3", ciphers: modernCiphers, hsts: hstsYear},
		{name: "no-intermediate", cert: noIntCert, key: noIntKey, protocols: "TLSv1.2 TLSv1.3", ciphers: modernCiphers, hsts: hstsYear},
	}
	ports, redirectPort, plainPort := startNginxFixtures(t, dir, nginx)
	at := func(name string) string { return fmt.Sprintf("127.0.0.1:%d", ports[name]) }

	both := []string{"TLS 1.2", "TLS 1.3"}
	fx := []*fixture{
		{name: "tls13-only", addr: at("tls13-only"), testssl: nil, want: want{grade: "A+", protocols: []string{"TLS 1.3"}, caps: []string{"a_plus"},
			absent: []string{"cipher.cbc", "http.hsts_missing"}}},
		{name: "modern", addr: at("modern"), httpPort: redirectPort, testssl: []string{"-p", "-S", "-h"}, want: want{grade: "A+", protocols: both, caps: []string{"a_plus"},
			suites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"}, absent: []string{"http.no_redirect", "cipher.cbc", "tls.no_h2"}}},
		{name: "legacy-tls10", addr: at("legacy-tls10"), testssl: []string{"-p"}, want: want{grade: "B", protocols: []string{"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"},
			caps: []string{"tls10_11"}, findings: []string{"protocol.tls10", "protocol.tls11", "cipher.cbc"}}},
		{name: "cbc-static-rsa", addr: at("cbc-static-rsa"), testssl: []string{"-s"}, want: want{grade: "B", protocols: []string{"TLS 1.2"},
			caps: []string{"no_forward_secrecy", "no_aead"}, findings: []string{"cipher.static_rsa", "cipher.cbc", "cipher.no_forward_secrecy", "cipher.no_aead"},
			suites: []string{"TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA256"}}},
		{name: "no-hsts", addr: at("no-hsts"), httpPort: plainPort, testssl: []string{"--ssl-native", "-h"}, want: want{grade: "A-", protocols: both, caps: []string{"hsts_missing"},
			findings: []string{"http.hsts_missing", "http.no_redirect"}}},
		{name: "short-hsts", addr: at("short-hsts"), testssl: []string{"--ssl-native", "-h"}, want: want{grade: "A-", protocols: both, caps: []string{"hsts_short"}, findings: []string{"http.hsts_short"}}},
		{name: "expired", addr: at("expired"), testssl: []string{"--ssl-native", "-S"}, want: want{grade: "T", ifTrusted: "A+", protocols: both, caps: []string{"untrusted"}, findings: []string{"cert.expired"}}},
		{name: "self-signed", addr: at("self-signed"), testssl: []string{"--ssl-native", "-S"}, want: want{grade: "T", ifTrusted: "A+", protocols: both, caps: []string{"untrusted"}, findings: []string{"cert.self_signed"}}},
		{name: "wrong-host", addr: at("wrong-host"), testssl: []string{"--ssl-native", "-S"}, want: want{grade: "M", ifTrusted: "A+", protocols: both, caps: []string{"name_mismatch"}, findings: []string{"cert.name_mismatch"}}},
		{name: "no-intermediate", addr: at("no-intermediate"), testssl: []string{"--ssl-native", "-S"}, want: want{grade: "B", protocols: both, caps: []string{"chain_incomplete"}, findings: []string{"cert.chain_incomplete"}}},
	}

	// crypto/tls fixtures.
	rsa := p.leaf(t, pkitest.Odd{Leaf: pkitest.Leaf{RSA: true}})
	tls12 := func(suites ...uint16) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{*rsa}, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: suites}
	}
	sha1 := p.leaf(t, pkitest.Odd{Leaf: pkitest.Leaf{RSA: true}, SHA1: true})
	rsa1024 := p.leaf(t, pkitest.Odd{RSABits: 1024})
	good := p.leaf(t, pkitest.Odd{})
	fx = append(fx,
		&fixture{name: "3des", addr: startGoTLS(t, tls12(tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA)), testssl: []string{"-W"},
			want: want{grade: "C", protocols: []string{"TLS 1.2"}, caps: []string{"block64", "no_aead"}, findings: []string{"cipher.64bit_block", "cipher.static_rsa"},
				suites: []string{"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"}}},
		&fixture{name: "rc4", addr: startGoTLS(t, tls12(tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_RC4_128_SHA)), testssl: []string{"-4"},
			want: want{grade: "C", protocols: []string{"TLS 1.2"}, caps: []string{"rc4_modern"}, findings: []string{"cipher.rc4"}}},
		&fixture{name: "sha1-leaf", addr: startGoTLS(t, &tls.Config{Certificates: []tls.Certificate{*sha1}}), testssl: []string{"--ssl-native", "-S"},
			disagree: map[string]string{"chain of trust": "Go's x509, like browsers since 2017, refuses SHA-1 signatures, so tlsgate counts the chain untrusted; " +
				"testssl.sh's openssl verify accepts it and flags SHA-1 only as the signature algorithm (both grade T)"},
			want: want{grade: "T", ifTrusted: "A+", protocols: both, caps: []string{"untrusted"}, findings: []string{"cert.weak_signature"}}},
		&fixture{name: "rsa-1024", addr: startGoTLS(t, &tls.Config{Certificates: []tls.Certificate{*rsa1024}}), testssl: []string{"--ssl-native", "-S"},
			want: want{grade: "B", protocols: both, caps: []string{"weak_key"}, findings: []string{"cert.weak_key"}}},
		&fixture{name: "post-quantum", addr: startGoTLS(t, &tls.Config{Certificates: []tls.Certificate{*good}}),
			want: want{grade: "A+", protocols: both, groups: []string{"X25519MLKEM768", "x25519"}, findings: []string{"kex.post_quantum"}}},
		// tlsgate's own TLS configuration: crypto/tls picks AES-128-GCM
		// over AES-256-GCM whatever the client prefers, unless the
		// client's first suite is ChaCha20, which once made a reversed
		// ClientHello read as "client's order" (TestServerOrder).
		// testssl.sh's -P says "server -- TLS 1.3 client determined": its
		// reversed TLS 1.3 list starts with ChaCha20, which crypto/tls
		// then takes; tlsgate says server's order for TLS 1.3 too, as
		// between the AES suites the server's pick holds.
		&fixture{name: "tlsgate-intermediate", addr: startGoTLS(t, tlsgateConfig(t, good)), testssl: []string{"-P"},
			want: want{grade: "A+", protocols: both, caps: []string{"a_plus"}}},
	)

	// Raw-socket fixtures.
	fx = append(fx,
		&fixture{name: "sslv3", addr: startRaw(t, &rawServer{version: versionSSL30, suite: 0x000A, chain: rsa.Certificate}), testssl: []string{"-p"},
			want: want{grade: "C", protocols: []string{"SSLv3"}, caps: []string{"sslv3", "no_tls12"}, findings: []string{"protocol.sslv3"}, suites: []string{"TLS_RSA_WITH_3DES_EDE_CBC_SHA"}}},
		&fixture{name: "sslv2", addr: startRaw(t, &rawServer{version: versionSSL20, chain: rsa.Certificate}), testssl: []string{"-p"},
			want: want{grade: "F", protocols: []string{"SSLv2"}, caps: []string{"sslv2"}, findings: []string{"protocol.sslv2"}}},
		&fixture{name: "heartbleed", addr: startRaw(t, &rawServer{version: versionTLS12, suite: 0x002F, chain: rsa.Certificate, heartbleed: true}), testssl: []string{"-H"},
			want: want{grade: "F", protocols: []string{"TLS 1.2"}, caps: []string{"heartbleed"}, findings: []string{"tls.heartbleed"}}},
	)
	return p, fx
}
