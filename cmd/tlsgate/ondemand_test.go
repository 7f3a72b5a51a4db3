package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/plan"
)

// TestCertsListOnDemand: `certs list` shows an on-demand site's names as
// its storage holds them (obtained during handshakes), not its patterns;
// names another site lists stay that site's.
func TestCertsListOnDemand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const directory = "https://127.0.0.1:1/dir"
	cfgPath := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir: %s
acme: {directory: "%s", email: od@example.com}
sites:
  - hosts: ["*", fixed.example.com]
    tls: {certificate: {acme: {on_demand: {ask: "http://127.0.0.1:1/ask"}}}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
  - hosts: [api.example.com]
    tls: {certificate: {source: acme}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`, filepath.Join(dir, "data"), directory)), 0o600)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	store, _, err := plan.StorageOf(cfg).Open(cfg, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ca := pkitest.NewCA(t, "Stored CA")
	issuer := (&certmagic.ACMEIssuer{CA: directory}).IssuerKey()
	for _, name := range []string{"shop.customer1.com", "www.customer2.net", "api.example.com"} {
		certPEM, _ := pkitest.EncodePEM(t, ca.Issue(t, pkitest.Leaf{Names: []string{name}}))
		if err := store.Store(context.Background(), certmagic.StorageKeys.SiteCert(issuer, name), certPEM); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := runCLI(t, nil, "certs", "list", "--config", cfgPath, "--json")
	if code != 0 {
		t.Fatalf("certs list: exit %d\n%s", code, errOut)
	}
	var rows []struct {
		Name string `json:"name"`
		Site string `json:"site"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Name] = r.Site
	}
	want := map[string]string{"fixed.example.com": "*", "shop.customer1.com": "*", "www.customer2.net": "*", "api.example.com": "api.example.com"}
	for n, s := range want {
		if got[n] != s {
			t.Errorf("certs list: %s in site %q, want %q (all rows: %v)", n, got[n], s, got)
		}
	}
	if _, ok := got["*"]; ok || len(got) != len(want) {
		t.Errorf("certs list rows %v, want exactly %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}
