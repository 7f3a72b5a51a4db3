package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ordersSpec = `openapi: 3.1.0
info: {title: Orders, version: "1"}
servers: [{url: "https://api.example.com/v1"}]
components:
  securitySchemes:
    mtlsAuth: {type: mutualTLS}
paths:
  /orders:
    get: {responses: {"200": {description: ok}}}
    post:
      security: [{mtlsAuth: []}]
      responses: {"200": {description: ok}}
  /orders/{id}:
    get: {responses: {"200": {description: ok}}}
`

// TestLintRoutesAgreesWithGateway (issue 16): 'lint --format routes'
// lists the operations and client-auth modes 'config explain' shows for
// a gateway with the same spec as routes_from.
func TestLintRoutesAgreesWithGateway(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "orders.yaml")
	os.WriteFile(spec, []byte(ordersSpec), 0o644)
	out, errOut, code := runCLI(t, nil, "lint", "--format", "routes", spec)
	if code != 0 {
		t.Fatalf("lint --format routes: exit %d\n%s\n%s", code, out, errOut)
	}
	var lint []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] != "METHOD" {
			lint = append(lint, f[0]+" "+f[1]+" "+f[2])
		}
	}
	want := []string{"GET /v1/orders none", "POST /v1/orders require", "GET /v1/orders/{id} none"}
	if strings.Join(lint, "\n") != strings.Join(want, "\n") {
		t.Errorf("lint routes:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}

	cfg := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(cfg, []byte(`sites:
  - hosts: [api.example.com]
    client_auth: {internal_ca: true}
    routes_from: {openapi: orders.yaml, upstreams: ["http://127.0.0.1:9"]}
`), 0o600)
	out, errOut, code = runCLI(t, nil, "config", "explain", cfg)
	if code != 0 {
		t.Fatalf("config explain: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, w := range want {
		f := strings.Fields(w)
		found := false
		for _, l := range strings.Split(out, "\n") {
			g := strings.Fields(l)
			if len(g) >= 4 && g[1] == f[0] && g[2] == f[1] && g[3] == f[2] {
				found = true
			}
		}
		if !found {
			t.Errorf("config explain lacks %q:\n%s", w, out)
		}
	}

	// A spec the gateway would refuse says so.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(ordersSpec, "https://api", "http://api", 1)), 0o644)
	out, _, _ = runCLI(t, nil, "lint", "--format", "routes", bad)
	if !strings.Contains(out, "refused: ") || strings.Contains(out, "POST") {
		t.Errorf("routes of a refused spec:\n%s", out)
	}
}
