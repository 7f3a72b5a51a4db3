package oaslint

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func routeLines(routes []Route) []string {
	var out []string
	for _, r := range routes {
		mode := ""
		switch {
		case r.MutualTLS:
			mode = " mtls"
		case r.MutualTLSOptional:
			mode = " mtls-optional"
		}
		out = append(out, fmt.Sprintf("%d %s %s%s", r.Line, r.Path, strings.Join(r.Methods, ","), mode))
	}
	return out
}

func TestRoutes(t *testing.T) {
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
			"9 /v1/pets GET,POST mtls",
			"12 /v1/pets/{id} GET mtls",
			"12 /v1/pets/{id} DELETE",
			"17 /v1/health GET",
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
			"11 /edge/a GET mtls-optional",
			"11 /a GET mtls-optional",
			"16 /legacy/b GET mtls",
			"16 /api/v2/b PUT",
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
`, []string{"5 /a GET,QUERY,PURGE"}},
		{"swagger 2.0 basePath", `
swagger: "2.0"
info: {title: r, version: "1"}
host: api.example.com
basePath: /v1/
paths:
  /pets:
    get: {responses: {"200": {description: ok}}}
    trace: {responses: {"200": {description: ok}}}
`, []string{"7 /v1/pets GET"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse("routes.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			routes, err := Routes(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := routeLines(routes); !slices.Equal(got, tc.want) {
				t.Errorf("routes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestRoutesErrors(t *testing.T) {
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
	routes, err := Routes(doc)
	if err == nil || !strings.Contains(err.Error(), `routes.yaml:5: path "pets" does not start with /`) ||
		!strings.Contains(err.Error(), `routes.yaml:7: path "/remote" is a $ref (https://example.com/paths.yaml#/remote) that tlsgate does not follow`) {
		t.Errorf("error: %v", err)
	}
	if got := routeLines(routes); !slices.Equal(got, []string{"9 /ok GET"}) {
		t.Errorf("routes %q", got)
	}
	if _, err := Routes(nil); err == nil {
		t.Error("Routes(nil): no error")
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
