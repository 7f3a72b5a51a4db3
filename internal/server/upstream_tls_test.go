package server

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// tlsBackend starts an https upstream on loopback with cert and returns its
// URL.
func tlsBackend(t *testing.T, cert *tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls-upstream sni=%s\n", r.TLS.ServerName)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

func TestHTTPSUpstreamVerification(t *testing.T) {
	t.Parallel()
	front := newPKI(t, "localhost")
	upCA := pkitest.NewCA(t, "upstream CA")
	caFile := upCA.WriteRoot(t, t.TempDir())
	good := tlsBackend(t, upCA.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}))
	wrongHost := tlsBackend(t, upCA.Issue(t, pkitest.Leaf{Names: []string{"payments.internal"}}))

	g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    routes:
      - {path: /trusted/, upstreams: [%s], upstream_tls: {ca: %s}}
      - {path: /system-roots/, upstreams: [%s]}
      - {path: /wrong-host/, upstreams: [%s], upstream_tls: {ca: %s}}
      - {path: /named/, upstreams: [%s], upstream_tls: {ca: %s, server_name: payments.internal}}
      - {path: /insecure/, upstreams: [%s], upstream_tls: {insecure_skip_verify: true}}
`, front.certFile, front.keyFile, good, caFile, good, wrongHost, caFile, wrongHost, caFile, good))
	c := front.client(g.https, false)
	cases := []struct {
		path   string
		status int
		body   string
		log    string
	}{
		{"/trusted/x", 200, "tls-upstream sni=\n", ""}, // no SNI for an IP, as RFC 6066 says
		{"/system-roots/x", 502, "", "certificate signed by unknown authority"},
		{"/wrong-host/x", 502, "", "cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"},
		{"/named/x", 200, "tls-upstream sni=payments.internal\n", ""},
		{"/insecure/x", 200, "tls-upstream sni=\n", ""},
	}
	for _, tc := range cases {
		resp, err := c.Get("https://localhost" + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if tc.log != "" && !strings.Contains(g.logs.String(), tc.log) {
			t.Errorf("%s: no log line saying %q", tc.path, tc.log)
		}
	}
	if !strings.Contains(g.logs.String(), "upstream certificate verification is OFF") {
		t.Error("insecure_skip_verify started without a warning")
	}
}

// TestUpstreamMutualTLSWithNginx puts a real nginx with ssl_verify_client
// on behind the gateway: the route with a client certificate gets through,
// the one without is refused by nginx.
func TestUpstreamMutualTLSWithNginx(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	front := newPKI(t, "localhost")
	ca := pkitest.NewCA(t, "service CA")
	caFile := ca.WriteRoot(t, dir)
	srvCert, srvKey := pkitest.WriteFiles(t, dir, "nginx", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}))
	cliCert, cliKey := pkitest.WriteFiles(t, dir, "gateway", ca.Issue(t, pkitest.Leaf{Names: []string{"gateway.internal"}, Client: true}))
	port := testpeer.FreePort(t)
	testpeer.StartNginx(t, dir, fmt.Sprintf(`
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_client_certificate %s;
    ssl_verify_client on;
    location / { return 200 "nginx-mtls $ssl_client_verify $ssl_client_s_dn\n"; }
  }`, port, srvCert, srvKey, caFile), fmt.Sprintf("127.0.0.1:%d", port))

	up := fmt.Sprintf("https://127.0.0.1:%d", port)
	g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    routes:
      - {path: /with-cert/, upstreams: [%s], upstream_tls: {ca: %s, client_cert: %s, client_key: %s}}
      - {path: /without-cert/, upstreams: [%s], upstream_tls: {ca: %s}}
`, front.certFile, front.keyFile, up, caFile, cliCert, cliKey, up, caFile))
	c := front.client(g.https, false)
	get := func(path string) (int, string) {
		resp, err := c.Get("https://localhost" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/with-cert/x"); code != 200 || body != "nginx-mtls SUCCESS CN=gateway.internal\n" {
		t.Fatalf("with the client certificate: %d %q", code, body)
	}
	if code, body := get("/without-cert/x"); code != 400 || !strings.Contains(body, "No required SSL certificate was sent") {
		t.Fatalf("without a client certificate nginx must refuse: %d %q", code, body)
	}
}

// TestUpstreamInternalClientCert: the gateway presents a client
// certificate the internal CA issued it, to an nginx that trusts only that
// CA's root.
func TestUpstreamInternalClientCert(t *testing.T) {
	t.Parallel()
	dir, data := t.TempDir(), t.TempDir()
	front := newPKI(t, "localhost")
	upCA := pkitest.NewCA(t, "upstream server CA")
	upCAFile := upCA.WriteRoot(t, dir)
	srvCert, srvKey := pkitest.WriteFiles(t, dir, "nginx", upCA.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}))
	port := testpeer.FreePort(t)
	g := startGateway(t, fmt.Sprintf(`
data_dir: %s
listen: {https: "127.0.0.1:0", http: off}
sites:
  - hosts: [localhost]
    tls: {certificate: {cert: %s, key: %s}}
    routes:
      - {path: /, upstreams: ["https://127.0.0.1:%d"], upstream_tls: {ca: %s, internal_client_cert: gateway.internal}}
`, data, front.certFile, front.keyFile, port, upCAFile))
	root := filepath.Join(data, "ca", "root.pem") // made by the gateway at start
	testpeer.StartNginx(t, dir, fmt.Sprintf(`
  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;
    ssl_client_certificate %s; ssl_verify_client on; ssl_verify_depth 2;
    location / { return 200 "$ssl_client_verify $ssl_client_s_dn"; } }`, port, srvCert, srvKey, root), fmt.Sprintf("127.0.0.1:%d", port))
	resp, err := front.client(g.https, false).Get("https://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "SUCCESS CN=gateway.internal" {
		t.Fatalf("internal client certificate to nginx: %d %q", resp.StatusCode, body)
	}
}
