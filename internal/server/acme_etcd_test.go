package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// TestACMENameAddedWhileEtcdDown: a reload adds a name while the fleet's
// etcd is down, so the gateway can neither look for its certificate nor
// order one. Once etcd is back the gateway orders it by itself. (The
// first storage read of a new name failed, certmagic logged it and never
// managed the name again: it was not served until a restart.)
func TestACMENameAddedWhileEtcdDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	etcd := testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 1)
	key := filepath.Join(dir, "storage.key")
	os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))), 0o600)
	httpsPort, httpPort := testpeer.FreePort(t), testpeer.FreePort(t)
	p := testpeer.StartPebble(t, filepath.Join(dir, "pebble"), testpeer.PebbleOptions{HTTPPort: httpPort, TLSPort: httpsPort})
	endpoints, _ := json.Marshal(etcd.Endpoints)
	up := backend(t, "api")
	yaml := func(hosts ...string) string {
		cfg := fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:%d", http: "127.0.0.1:%d"}
storage: {etcd: {endpoints: %s, encryption_key_file: %s}}
acme: {directory: %s, email: etcd-down-%d@example.com, ca_roots: [%s], challenges: [http-01], profile: default}
sites:
`, filepath.Join(dir, "data"), httpsPort, httpPort, endpoints, key, p.Directory, time.Now().UnixNano(), p.APICAFile)
		for _, h := range hosts {
			cfg += fmt.Sprintf("  - hosts: [%s]\n    tls: {certificate: {source: acme}}\n    routes: [{upstreams: [%q]}]\n", h, up)
		}
		return cfg
	}
	g := startGatewayOpts(t, yaml("before-down.example.com"), Options{})
	e := &acmeEnv{name: "before-down.example.com", g: g, pebble: p, dir: dir}
	roots := p.IssuerRoots(t)
	e.waitCert(t, roots, 60*time.Second, nil)

	etcd.Kill(t, 0)
	if err := os.WriteFile(g.configPath, []byte(yaml("before-down.example.com", "added-down.example.com")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	// Wait (bounded) until reading storage for the new name has failed.
	deadline := time.Now().Add(30 * time.Second)
	for lineWith(g.logs.String(), "added-down.example.com.key from etcd") == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no failed storage read for added-down.example.com logged within 30s:\n%s", g.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := e.handshake("added-down.example.com", roots); err == nil {
		t.Fatal("added-down.example.com served while etcd is down")
	}
	etcd.Restart(t, 0)
	back := time.Now()
	e.name = "added-down.example.com"
	e.waitCert(t, roots, 60*time.Second, nil)
	t.Logf("added-down.example.com served %v after etcd was back", time.Since(back).Round(100*time.Millisecond))
	if n := strings.Count(g.logs.String(), `msg="requesting certificate"`); n != 2 {
		t.Errorf("%d orders for 2 names, want 2", n)
	}
}
