package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// TestSidecarMode: a service that speaks plain HTTP calls an upstream that
// requires mutual TLS, through `tlsgate proxy` on loopback.
func TestSidecarMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "mesh CA")
	caFile := ca.WriteRoot(t, dir)
	cliCert, cliKey := pkitest.WriteFiles(t, dir, "billing", ca.Issue(t, pkitest.Leaf{Names: []string{"billing"}, Client: true}))

	// The upstream requires and verifies client certificates.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{*ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}})},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "payments: caller=%s proto=%s hsts=%q", r.TLS.PeerCertificates[0].Subject.CommonName,
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Strict-Transport-Security"))
	})}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })

	p := start(t, nil, "proxy", "--from", "127.0.0.1:0", "--to", "https://"+ln.Addr().String(),
		"--client-cert", cliCert, "--client-key", cliKey, "--upstream-ca", caFile, "--log-format", "json")
	m := waitFor(t, "the sidecar address", p.out, `sidecar http://(127\.0\.0\.1:\d+) -> `)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + m[1] + "/pay")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `payments: caller=billing proto=http hsts=""` {
		t.Fatalf("through the sidecar: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS on a plain-HTTP sidecar answer")
	}

	// DNS rebinding: a page whose name now resolves to 127.0.0.1 sends its
	// own name as Host. The sidecar refuses it, and forwards IP literals,
	// localhost and the names given with --allow-host.
	p2 := start(t, nil, "proxy", "--from", "127.0.0.1:0", "--to", "https://"+ln.Addr().String(),
		"--client-cert", cliCert, "--client-key", cliKey, "--upstream-ca", caFile, "--allow-host", "billing.sidecar")
	addr2 := waitFor(t, "the second sidecar's address", p2.out, `sidecar http://(127\.0\.0\.1:\d+) -> `)[1]
	_, port, _ := net.SplitHostPort(addr2)
	for host, want := range map[string]int{
		"attacker.example":                421,
		"attacker.example:" + port:        421,
		"localhost:" + port:               200,
		"127.0.0.1:" + port:               200,
		"[::1]:" + port:                   200,
		"billing.sidecar:" + port:         200,
		"BILLING.sidecar.":                200,
		"billing.sidecar.example:" + port: 421,
	} {
		req, _ := http.NewRequest("GET", "http://"+addr2+"/pay", nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 421 && strings.Contains(string(body), "payments:")) {
			t.Errorf("Host %s: %d %q, want %d", host, resp.StatusCode, body, want)
		}
	}
	_, stderr, code := runCLI(t, nil, "proxy", "--from", "127.0.0.1:0", "--to", "https://"+ln.Addr().String(),
		"--client-cert", cliCert, "--client-key", cliKey, "--allow-host", "billing.sidecar:9001")
	if code != 2 || !strings.Contains(stderr, "--allow-host") {
		t.Errorf("--allow-host with a port: exit %d: %s", code, stderr)
	}

	// Plain HTTP is refused anywhere but loopback.
	ifaceAddr := nonLoopbackAddr(t)
	if ifaceAddr != "" {
		_, stderr, code := runCLI(t, nil, "proxy", "--from", ifaceAddr+":0", "--to", "https://"+ln.Addr().String(),
			"--client-cert", cliCert, "--client-key", cliKey)
		if code != 2 || !strings.Contains(stderr, "refusing to accept plain HTTP") {
			t.Fatalf("non-loopback sidecar: exit %d: %s", code, stderr)
		}
	}
	_, stderr, code = runCLI(t, nil, "proxy", "--from", "0.0.0.0:0", "--to", "https://"+ln.Addr().String(),
		"--client-cert", cliCert, "--client-key", cliKey)
	if code != 2 || !strings.Contains(stderr, "refusing to accept plain HTTP") {
		t.Fatalf("0.0.0.0 sidecar: exit %d: %s", code, stderr)
	}
	_, stderr, code = runCLI(t, nil, "proxy", "--from", "127.0.0.1:0", "--to", "http://127.0.0.1:1", "--client-cert", cliCert, "--client-key", cliKey)
	if code != 2 || !strings.Contains(stderr, "apply to https:// upstreams") {
		t.Fatalf("client cert for an http upstream: exit %d: %s", code, stderr)
	}
}

// nonLoopbackAddr returns an IP of this machine that is not loopback, or
// "" (nothing is ever sent to it: the refusal happens before listening).
func nonLoopbackAddr(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}
