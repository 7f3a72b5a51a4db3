package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/dns01"
	"github.com/tlsgate/tlsgate/internal/ech"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// TestECHShowServeScan: 'tlsgate ech show' prints the config a gateway
// then serves (before it ever ran); the gateway publishes the same in its
// HTTPS record at Knot; Go's ECH client with the printed config reaches
// the inner site; 'tlsgate scan' reads the record and reports ECH
// accepted.
func TestECHShowServeScan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := testpeer.StartKnot(t, filepath.Join(dir, "knot"), testpeer.KnotZone{Name: "example.test"})
	data := filepath.Join(dir, "data")
	httpsPort := testpeer.FreePort(t)
	cfg := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:%d", http: off}
log: {format: json}
ech:
  public_name: public.example.test
  publish: {zone: example.test, names: [api.example.test], ttl: 60s}
acme:
  dns: {provider: rfc2136, server: %q, key_name: %q, key_file: %q}
sites:
  - hosts: [public.example.test]
    routes: [{upstreams: [%q]}]
  - hosts: [api.example.test]
    routes: [{upstreams: [%q]}]
`, data, httpsPort, k.Addr, k.KeyName, k.SecretFile, httpBackend(t), httpBackend(t))), 0o600)

	if out, errOut, code := runCLI(t, nil, "config", "validate", cfg); code != 0 || !strings.Contains(out, "Encrypted Client Hello: on, public name public.example.test") {
		t.Errorf("config validate: exit %d\n%s%s", code, out, errOut)
	}
	stdout, stderr, code := runCLI(t, nil, "ech", "show", "--config", cfg, "--format", "json")
	if code != 0 {
		t.Fatalf("ech show: exit %d\n%s", code, stderr)
	}
	var show struct {
		PublicName string   `json:"public_name"`
		ConfigList string   `json:"config_list"`
		Records    []string `json:"records"`
	}
	if err := json.Unmarshal([]byte(stdout), &show); err != nil {
		t.Fatalf("ech show --format json: %v\n%s", err, stdout)
	}
	list, err := base64.StdEncoding.DecodeString(show.ConfigList)
	if err != nil || show.PublicName != "public.example.test" || len(show.Records) != 1 ||
		!strings.HasPrefix(show.Records[0], "api.example.test.\t60\tIN\tHTTPS\t1 . alpn=\"h3,h2,http/1.1\" ech=\""+show.ConfigList+"\"") {
		t.Fatalf("ech show printed %+v", show)
	}
	text, _, code := runCLI(t, nil, "ech", "show", "--config", cfg)
	if code != 0 || !strings.Contains(text, show.ConfigList) || !strings.Contains(text, "public name:  public.example.test") {
		t.Errorf("ech show (text): exit %d\n%s", code, text)
	}

	p := start(t, nil, "serve", "--config", cfg)
	waitFor(t, "serving", p.errOut, `"msg":"serving"`)
	waitFor(t, "the DNS update", p.errOut, `"msg":"published the ECH config in DNS"`)

	rootPEM, err := os.ReadFile(filepath.Join(data, "ca", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	raw, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, &tls.Config{ServerName: "api.example.test", RootCAs: roots, EncryptedClientHelloConfigList: list})
	if err := c.Handshake(); err != nil {
		t.Fatalf("ECH handshake with the printed config: %v", err)
	}
	cs := c.ConnectionState()
	c.Close()
	if !cs.ECHAccepted || !slices.Contains(cs.PeerCertificates[0].DNSNames, "api.example.test") {
		t.Errorf("ECHAccepted %v, certificate for %v", cs.ECHAccepted, cs.PeerCertificates[0].DNSNames)
	}

	args := []string{"scan", "--ca", filepath.Join(data, "ca", "root.pem"), "--http-port", "0", "--ip", "127.0.0.1",
		"--dns-server", k.Addr, fmt.Sprintf("api.example.test:%d", httpsPort)}
	out, serr, code := runCLI(t, nil, append(args, "--format", "json")...)
	if code != 0 {
		t.Fatalf("scan: exit %d\n%s", code, serr)
	}
	var r struct {
		Features struct {
			ECH *struct {
				Published  bool   `json:"published"`
				PublicName string `json:"public_name"`
				Accepted   bool   `json:"accepted"`
			} `json:"ech"`
		} `json:"features"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if e := r.Features.ECH; e == nil || !e.Published || !e.Accepted || e.PublicName != "public.example.test" {
		t.Errorf("scan's ECH: %+v\n%s", e, out)
	}
	out, _, _ = runCLI(t, nil, args...)
	if !strings.Contains(out, "Encrypted Client Hello: published (public name public.example.test), accepted") {
		t.Errorf("scan's text report lacks the ECH line:\n%s", out)
	}
	// A name without an HTTPS record: no ECH.
	out, _, _ = runCLI(t, nil, "scan", "--ca", filepath.Join(data, "ca", "root.pem"), "--http-port", "0", "--ip", "127.0.0.1",
		"--dns-server", k.Addr, fmt.Sprintf("public.example.test:%d", httpsPort))
	if !strings.Contains(out, "Encrypted Client Hello: no") {
		t.Errorf("scan of a name without a record:\n%s", out)
	}

	// Records the gateway does not hold the keys of, put in place of the
	// one it published: with its public name (stale: retry configs), then
	// with another public name (refused); each is a finding.
	secret, err := os.ReadFile(k.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	prov := &dns01.RFC2136{Server: k.Addr, KeyName: k.KeyName, Secret: strings.TrimSpace(string(secret))}
	for _, c := range []struct{ name, publicName, finding string }{
		{"api.example.test", "public.example.test", "ech.stale"},
		{"api.example.test", "other.example.test", "ech.refused"},
	} {
		foreign, _, err := ech.Ring{}.Update(ech.Settings{PublicName: c.publicName, Rotate: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := prov.ReplaceHTTPS(context.Background(), "example.test", dns01.HTTPSRecord{Name: c.name, TTL: time.Minute, ALPN: []string{"h2"}, ECH: foreign.PublishedList()}); err != nil {
			t.Fatal(err)
		}
		out, _, _ := runCLI(t, nil, "scan", "--ca", filepath.Join(data, "ca", "root.pem"), "--http-port", "0", "--ip", "127.0.0.1",
			"--dns-server", k.Addr, "--format", "json", fmt.Sprintf("%s:%d", c.name, httpsPort))
		var r struct {
			Findings []struct{ ID string }
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !slices.ContainsFunc(r.Findings, func(f struct{ ID string }) bool { return f.ID == c.finding }) {
			t.Errorf("scan with a record of public name %s: no %s finding\n%s", c.publicName, c.finding, out)
		}
	}
	// An address has no HTTPS record: no ECH check.
	out, _, _ = runCLI(t, nil, "scan", "--ca", filepath.Join(data, "ca", "root.pem"), "--http-port", "0",
		"--dns-server", k.Addr, fmt.Sprintf("127.0.0.1:%d", httpsPort))
	if strings.Contains(out, "Encrypted Client Hello") {
		t.Errorf("scan of an address checked ECH:\n%s", out)
	}
}

// TestDemoECH: the demo serves ECH (public name ech.localhost) and prints
// the config a client needs; Go's client with it reaches localhost.
func TestDemoECH(t *testing.T) {
	t.Parallel()
	p := start(t, nil, "demo", "--https", "127.0.0.1:0", "--http", "off", "--admin", "off", "--data-dir", t.TempDir(), "--log-format", "json")
	waitFor(t, "the printed instructions", p.out, `Press Ctrl-C to stop`)
	port := waitFor(t, "the HTTPS address", p.out, `HTTPS  https://localhost:(\d+)`)[1]
	root := waitFor(t, "the CA root", p.out, `Local CA root: (\S+)`)[1]
	b64 := waitFor(t, "the ECH config", p.out, `Encrypted Client Hello: on, public name ech\.localhost\.[^\n]*\n[^\n]*\n  (\S+)`)[1]
	list, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	raw, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, &tls.Config{ServerName: "localhost", RootCAs: roots, EncryptedClientHelloConfigList: list})
	if err := c.Handshake(); err != nil {
		t.Fatalf("ECH handshake with the demo's config: %v", err)
	}
	if !c.ConnectionState().ECHAccepted {
		t.Error("the demo did not accept ECH")
	}
	// The check the demo prints works as printed.
	printed := waitFor(t, "the ECH check", p.out, `\n  tlsgate (scan --ca \S+ --ech-config \S+ localhost:\d+)\n`)[1]
	out, serr, code := runCLI(t, nil, append(strings.Fields(printed), "--http-port", "0")...)
	if !strings.Contains(out, "Encrypted Client Hello: the given config (public name ech.localhost) is accepted") {
		t.Errorf("the printed scan (exit %d) does not report ECH accepted:\n%s\n%s", code, out, serr)
	}
	// A config of other keys is rejected, with retry configs.
	foreign, _, err := ech.Ring{}.Update(ech.Settings{PublicName: "ech.localhost", Rotate: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCLI(t, nil, "scan", "--ca", root, "--http-port", "0", "--format", "json", "--ech-config", base64.StdEncoding.EncodeToString(foreign.PublishedList()), "localhost:"+port)
	var r struct {
		Features struct {
			ECH *struct {
				Given, Published, Accepted bool
				Retry                      bool `json:"retry_configs"`
			} `json:"ech"`
		} `json:"features"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if e := r.Features.ECH; e == nil || !e.Given || e.Published || e.Accepted || !e.Retry {
		t.Errorf("scan with a foreign ECH config: %+v\n%s", e, out)
	}
}
