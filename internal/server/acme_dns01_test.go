package server

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// TestACMEDNS01Wildcard gets a wildcard certificate from Pebble through
// dns-01: the gateway publishes the TXT record in a real Knot by DNS
// UPDATE with TSIG, Pebble looks it up there (its -dnsserver), and the
// one certificate serves every name under the wildcard. Then a reload adds
// a second wildcard site whose TSIG key Knot refuses: its failure names the
// server and the key, and the first site keeps serving.
func TestACMEDNS01Wildcard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	knot := testpeer.StartKnot(t, filepath.Join(dir, "knot"), testpeer.KnotZone{Name: "example.test"})
	p := testpeer.StartPebble(t, filepath.Join(dir, "pebble"), testpeer.PebbleOptions{DNSServer: knot.Addr})
	wrongKey := filepath.Join(dir, "wrong.key")
	if err := os.WriteFile(wrongKey, []byte("c2VjcmV0IG9mIGFub3RoZXIga2V5IGVudGlyZWx5IQ==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	up := backend(t, "api")
	site := func(host string) string {
		return fmt.Sprintf(`  - hosts: ["%s"]
    tls: {certificate: {source: acme, acme: {profile: default}}}
    routes: [{upstreams: ["%s"]}]
`, host, up)
	}
	email := fmt.Sprintf("dns01-%d@example.com", time.Now().UnixNano())
	yaml := func(extra string) string {
		return fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:0", http: "off"}
acme:
  directory: %s
  email: %s
  ca_roots: [%s]
  challenges: [dns-01]
  dns: {provider: rfc2136, server: "%s", key_name: %s, key_file: %s, resolvers: ["%s"], propagation_timeout: 20s}
sites:
%s%s  - hosts: [localhost]
    routes: [{upstreams: ["%s"]}]
`, filepath.Join(dir, "data"), p.Directory, email, p.APICAFile,
			knot.Addr, knot.KeyName, knot.SecretFile, knot.Addr, site("*.api.example.test"), extra, up)
	}
	e := &acmeEnv{name: "a.api.example.test", pebble: p, dir: dir}
	e.yaml = yaml("")
	e.g = startGatewayOpts(t, e.yaml, Options{})
	roots := p.IssuerRoots(t)

	a := e.waitCert(t, roots, 60*time.Second, nil)
	if !slices.Equal(a.DNSNames, []string{"*.api.example.test"}) {
		t.Fatalf("certificate names %v, want [*.api.example.test]", a.DNSNames)
	}
	b, err := e.handshake("b.api.example.test", roots)
	if err != nil {
		t.Fatalf("b.api.example.test: %v", err)
	}
	if b.SerialNumber.Cmp(a.SerialNumber) != 0 {
		t.Fatalf("b.api.example.test got serial %x, a.api.example.test %x: want the one wildcard certificate", b.SerialNumber, a.SerialNumber)
	}
	if _, err := e.handshake("api.example.test", roots); err == nil {
		t.Errorf("api.example.test itself is not under *.api.example.test, yet a handshake for it succeeded")
	}
	logs := e.g.logs.String()
	if !strings.Contains(logs, "challenges=dns-01") || !strings.Contains(logs, "dns-01 record added") {
		t.Errorf("the log does not show the dns-01 record being added:\n%s", logs)
	}
	// CleanUp runs after validation: the record goes soon after issuance.
	deadline := time.Now().Add(10 * time.Second)
	for txt := knot.TXT(t, "_acme-challenge.api.example.test"); len(txt) > 0; txt = knot.TXT(t, "_acme-challenge.api.example.test") {
		if time.Now().After(deadline) {
			t.Fatalf("TXT _acme-challenge.api.example.test still %q 10s after issuance", txt)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A second wildcard site whose TSIG key Knot refuses.
	bad := strings.Replace(site("*.web.example.test"), "acme: {profile: default}",
		fmt.Sprintf(`acme: {profile: default, dns: {provider: rfc2136, server: "%s", key_name: %s, key_file: %s, resolvers: ["%s"]}}`,
			knot.Addr, knot.KeyName, wrongKey, knot.Addr), 1)
	if err := os.WriteFile(e.g.configPath, []byte(yaml(bad)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`DNS server %s refused the update of _acme-challenge.web.example.test TXT: TSIG key %q not accepted (NOTAUTH/BADSIG) — check key_name, key_algorithm and the secret in key_file`, knot.Addr, knot.KeyName)
	deadline = time.Now().Add(30 * time.Second)
	// slog's text handler escapes the quotes around the key name.
	logged := func() string { return strings.ReplaceAll(e.g.logs.String(), `\"`, `"`) }
	failed := func() bool {
		for _, l := range strings.Split(logged(), "\n") {
			if strings.Contains(l, "level=ERROR") && strings.Contains(l, "certificate request failed") && strings.Contains(l, want) {
				return true
			}
		}
		return false
	}
	for !failed() {
		if time.Now().After(deadline) {
			t.Fatalf("no error line says certificate request failed: %q\nlogs:\n%s", want, e.g.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := knot.TXT(t, "_acme-challenge.web.example.test"); len(got) != 0 {
		t.Errorf("a refused update left TXT %q", got)
	}
	for _, name := range []string{"a.api.example.test", "c.api.example.test"} {
		leaf, err := e.handshake(name, roots)
		if err != nil || leaf.SerialNumber.Cmp(a.SerialNumber) != 0 {
			t.Fatalf("%s after the failing site was added: %v (serial %v, want %x)", name, err, serial(leaf), a.SerialNumber)
		}
	}
}

func serial(c *x509.Certificate) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("%x", c.SerialNumber)
}
