package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func newSpecSite(t testing.TB, ops []Operation, upstream string, routes ...RouteConfig) *Site {
	t.Helper()
	s, err := NewSite(SiteConfig{Name: "example.com", HSTS: testHSTS, Routes: routes,
		Spec: &SpecConfig{Name: "openapi test.yaml", Operations: ops, Upstreams: []string{upstream}}}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

var testOps = []Operation{
	{Method: "GET", Path: "/v1/orders"},
	{Method: "POST", Path: "/v1/orders"},
	{Method: "GET", Path: "/v1/orders/{id}"},
	{Method: "DELETE", Path: "/v1/orders/{id}"},
	{Method: "GET", Path: "/v1/orders/export"},
	{Method: "POST", Path: "/internal/payments"},
	{Method: "GET", Path: "/v1/shops/{shop}/items/{item}"},
	{Method: "GET", Path: "/v1/shops/{shop}/open"},
	{Method: "GET", Path: "/v1/files/{name}.json"},
	{Method: "GET", Path: "/v1/range/{from}..{to}"},
	{Method: "OPTIONS", Path: "/v1/cors"},
	{Method: "PUT", Path: "/v1/cors"},
	{Method: "GET", Path: "/v1/x/"},
}

// TestOperationTable: exactly the declared operations reach the upstream,
// as sent; the rest get 404 or 405 with Allow, with the JSON error.
func TestOperationTable(t *testing.T) {
	t.Parallel()
	up, hand := echoBackend(t, "api"), echoBackend(t, "hand")
	s := newSpecSite(t, testOps, up.URL,
		RouteConfig{Path: "/healthz", Upstreams: []string{hand.URL}},
		RouteConfig{Path: "/v1/", Upstreams: []string{hand.URL}})
	tests := []struct {
		method, path string
		header       http.Header
		status       int
		to, uri      string // upstream and what it sees, when admitted
		allow        string // of a 405
	}{
		{"GET", "/v1/orders", nil, 200, "api", "/v1/orders", ""},
		{"POST", "/v1/orders", nil, 200, "api", "/v1/orders", ""},
		{"PUT", "/v1/orders", nil, 405, "", "", "GET, POST, HEAD"},
		{"GET", "/v1/orders/123", nil, 200, "api", "/v1/orders/123", ""},
		{"GET", "/v1/orders/export", nil, 200, "api", "/v1/orders/export", ""},
		{"DELETE", "/v1/orders/export", nil, 405, "", "", "GET, HEAD"}, // the literal wins
		{"GET", "/v1/orders/123/refund", nil, 200, "hand", "/v1/orders/123/refund", ""},
		{"GET", "/v1/orders/../../internal/payments", nil, 405, "", "", "POST"},
		{"GET", "/v1/orders/123/%2e%2e/%2e%2e/%2E%2E/internal/payments", nil, 405, "", "", "POST"},
		{"GET", "/internal/payments", nil, 405, "", "", "POST"},
		{"POST", "/internal//payments/", nil, 404, "", "", ""},
		{"POST", "/internal//payments", nil, 200, "api", "/internal/payments", ""},
		{"POST", "/%69nternal/payments", nil, 200, "api", "/internal/payments", ""},
		{"GET", "/internal/payments/x", nil, 404, "", "", ""},
		{"GET", "/v1/orders/a%2Fb", nil, 400, "", "", ""},
		{"GET", "/healthz%2F", nil, 400, "", "", ""},
		{"GET", "/v1/shops/s1/items/i2", nil, 200, "api", "/v1/shops/s1/items/i2", ""},
		{"GET", "/v1/shops/s1/open", nil, 200, "api", "/v1/shops/s1/open", ""},
		{"GET", "/v1/shops/open/open", nil, 200, "api", "/v1/shops/open/open", ""},
		{"GET", "/v1/shops/s1/items/", nil, 200, "hand", "/v1/shops/s1/items/", ""}, // an empty parameter: not the template
		{"GET", "/v1/shops//items/i2", nil, 200, "hand", "/v1/shops/items/i2", ""},
		{"GET", "/v1/files/a.json", nil, 200, "api", "/v1/files/a.json", ""},
		{"GET", "/v1/files/.json", nil, 200, "hand", "/v1/files/.json", ""},
		{"GET", "/v1/range/1..9", nil, 200, "api", "/v1/range/1..9", ""},
		{"GET", "/v1/range/1..", nil, 200, "hand", "/v1/range/1..", ""},
		{"GET", "/v1/x/", nil, 200, "api", "/v1/x/", ""},
		{"GET", "/healthz", nil, 200, "hand", "/healthz", ""},
		{"GET", "/nowhere", nil, 404, "", "", ""},
		// HEAD where GET is; OPTIONS where declared, else only preflights.
		{"HEAD", "/v1/orders/7", nil, 200, "", "", ""},
		{"HEAD", "/internal/payments", nil, 405, "", "", "POST"},
		{"OPTIONS", "/v1/cors", nil, 200, "api", "/v1/cors", ""},
		{"OPTIONS", "/v1/orders", nil, 405, "", "", "GET, POST, HEAD"},
		{"OPTIONS", "/v1/orders", http.Header{"Origin": {"https://a.example"}, "Access-Control-Request-Method": {"POST"}}, 200, "api", "/v1/orders", ""},
		{"OPTIONS", "/v1/orders", http.Header{"Origin": {"https://a.example"}, "Access-Control-Request-Method": {"PATCH"}}, 405, "", "", "GET, POST, HEAD"},
		{"OPTIONS", "/v1/orders", http.Header{"Access-Control-Request-Method": {"POST"}}, 405, "", "", "GET, POST, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "https://example.com"+tt.path, nil)
			r.RemoteAddr = "203.0.113.7:50000"
			for k, v := range tt.header {
				r.Header[k] = v
			}
			resp := serve(s, r)
			switch {
			case tt.status == 200 && tt.method == "HEAD":
				if resp.StatusCode != 200 {
					t.Errorf("status %d", resp.StatusCode)
				}
			case tt.status == 200:
				got := decodeSeen(t, resp)
				if got.Name != tt.to || got.URI != tt.uri {
					t.Errorf("went to %s as %q, want %s as %q", got.Name, got.URI, tt.to, tt.uri)
				}
			default:
				if tt.method == "HEAD" {
					if resp.StatusCode != tt.status {
						t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
					}
				} else {
					checkError(t, resp, tt.status, "")
				}
				if a := resp.Header.Get("Allow"); a != tt.allow {
					t.Errorf("Allow %q, want %q", a, tt.allow)
				}
			}
			io.Copy(io.Discard, resp.Body)
		})
	}
}

// TestOperationTableRefusesBeforeUpstream: a request the table does not admit never
// reaches the spec's upstream, and a hand-written prefix route takes
// only the paths no template matches.
func TestOperationTableRefusesBeforeUpstream(t *testing.T) {
	t.Parallel()
	up := echoBackend(t, "api")
	s := newSpecSite(t, testOps, up.URL)
	for _, p := range []string{"/v1/orders/1/refund", "/v1/", "/", "/v1/orders/"} {
		checkError(t, get(t, s, "https://example.com"+p), 404, "no route")
	}
	checkError(t, get(t, s, "https://example.com/internal/payments"), 405, "not declared")
	if n := up.hits.Load(); n != 0 {
		t.Errorf("%d refused requests reached the upstream", n)
	}
}

// TestOperationFind: literal over mixed over parameter, falling back when
// the better child leads nowhere.
func TestOperationFind(t *testing.T) {
	t.Parallel()
	s := newSpecSite(t, []Operation{
		{Method: "GET", Path: "/a/b/c"},
		{Method: "GET", Path: "/a/{x}/d"},
		{Method: "GET", Path: "/a/{x}.txt/e"},
		{Method: "GET", Path: "/a/{x}"},
		{Method: "GET", Path: "/{p}/{q}/{r}/{s}"},
	}, deadURL(t))
	for path, want := range map[string]string{
		"/a/b/c": "/a/b/c", "/a/b/d": "/a/{x}/d", "/a/b": "/a/{x}", "/a/f.txt/e": "/a/{x}.txt/e",
		"/a/f.txt/d": "/a/{x}/d", "/a/b/c/d": "/{p}/{q}/{r}/{s}", "/a/b/e": "", "/a": "", "/a/": "",
	} {
		got := ""
		if po := s.ops.find(path); po != nil {
			got = po.template
		}
		if got != want {
			t.Errorf("find(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestOperationNeedsVerifier(t *testing.T) {
	t.Parallel()
	_, err := NewSite(SiteConfig{Name: "example.com", Spec: &SpecConfig{Name: "x",
		Operations: []Operation{{Method: "GET", Path: "/a", ClientAuth: "require"}}, Upstreams: []string{"http://127.0.0.1:9"}}}, testOptions())
	if err == nil {
		t.Fatal("a require operation on a site without client CAs was built")
	}
}
