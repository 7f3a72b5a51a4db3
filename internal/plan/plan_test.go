package plan_test

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/plan"
)

const spec = `openapi: 3.1.0
info: {title: T, version: "1"}
servers: [{url: "https://api.example.com/v1"}]
paths:
  /pets:
    get: {responses: {"200": {description: ok}}}
`

func load(t *testing.T, dir, yaml string) *config.Config {
	t.Helper()
	path := filepath.Join(dir, "tlsgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestResolveCreatesNoState: resolving a config with the internal CA as
// certificate source and client trust reads what it names and creates
// nothing: no CA, no ACME store, not even the data dir.
func TestResolveCreatesNoState(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(spec), 0o644)
	cfg := load(t, dir, `data_dir: `+data+`
sites:
  - hosts: [localhost, 127.0.0.1]
    client_auth: {internal_ca: true}
    routes: [{path: /internal/, upstreams: ["http://127.0.0.1:9"], client_auth: require}]
    routes_from: {openapi: spec.yaml, upstreams: ["http://127.0.0.1:9"]}
  - hosts: [api.example.com]
    tls: {certificate: {source: acme}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`)
	g, err := plan.Resolve(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(data); err == nil {
		t.Errorf("Resolve created %s", data)
	}
	s := g.Sites[0]
	if s.Name != "localhost" || s.Certificate.Source != config.SourceInternal || s.ClientTrust == nil || !s.ClientTrust.InternalCA {
		t.Errorf("site 0: %+v", s)
	}
	var got []string
	for _, r := range s.Routes {
		got = append(got, r.Path+" "+string(r.ClientAuth)+" "+r.From)
	}
	for _, o := range s.Spec.Operations {
		got = append(got, o.Method+" "+o.Path+" "+string(o.ClientAuth)+" "+o.From)
	}
	want := []string{"/internal/ require " + filepath.Join(dir, "tlsgate.yaml") + ":5", "GET /v1/pets none spec.yaml:6"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if g.Storage.Etcd != nil || g.Storage.Dir != filepath.Join(data, "acme") {
		t.Errorf("storage: %+v", g.Storage)
	}
	if a := g.Sites[1].Certificate.ACME; !a.HTTP01 || !a.TLSALPN01 || a.Directory == "" {
		t.Errorf("acme settings: %+v", a)
	}
}

// TestResolveErrorsNamePlaces: every problem at once, each at its config
// key, derived routes' upstream TLS included.
func TestResolveErrorsNamePlaces(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(spec), 0o644)
	cfg := load(t, dir, `sites:
  - hosts: [localhost]
    routes:
      - {path: /a/, upstreams: ["https://127.0.0.1:9"], upstream_tls: {client_cert: /nonexistent/c.pem, client_key: /nonexistent/k.pem}}
    routes_from: {openapi: spec.yaml, upstreams: ["https://127.0.0.1:9"], upstream_tls: {ca: /nonexistent/ca.pem}}
    client_auth: {ca: [/nonexistent/clients.pem]}
  - hosts: [files.example.com]
    tls: {certificate: {cert: /nonexistent/f.pem, key: /nonexistent/f.key}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`)
	_, err := plan.Resolve(cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{
		"sites[0].routes[0].upstream_tls.client_cert: ",
		"sites[0].routes_from.upstream_tls.ca: ",
		"sites[0].client_auth.ca[0]: ",
		"sites[1].tls.certificate.cert: ",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no error at %s in:\n%v", key, err)
		}
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 4 {
		t.Errorf("%d problems, want 4:\n%v", n, err)
	}
}

// TestStorageOf: etcd when configured, else the data dir's acme/.
func TestStorageOf(t *testing.T) {
	cfg := &config.Config{DataDir: "/var/lib/tlsgate", Storage: config.Storage{Etcd: &config.Etcd{Endpoints: []string{"https://127.0.0.1:2379"}}}}
	if s := plan.StorageOf(cfg); s.Etcd == nil {
		t.Errorf("etcd configured, storage %+v", s)
	}
	cfg.Storage.Etcd = nil
	if s := plan.StorageOf(cfg); s.Etcd != nil || s.Dir != "/var/lib/tlsgate/acme" {
		t.Errorf("files storage %+v", s)
	}
}

// TestCheckDialsNothing: checking a fleet config reads its files and
// connects nowhere, so no credential leaves the machine and validate
// works offline.
func TestCheckDialsNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600)
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("secret"), 0o600)
	cfg := load(t, dir, `storage:
  etcd: {endpoints: ["http://`+ln.Addr().String()+`"], encryption_key_file: `+key+`, username: gw, password_file: `+pw+`}
sites:
  - hosts: [localhost]
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`)
	start := time.Now()
	if err := plan.Check(cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
		t.Error("Check connected to etcd")
	case <-time.After(300 * time.Millisecond):
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Check took %v", d)
	}
	os.Remove(pw)
	if err := plan.Check(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "storage.etcd: reading the etcd password") {
		t.Errorf("missing password file: %v", err)
	}
}

// TestCheckFileEveryStage: CheckFile reports the config's own problems
// and the files of the sites whose settings have none, in one run; a site
// with a problem in its settings is not resolved (its files would be
// checked against settings that are wrong), nor is storage with one.
func TestCheckFileEveryStage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(path, []byte(`sites:
  - hosts: [a.example.com]
    tls: {profile: modrn, certificate: {cert: /nonexistent/a.pem, key: /nonexistent/a.key}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
  - hosts: [b.example.com]
    tls: {certificate: {cert: /nonexistent/b.pem, key: /nonexistent/b.key}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
    bogus: 1
  - hosts: [c.example.com]
    tls: {certificate: {cert: /nonexistent/c.pem, key: /nonexistent/c.key}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
storage: {etcd: {endpoints: ["ftp://x"], encryption_key_file: /nonexistent/k}}
log: {level: loud}
`), 0o600)
	cfg, err := plan.CheckFile(path, slog.New(slog.DiscardHandler))
	if cfg != nil || err == nil {
		t.Fatalf("CheckFile = %v, %v; want no config and errors", cfg, err)
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *config.Error
		if !errors.As(e, &ce) {
			t.Errorf("%q (%T) is not a *config.Error", e, e)
			continue
		}
		got = append(got, ce.Path)
	}
	want := []string{
		"sites[1].bogus", // decoding
		// Validate, despite it, in its own order
		"storage.etcd.endpoints[0]",
		"sites[0].tls.profile",
		"log.level",
		// the files of the only site without problems
		"sites[2].tls.certificate.cert",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems at:\n%s\nwant:\n%s\n\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), err)
	}
}

// TestACMESettingsDNS01: the TSIG secret is read from key_file into the
// settings; a missing, empty or non-base64 file is an error at the key
// that names it, with the file.
func TestACMESettingsDNS01(t *testing.T) {
	dir := t.TempDir()
	good, empty, bad := filepath.Join(dir, "tsig.key"), filepath.Join(dir, "empty.key"), filepath.Join(dir, "bad.key")
	os.WriteFile(good, []byte("c2VjcmV0\n"), 0o600)
	os.WriteFile(empty, []byte("\n"), 0o600)
	os.WriteFile(bad, []byte("key \"acme\" { secret \"x\"; };\n"), 0o600)
	site := func(host, keyFile string) string {
		return `  - hosts: ['` + host + `']
    tls: {certificate: {acme: {challenges: [dns-01], dns: {provider: rfc2136, server: 127.0.0.1, key_name: k., key_file: ` + keyFile + `}}}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`
	}
	cfg := load(t, dir, `acme:
  challenges: [dns-01]
  dns: {provider: rfc2136, server: 'ns1.example.com:53', key_name: acme-update., key_file: `+good+`, resolvers: ['127.0.0.1:5353'], propagation_timeout: 30s}
sites:
  - hosts: ['*.example.com', example.com]
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
    tls: {certificate: {source: acme}}
`+site("*.a.example.net", filepath.Join(dir, "missing.key"))+site("*.b.example.net", empty)+site("*.c.example.net", bad))
	s, errs := plan.ACMESettings(cfg, 0)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !s.DNS01 || s.HTTP01 || s.TLSALPN01 || s.DNS.Secret != "c2VjcmV0" || s.DNS.Server != "ns1.example.com:53" ||
		s.DNS.KeyName != "acme-update." || s.DNS.Resolvers[0] != "127.0.0.1:5353" || s.DNS.PropagationTimeout != 30*time.Second {
		t.Errorf("settings: %+v", s)
	}
	for i, want := range []string{
		`sites[1].tls.certificate.acme.dns.key_file: reading the TSIG secret: open ` + filepath.Join(dir, "missing.key") + `: no such file or directory`,
		`sites[2].tls.certificate.acme.dns.key_file: ` + empty + ` is empty: put the TSIG key's base64 secret in it`,
		`sites[3].tls.certificate.acme.dns.key_file: ` + bad + ` does not hold a base64 TSIG secret`,
	} {
		_, errs := plan.ACMESettings(cfg, i+1)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("site %d: %v, want %q", i+1, errs, want)
		}
	}
}
