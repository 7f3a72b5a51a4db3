package server

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/plan"
)

const petsSpec = `openapi: 3.1.0
info: {title: Pets, version: "1"}
servers: [{url: "https://api.example.com/v1"}]
components:
  securitySchemes:
    mtls: {type: mutualTLS}
    key: {type: apiKey, in: header, name: X-Key}
paths:
  /pets:
    get: {responses: {"200": {description: ok}}}
  /pets/{id}:
    get:
      security: [{mtls: []}]
      responses: {"200": {description: ok}}
  /admin/{op}:
    post:
      security: [{mtls: []}, {key: []}]
      responses: {"200": {description: ok}}
`

// TestRoutesFromOpenAPI: the spec drives the site's routes and where a
// client certificate is required.
func TestRoutesFromOpenAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pets.yaml"), []byte(petsSpec), 0o644)
	ca := pkitest.NewCA(t, "Pets CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "site", ca.Issue(t, pkitest.Leaf{Names: []string{"api.example.com"}}))
	clientCA := pkitest.NewCA(t, "Pets clients")
	client := clientCA.Issue(t, pkitest.Leaf{Names: []string{"vet"}, Client: true})
	yaml := fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: "off"}
sites:
  - hosts: [api.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    client_auth: {ca: [%s]}
    routes_from: {openapi: pets.yaml, upstreams: ["%s"]}
`, certFile, keyFile, clientCA.WriteRoot(t, dir), backend(t, "pets"))
	// startGateway writes the config into its own directory: put the
	// spec beside it by an absolute path.
	g := startGateway(t, strings.Replace(yaml, "openapi: pets.yaml", "openapi: "+filepath.Join(dir, "pets.yaml"), 1))

	get := func(path string, cert *tls.Certificate) int {
		cfg := &tls.Config{ServerName: "api.example.com", RootCAs: ca.Pool()}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+g.https+path, nil)
		req.Host = "api.example.com"
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		path string
		cert *tls.Certificate
		want int
	}{
		{"/v1/pets", nil, 200},
		{"/v1/pets/7", nil, 403},      // mutualTLS: required
		{"/v1/pets/7", client, 200},   // with a client certificate
		{"/v1/admin/reset", nil, 200}, // mutualTLS or an API key: optional
		{"/v2/other", nil, 404},       // not in the spec
	} {
		if got := get(tc.path, tc.cert); got != tc.want {
			t.Errorf("GET %s (cert %v): %d, want %d", tc.path, tc.cert != nil, got, tc.want)
		}
	}

	// config explain lists them with their origin.
	cfg, err := config.Load(g.configPath)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := plan.Explain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range routes {
		lines = append(lines, fmt.Sprintf("%s %s %s %s", r.Path, r.ClientAuth, strings.Join(r.Methods, ","), strings.Join(r.From, ";")))
	}
	want := []string{
		"/v1/pets none GET " + filepath.Join(dir, "pets.yaml") + ":10 /v1/pets",
		"/v1/pets/ require GET " + filepath.Join(dir, "pets.yaml") + ":12 /v1/pets/{id}",
		"/v1/admin/ optional POST " + filepath.Join(dir, "pets.yaml") + ":16 /v1/admin/{op}",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("explain:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestRoutesFromRefusesInsecureSpec: a spec with error-level findings is
// not the gateway's policy; the error names the finding's place.
func TestRoutesFromRefusesInsecureSpec(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "insecure.yaml")
	os.WriteFile(spec, []byte(strings.Replace(petsSpec, "https://api.example.com/v1", "http://api.example.com/v1", 1)), 0o644)
	path := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(path, []byte(`sites:
  - hosts: [api.example.com]
    routes_from: {openapi: insecure.yaml, upstreams: ["http://127.0.0.1:9"]}
`), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = plan.Check(cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "tlsgate.yaml:3:28: sites[0].routes_from.openapi: insecure.yaml has 3 error-level findings") ||
		!strings.Contains(err.Error(), "insecure.yaml:3:17: server-https:") {
		t.Fatalf("Check: %v", err)
	}
}
