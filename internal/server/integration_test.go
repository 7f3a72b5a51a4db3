package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// oneSite is a config with one files-backed site on loopback.
func oneSite(p *pki, profile, upstream string, extra string) string {
	return fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: "127.0.0.1:0"}
log: {format: text}
timeouts: {upstream_response: 2s, read_header: 2s}
sites:
  - hosts: [localhost, 127.0.0.1]
    tls:
      profile: %s
      certificate: {cert: %s, key: %s}
    routes:
      - {path: /, upstreams: [%s]}
%s`, profile, p.certFile, p.keyFile, upstream, extra)
}

func TestProtocolVersionsOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := testpeer.Require(t, "openssl")
	p := newPKI(t, "localhost", "127.0.0.1")
	inter := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	modern := startGateway(t, oneSite(p, "modern", backend(t, "a"), ""))

	// OpenSSL 3 refuses TLS 1.0/1.1 itself at the default security level:
	// SECLEVEL=0 makes it really offer them, so the refusal is the server's.
	cases := []struct {
		name string
		addr string
		args []string
		ok   bool
	}{
		{"intermediate/tls1.0", inter.https, []string{"-tls1", "-cipher", "DEFAULT@SECLEVEL=0"}, false},
		{"intermediate/tls1.1", inter.https, []string{"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}, false},
		{"intermediate/tls1.2", inter.https, []string{"-tls1_2"}, true},
		{"intermediate/tls1.3", inter.https, []string{"-tls1_3"}, true},
		{"modern/tls1.1", modern.https, []string{"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}, false},
		{"modern/tls1.2", modern.https, []string{"-tls1_2"}, false},
		{"modern/tls1.3", modern.https, []string{"-tls1_3"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"s_client", "-connect", tc.addr, "-servername", "localhost", "-CAfile", p.root, "-verify_return_error"}, tc.args...)
			out, err := run(t, openssl, args...)
			handshook := err == nil && strings.Contains(out, "Verify return code: 0 (ok)")
			if handshook != tc.ok {
				t.Fatalf("handshake succeeded=%v, want %v\n%s", handshook, tc.ok, out)
			}
		})
	}
}

// TestTLS12CipherSuites offers every TLS 1.2 cipher OpenSSL knows, one at a
// time, and checks that only ECDHE key exchange with AEAD encryption is
// accepted, for an ECDSA and an RSA certificate.
func TestTLS12CipherSuites(t *testing.T) {
	t.Parallel()
	openssl := testpeer.Require(t, "openssl")
	out, err := run(t, openssl, "ciphers", "-s", "-tls1_2", "ALL:COMPLEMENTOFALL:@SECLEVEL=0")
	if err != nil {
		t.Fatalf("openssl ciphers: %v\n%s", err, out)
	}
	var all []string
	for _, c := range strings.Split(strings.TrimSpace(out), ":") {
		if !strings.HasPrefix(c, "TLS_") { // TLS 1.3 suites are not negotiable in 1.2
			all = append(all, c)
		}
	}
	if len(all) < 30 {
		t.Fatalf("openssl lists only %d TLS 1.2 ciphers: %v", len(all), all)
	}
	for _, rsa := range []bool{false, true} {
		t.Run(fmt.Sprintf("rsa=%v", rsa), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ca := pkitest.NewCA(t, "suite CA")
			certFile, keyFile := pkitest.WriteFiles(t, dir, "s", ca.Issue(t, pkitest.Leaf{Names: []string{"localhost"}, RSA: rsa}))
			g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: "off"}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{path: /, upstreams: ["http://127.0.0.1:1"]}]
log: {access: false}
`, certFile, keyFile))
			var accepted []string
			for _, c := range all {
				out, err := run(t, openssl, "s_client", "-connect", g.https, "-servername", "localhost",
					"-tls1_2", "-cipher", c+":@SECLEVEL=0")
				if err == nil && strings.Contains(out, "Cipher is "+c) {
					accepted = append(accepted, c)
				}
			}
			want := []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"}
			if rsa {
				want = []string{"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"}
			}
			slices.Sort(accepted)
			if !slices.Equal(accepted, want) {
				t.Fatalf("TLS 1.2 suites accepted: %v\nwant exactly: %v", accepted, want)
			}
		})
	}
}

func TestGoClientVersions(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("%s handshake succeeded", tls.VersionName(v))
		}
	}
	conn, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if cs := conn.ConnectionState(); cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != "h2" {
		t.Fatalf("default Go client got %s / ALPN %q, want TLS 1.3 / h2", tls.VersionName(cs.Version), cs.NegotiatedProtocol)
	}
}

func TestHeadersAndHTTP2WithCurl(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	port := g.https[strings.LastIndex(g.https, ":")+1:]
	url := "https://localhost:" + port + "/x?q=1"
	resolve := "localhost:" + port + ":127.0.0.1"

	for _, proto := range []struct{ flag, want string }{{"--http2", "2"}, {"--http1.1", "1.1"}} {
		out, err := run(t, curl, "-sS", "-D", "-", "-o", "/dev/null", "-w", "version=%{http_version}\n",
			"--cacert", p.root, "--resolve", resolve, proto.flag, url)
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", proto.flag, err, out)
		}
		lower := strings.ToLower(out)
		for _, h := range []string{
			"strict-transport-security: max-age=31536000; includesubdomains\r\n",
			"x-content-type-options: nosniff\r\n",
			"x-frame-options: deny\r\n",
			"referrer-policy: strict-origin-when-cross-origin\r\n",
			"x-request-id: ",
		} {
			if !strings.Contains(lower, h) {
				t.Errorf("curl %s: response lacks %q:\n%s", proto.flag, strings.TrimSpace(h), out)
			}
		}
		if !strings.Contains(out, "version="+proto.want+"\n") {
			t.Errorf("curl %s negotiated %s", proto.flag, out[strings.LastIndex(out, "version="):])
		}
	}

	// Plain HTTP: a redirect and nothing else, no HSTS.
	out, err := run(t, curl, "-sS", "-D", "-", "-o", "/dev/null", "http://localhost:"+g.http[strings.LastIndex(g.http, ":")+1:]+"/x?q=1",
		"--resolve", "localhost:"+g.http[strings.LastIndex(g.http, ":")+1:]+":127.0.0.1")
	if err != nil {
		t.Fatalf("curl http: %v\n%s", err, out)
	}
	lower := strings.ToLower(out)
	for _, h := range []string{"strict-transport-security", "x-frame-options", "x-content-type-options", "referrer-policy"} {
		if strings.Contains(lower, h) {
			t.Errorf("plain HTTP response carries %s:\n%s", h, out)
		}
	}
	if !strings.Contains(out, "HTTP/1.1 301") || !strings.Contains(out, "Location: https://localhost:"+port+"/x?q=1\r\n") {
		t.Errorf("plain HTTP answer is not the expected redirect:\n%s", out)
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	httpsPort := g.https[strings.LastIndex(g.https, ":")+1:]
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 5 * time.Second}
	cases := []struct {
		method, host, path string
		code               int
		location           string
	}{
		{"GET", "localhost", "/a/b?c=d&e", 301, "https://localhost:" + httpsPort + "/a/b?c=d&e"},
		{"HEAD", "localhost", "/", 301, "https://localhost:" + httpsPort + "/"},
		{"POST", "localhost", "/pay", 308, "https://localhost:" + httpsPort + "/pay"},
		{"PUT", "127.0.0.1:80", "/x", 308, "https://127.0.0.1:" + httpsPort + "/x"},
		{"DELETE", "LOCALHOST", "/x", 308, "https://localhost:" + httpsPort + "/x"},
		{"GET", "evil.example", "/", 421, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.host, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://"+g.http+tc.path, strings.NewReader("body"))
			req.Host = tc.host
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.location {
				t.Fatalf("%s %s: %d Location=%q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.code, tc.location)
			}
			if resp.Header.Get("Strict-Transport-Security") != "" {
				t.Fatal("HSTS on plain HTTP")
			}
		})
	}
}

func TestSNISelectsSiteAndRejectsUnknown(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	openssl := testpeer.Require(t, "openssl")
	pa := newPKI(t, "a.test")
	pb := newPKI(t, "b.test")
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

	for _, tc := range []struct{ sni, root, backend string }{{"a.test", pa.root, "A"}, {"b.test", pb.root, "B"}} {
		out, err := run(t, openssl, "s_client", "-connect", g.https, "-servername", tc.sni, "-CAfile", tc.root, "-verify_return_error")
		if err != nil || !strings.Contains(out, "subject=CN = "+tc.sni) {
			t.Errorf("SNI %s: wrong certificate or failed handshake: %v\n%s", tc.sni, err, out)
		}
		port := g.https[strings.LastIndex(g.https, ":")+1:]
		body, err := run(t, curl, "-sS", "--cacert", tc.root, "--resolve", tc.sni+":"+port+":127.0.0.1", "https://"+tc.sni+":"+port+"/")
		if err != nil || !strings.Contains(body, "backend="+tc.backend) {
			t.Errorf("SNI %s routed wrongly: %v %s", tc.sni, err, body)
		}
	}

	port := g.https[strings.LastIndex(g.https, ":")+1:]
	out, err := run(t, curl, "-sS", "--cacert", pa.root, "--resolve", "unknown.test:"+port+":127.0.0.1", "https://unknown.test:"+port+"/")
	if err == nil || !strings.Contains(out, "unrecognized name") {
		t.Errorf("unknown SNI: want a TLS unrecognized_name alert, got err=%v\n%s", err, out)
	}

	// A connection made for a.test must not serve b.test (different
	// certificate and policy): 421 Misdirected Request.
	c := pa.client(g.https, true)
	req, _ := http.NewRequest("GET", "https://a.test/", nil)
	req.Host = "b.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host b.test on an a.test connection: %d %s, want 421", resp.StatusCode, b)
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	good := backend(t, "good")
	g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
timeouts: {upstream_response: 500ms}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    routes:
      - {path: /down/, upstreams: ["http://%s"]}
      - {path: /slow/, upstreams: [%s]}
      - {path: /, upstreams: [%s]}
`, p.certFile, p.keyFile, testpeer.ClosedAddr(t), good, good))
	c := p.client(g.https, true)
	cases := []struct {
		path string
		code int
	}{
		{"/down/x", 502},
		{"/slow/x?sleep=3s", 504},
		{"/ok", 200},
	}
	for _, tc := range cases {
		resp, err := c.Get("https://localhost" + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Fatalf("%s: %d %s, want %d", tc.path, resp.StatusCode, body, tc.code)
		}
		if tc.code >= 500 {
			var e struct {
				Error     string `json:"error"`
				Status    int    `json:"status"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Status != tc.code || e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
				t.Errorf("%s: error body %q is not the JSON error with request ID (%v)", tc.path, body, err)
			}
			if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Strict-Transport-Security") == "" {
				t.Errorf("%s: error response headers %v", tc.path, resp.Header)
			}
		}
	}
	if !strings.Contains(g.logs.String(), "upstream error") {
		t.Errorf("no log line for the upstream failures:\n%s", g.logs.String())
	}
}

func TestForwardingHeaders(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	c := p.client(g.https, true)
	req, _ := http.NewRequest("GET", "https://localhost/h", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Request-Id", "forged-id")
	req.Header.Set("Forwarded", "for=203.0.113.9")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("backend=a path=/h xff=127.0.0.1 proto=https host=localhost reqid=%s\n", resp.Header.Get("X-Request-Id"))
	if string(body) != want || strings.Contains(string(body), "forged") {
		t.Fatalf("backend saw:\n%s\nwant:\n%s", body, want)
	}
}

func TestSessionResumption(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	cfg := &tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := cfg.Clone()
		cfg.MaxVersion = v
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		var resumed []bool
		for i := 0; i < 2; i++ {
			conn, err := tls.Dial("tcp", g.https, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// TLS 1.3 tickets arrive after the handshake: read to receive them.
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			conn.Read(make([]byte, 1))
			resumed = append(resumed, conn.ConnectionState().DidResume)
			conn.Close()
		}
		if resumed[0] || !resumed[1] {
			t.Errorf("%s: resumed = %v, want [false true]", tls.VersionName(v), resumed)
		}
	}
}

func TestSlowClientHeaderTimeout(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), "")) // read_header: 2s
	// A TCP connection that never starts the handshake is closed.
	conn, err := net.Dial("tcp", g.https)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if err == nil || time.Since(start) > 8*time.Second {
		t.Fatalf("idle pre-handshake connection not closed by the server (err=%v after %s)", err, time.Since(start))
	}
	// A TLS client that sends half a request header is cut off too.
	tc, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: localhost\r\n")
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	start = time.Now()
	b, _ := io.ReadAll(tc)
	if time.Since(start) > 8*time.Second || strings.Contains(string(b), "200 OK") {
		t.Fatalf("half-sent header not timed out: %q after %s", b, time.Since(start))
	}
}

// TestCertificateHotReloadUnderLoad replaces the certificate files while
// clients make new connections in a bounded loop: every request must
// succeed, and handshakes after the change must see the new certificate.
func TestCertificateHotReloadUnderLoad(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	oldSerial := leafOf(t, p.certFile).SerialNumber

	var failures, requests atomic.Int64
	var sawNew atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000 && ctx.Err() == nil; i++ { // bounded in count and time
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost"}, DisableKeepAlives: true}
				c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
				resp, err := c.Get("https://" + g.https + "/")
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("request failed during reload: %v", err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
				if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(oldSerial) != 0 {
					sawNew.Store(true)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	// Replace the files as certbot does: write new files, rename over.
	newCert := p.ca.Issue(t, pkitest.Leaf{Names: []string{"localhost", "127.0.0.1"}})
	certPEM, keyPEM := pkitest.EncodePEM(t, newCert)
	writeRename(t, p.keyFile, keyPEM, 0o600)
	writeRename(t, p.certFile, certPEM, 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for !sawNew.Load() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	if !sawNew.Load() {
		t.Fatalf("no handshake saw the new certificate within 5s (%d requests)", requests.Load())
	}
	if failures.Load() > 0 || requests.Load() < 20 {
		t.Fatalf("%d of %d requests failed", failures.Load(), requests.Load())
	}
	t.Logf("%d requests across the certificate change, none failed", requests.Load())

	// A broken replacement is refused and the last good one keeps serving.
	writeRename(t, p.certFile, []byte("not a certificate"), 0o644)
	time.Sleep(800 * time.Millisecond)
	conn, err := tls.Dial("tcp", g.https, &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatalf("after a broken certificate file: %v", err)
	}
	conn.Close()
	if !strings.Contains(g.logs.String(), "certificate change refused") {
		t.Errorf("no log line refusing the broken certificate")
	}
}

func writeRename(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadConfig(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	a, b := backend(t, "A"), backend(t, "B")
	g := startGateway(t, oneSite(p, "intermediate", a, ""))
	c := p.client(g.https, false)
	var conns atomic.Int32 // new TLS connections the client had to make
	get := func() string {
		req, _ := http.NewRequest("GET", "https://localhost/", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if !info.Reused {
					conns.Add(1)
				}
			},
		}))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if !strings.HasPrefix(get(), "backend=A") {
		t.Fatal("not served by A")
	}
	// A broken config is refused with its line number; A keeps serving on
	// the same kept-alive connection.
	os.WriteFile(g.configPath, []byte(strings.Replace(oneSite(p, "intermediate", b, ""), "profile: intermediate", "profile: tls1.0", 1)), 0o600)
	err := g.srv.Reload()
	if err == nil || !regexp.MustCompile(`tlsgate\.yaml:\d+:\d+: sites\[0\]\.tls\.profile: "tls1.0" is not offered`).MatchString(err.Error()) {
		t.Fatalf("bad reload: err = %v", err)
	}
	if !strings.HasPrefix(get(), "backend=A") {
		t.Fatal("bad config changed routing")
	}
	os.WriteFile(g.configPath, []byte(oneSite(p, "intermediate", b, "")), 0o600)
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(get(), "backend=B") {
		t.Fatal("good config not applied")
	}
	// Both reloads happened under one kept-alive connection: none dropped.
	if n := conns.Load(); n != 1 {
		t.Fatalf("the client needed %d connections across the reloads, want 1 (established connections must survive)", n)
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	c := p.client(g.https, true)
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
		t.Fatalf("in-flight request during shutdown: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", g.https, time.Second); err == nil {
		t.Fatal("listener still accepting after shutdown")
	}
}

// A client may not smuggle forwarding headers past the gateway by spelling
// them with underscores, which CGI-style upstreams treat as dashes.
func TestUnderscoreHeadersDropped(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	var got http.Header
	var mu sync.Mutex
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
	}))
	g := startGateway(t, oneSite(p, "intermediate", up, ""))
	req, _ := http.NewRequest("GET", "https://localhost/", nil)
	req.Header["X_Forwarded_For"] = []string{"203.0.113.7"}
	req.Header["X_Client_Dn"] = []string{"CN=admin"}
	req.Header.Set("X-Ordinary", "kept")
	resp, err := p.client(g.https, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	for k := range got {
		if strings.Contains(k, "_") {
			t.Errorf("upstream received %s: %v", k, got[k])
		}
	}
	if got.Get("X-Ordinary") != "kept" {
		t.Errorf("ordinary header lost: %v", got)
	}
}

// The access line carries what an operator needs to debug a TLS or routing
// problem: TLS version, cipher, SNI, protocol, status, bytes, latency,
// upstream and the request ID the client saw.
func TestAccessLogLine(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	up := backend(t, "a")
	g := startGateway(t, oneSite(p, "intermediate", up, ""))
	resp, err := p.client(g.https, true).Get("https://localhost/logged")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	var line string
	for _, l := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(l, "msg=request") && strings.Contains(l, "path=/logged") {
			line = l
		}
	}
	for _, want := range []string{
		"tls_version=\"TLS 1.3\"", "cipher=TLS_", "sni=localhost", "proto=HTTP/2.0", "status=200",
		fmt.Sprintf("bytes=%d", len(body)), "latency=", "upstream=" + up, "request_id=" + id, "method=GET",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("access line lacks %s:\n%s", want, line)
		}
	}
}

func TestHeaderSizeLimitAndNoH2C(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	// limits.max_header_bytes defaults to 64 KiB: 100 KiB of headers is refused.
	req, _ := http.NewRequest("GET", "https://localhost/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	resp, err := p.client(g.https, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("100 KiB of headers: %d, want 431", resp.StatusCode)
	}
	// No cleartext HTTP/2 on the redirect listener.
	out, err := run(t, curl, "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}", "http://"+g.http+"/")
	if err == nil && strings.TrimSpace(out) == "2" {
		t.Fatalf("the plain-HTTP listener spoke h2c: %s", out)
	}
}
