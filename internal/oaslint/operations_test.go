package oaslint

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func opLines(ops []Operation) []string {
	var out []string
	for _, o := range ops {
		out = append(out, fmt.Sprintf("%d %s %s %s", o.Line, o.Method, o.Path, o.ClientAuth))
	}
	return out
}

func TestOperations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		want      []string
	}{
		{"base path and global mTLS", `
openapi: 3.1.0
info: {title: r, version: "1"}
servers:
  - url: https://api.example.com/v1/
security:
  - cert: []
paths:
  /pets:
    get: {responses: {"200": {description: ok}}}
    post: {responses: {"200": {description: ok}}}
  /pets/{id}:
    delete:
      security: [{token: []}]
      responses: {"200": {description: ok}}
    get: {responses: {"200": {description: ok}}}
  /health:
    get:
      security: []
      responses: {"200": {description: ok}}
  x-internal: {}
components:
  securitySchemes:
    cert: {type: mutualTLS}
    token: {type: http, scheme: bearer}
`, []string{
			"10 GET /v1/pets require", // the root's security
			"11 POST /v1/pets require",
			"16 GET /v1/pets/{id} require",
			"13 DELETE /v1/pets/{id} none", // its own security
			"18 GET /v1/health none",       // security: [] overrides the root's
		}},
		{"optional mTLS, path and operation servers, variables", `
openapi: 3.1.0
info: {title: r, version: "1"}
servers:
  - url: "{scheme}://{host}/api/{version}"
    variables:
      scheme: {default: https}
      host: {default: api.example.com}
      version: {default: v2, enum: [v1, v2]}
paths:
  /a:
    servers: [{url: /edge}, {url: "https://b.example.com/edge/"}, {url: https://c.example.com}]
    get:
      security: [{cert: []}, {}]
      responses: {"200": {description: ok}}
  /b:
    get:
      servers: [{url: "api.example.com/legacy"}]
      security: [{cert: [], key: []}, {cert: []}]
      responses: {"200": {description: ok}}
    put:
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    cert: {type: mutualtls}
    key: {type: apiKey, in: header, name: k}
`, []string{
			"13 GET /edge/a optional",  // the path's servers, each base path once
			"13 GET /a optional",       // {} is an alternative without a certificate
			"17 GET /legacy/b require", // the operation's servers; every alternative has cert
			"21 PUT /api/v2/b none",    // the root's servers, variables' defaults
		}},
		{"no servers, path item $ref, 3.2 methods", `
openapi: 3.2.0
info: {title: r, version: "1"}
paths:
  /a:
    $ref: "#/components/pathItems/A"
components:
  pathItems:
    A:
      query: {responses: {"200": {description: ok}}}
      get: {responses: {"200": {description: ok}}}
      additionalOperations:
        purge: {responses: {"200": {description: ok}}}
`, []string{"11 GET /a none", "10 QUERY /a none", "13 PURGE /a none"}},
		{"swagger 2.0 basePath", `
swagger: "2.0"
info: {title: r, version: "1"}
host: api.example.com
basePath: /v1/
paths:
  /pets:
    get: {responses: {"200": {description: ok}}}
    trace: {responses: {"200": {description: ok}}}
`, []string{"8 GET /v1/pets none"}},
		{"operation servers override the path's, which override the root's", `
openapi: 3.0.3
info: {title: r, version: "1"}
servers: [{url: https://api.example.com/root}]
security: [{cert: []}, {key: []}]
paths:
  /x/{a}/y/{b}:
    servers: [{url: https://api.example.com/path}]
    get: {responses: {"200": {description: ok}}}
    post:
      servers: [{url: https://api.example.com/op}, {url: https://api.example.com/op2/}]
      security: [{cert: []}]
      responses: {"200": {description: ok}}
    delete:
      security: [{key: []}]
      responses: {"200": {description: ok}}
  /z:
    put: {responses: {"200": {description: ok}}}
components:
  securitySchemes:
    cert: {type: mutualTLS}
    key: {type: apiKey, in: header, name: k}
`, []string{
			"9 GET /path/x/{a}/y/{b} optional",
			"10 POST /op/x/{a}/y/{b} require",
			"10 POST /op2/x/{a}/y/{b} require",
			"14 DELETE /path/x/{a}/y/{b} none",
			"18 PUT /root/z optional",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse("routes.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			ops, err := Operations(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := opLines(ops); !slices.Equal(got, tc.want) {
				t.Errorf("operations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestOperationsErrors(t *testing.T) {
	t.Parallel()
	doc, err := Parse("routes.yaml", []byte(`
openapi: 3.0.3
info: {title: r, version: "1"}
paths:
  pets:
    get: {responses: {"200": {description: ok}}}
  /remote:
    $ref: https://example.com/paths.yaml#/remote
  /ok:
    get: {responses: {"200": {description: ok}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := Operations(doc)
	if err == nil || !strings.Contains(err.Error(), `routes.yaml:5: path "pets" does not start with /`) ||
		!strings.Contains(err.Error(), `routes.yaml:7: path "/remote" is a $ref (https://example.com/paths.yaml#/remote) that tlsgate does not follow`) {
		t.Errorf("error: %v", err)
	}
	if got := opLines(ops); !slices.Equal(got, []string{"10 GET /ok none"}) {
		t.Errorf("operations %q", got)
	}
	if _, err := Operations(nil); err == nil {
		t.Error("Operations(nil): no error")
	}
}

func TestURLPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://api.example.com/v1/": "/v1", "https://api.example.com": "", "/v1": "/v1", "v1": "/v1",
		"//cdn.example.com/x?y#z": "/x", "api.example.com/legacy": "/legacy", "localhost:8080/api": "/api", "": "",
	} {
		if got := trimBase(urlPath(in)); got != want {
			t.Errorf("base of %q = %q, want %q", in, got, want)
		}
	}
}

// TestOperationsFile: an operation of a path item in another file is
// placed in that file.
func TestOperationsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "api.yaml"), []byte(`openapi: 3.1.0
info: {title: r, version: "1"}
paths:
  /a:
    $ref: items.yaml#/A
`), 0o644)
	os.WriteFile(filepath.Join(dir, "items.yaml"), []byte(`A:
  get: {responses: {"200": {description: ok}}}
`), 0o644)
	doc, err := Load(filepath.Join(dir, "api.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := Operations(doc)
	if err != nil || len(ops) != 1 {
		t.Fatalf("Operations: %v, %v", ops, err)
	}
	if o := ops[0]; filepath.Base(o.File) != "items.yaml" || o.Line != 2 || o.Path != "/a" {
		t.Errorf("operation %+v, want /a at items.yaml:2", o)
	}
}
