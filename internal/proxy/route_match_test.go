package proxy

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// matchScan is the route lookup as it was before the route tree (issue
// 17): the site's routes in order, longest path first, the first that
// prefixes the path, or whose matchExact is the path, wins. The tests
// hold match to it.
func (s *Site) matchScan(path string) *route {
	for _, r := range s.routes {
		if strings.HasPrefix(path, r.path) || (r.matchExact != "" && path == r.matchExact) {
			return r
		}
	}
	return nil
}

// handlerRoutes returns in-process routes for paths (in that order): a
// site of them builds no upstream.
func handlerRoutes(paths ...string) []RouteConfig {
	h := http.NotFoundHandler()
	rcs := make([]RouteConfig, len(paths))
	for i, p := range paths {
		rcs[i] = RouteConfig{Path: p, Handler: h}
	}
	return rcs
}

// checkMatch fails t when match and matchScan disagree on path. Routes
// are compared as pointers: two routes with one path are told apart.
func checkMatch(t testing.TB, s *Site, path string) {
	t.Helper()
	got, want := s.match(path), s.matchScan(path)
	if got != want {
		t.Fatalf("match(%q) = %s, the scan gives %s", path, routeName(s, got), routeName(s, want))
	}
}

// routeName names r by its path and its place in the site's order.
func routeName(s *Site, r *route) string {
	if r == nil {
		return "no route"
	}
	for i, x := range s.routes {
		if x == r {
			return "route " + strconv.Quote(r.path) + " (#" + strconv.Itoa(i) + ")"
		}
	}
	return "an unknown route " + strconv.Quote(r.path)
}

// TestRouteMatchTable holds the route tree to the scan on route sets and
// paths chosen for their edges: "/" and "" routes, a route with and
// without its trailing slash, the bare form of "/api/" (matchExact), a
// route that ends inside a segment, a path shorter than every route,
// escapes left in the path, long paths, and one path configured twice.
func TestRouteMatchTable(t *testing.T) {
	t.Parallel()
	long := "/" + strings.Repeat("a/", 5000)
	sets := [][]string{
		{"/"},
		{"/api/"},
		{"/api"},
		{"/", "/api", "/api/", "/api/v1/"},
		{"/", "/api/", "/api/v1/", "/api/v1/users"},
		{"/api/", "/api/v1/", "/apix", "/ap"},
		{"/a", "/ab", "/abc/", "/abc/d", "/b/"},
		{"/api/", "/api/"},
		{"/x/", "/x/", "/x"},
		{""},
		{"", "/", "//", "///"},
		{"/%2F/", "/%61pi/", "/api%2F", "/a%"},
		{"/v1/", "/v1/orders/", "/v1/orders/{id}", "/v1/orders/{id}/"},
		{"/", long, long[:len(long)-1], long[:101]},
		{"/é/", "/日本/", "/\xff/", "/\x00"},
	}
	paths := []string{
		"", "/", "//", "///", "/a", "/ab", "/abc", "/abc/", "/abc/d", "/abc/de", "/b", "/b/", "/bc",
		"/ap", "/api", "/api/", "/apix", "/api/v1", "/api/v1/", "/api/v1/users", "/api/v1/users/7", "/api/v2/",
		"/API/", "/x", "/x/", "/xy", "/%2F/", "/%2F", "/%61pi/x", "/api%2F", "/api%2Fx", "/a%", "/a%2",
		"/v1", "/v1/orders", "/v1/orders/", "/v1/orders/{id}", "/v1/orders/{id}/", "/v1/orders/7",
		"/é", "/é/x", "/日本", "/日本/x", "/\xff", "/\xff/", "/\x00", "/\x00x",
		long, long[:len(long)-1], long[:len(long)-2], long[:101], long[:100], long + "x", strings.Repeat("/", 10000),
	}
	for _, set := range sets {
		s := newTestSite(t, nil, handlerRoutes(set...)...)
		for _, p := range paths {
			checkMatch(t, s, p)
		}
		for _, r := range set {
			for _, p := range []string{r, r + "x", r + "/", strings.TrimSuffix(r, "/"), r[:len(r)/2]} {
				checkMatch(t, s, p)
			}
		}
	}
	// The two expectations the order gives, spelled out: a path configured
	// twice is served by the first, and the bare form of "/api/" goes to
	// "/api/" over "/" and "/ap".
	s := newTestSite(t, nil, handlerRoutes("/", "/ap", "/api/", "/api/")...)
	if r := s.match("/api/x"); r == nil || r != s.routes[0] {
		t.Errorf("/api/x: %s, want the first /api/", routeName(s, r))
	}
	if r := s.match("/api"); r == nil || r.path != "/api/" {
		t.Errorf("/api: %s, want /api/", routeName(s, r))
	}
}

// githubPaths returns the path templates of GitHub's spec; a missing
// document skips t, or fails it under CI=true (see TestRoutesFromGitHub
// in internal/server).
func githubPaths(t *testing.T) []string {
	data, err := os.ReadFile(githubSpec)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("GitHub's OpenAPI document is not installed: run 'make test-deps' (%v)", err)
		}
		t.Skipf("GitHub's OpenAPI document is not installed: run 'make test-deps' (CI=true turns this skip into a failure)")
	}
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	slices.Sort(paths) // the same route set on every run
	return paths
}

// TestRouteMatchGitHub holds the route tree to the scan on a site of
// prefix routes made from GitHub's spec: each template as a route, and
// the literal part before its first parameter (the prefix an operator
// would write by hand), some with a slash more or less, over 1,000 routes of many lengths, with and
// without trailing slashes. The paths asked are the templates with their
// parameters filled in, and each cut short and lengthened.
func TestRouteMatchGitHub(t *testing.T) {
	t.Parallel()
	templates := githubPaths(t)
	if len(templates) < 800 {
		t.Fatalf("%d paths in GitHub's spec, want 800 or more", len(templates))
	}
	seen := map[string]bool{}
	var routes []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			routes = append(routes, p)
		}
	}
	for _, tp := range templates {
		add(tp)
		if i := strings.IndexByte(tp, '{'); i > 0 {
			add(tp[:i])
		}
	}
	// Half the templates with a slash added, the other half's literal
	// prefixes without theirs: "/a/" alone gets a matchExact, "/a/" next
	// to "/a" none.
	for i, tp := range templates {
		if i%2 == 0 {
			add(tp + "/")
		} else if j := strings.IndexByte(tp, '{'); j > 0 {
			add(strings.TrimSuffix(tp[:j], "/"))
		}
	}
	if len(routes) < 1000 {
		t.Fatalf("%d routes from GitHub's spec, want 1000 or more", len(routes))
	}
	s := newTestSite(t, nil, handlerRoutes(routes...)...)
	filled := strings.NewReplacer("{", "", "}", "")
	n := 0
	for _, tp := range templates {
		for _, p := range []string{tp, filled.Replace(tp), strings.ReplaceAll(tp, "{owner}", "x")} {
			for cut := 0; cut <= len(p); cut++ {
				checkMatch(t, s, p[:cut])
				n++
			}
			for _, q := range []string{p + "/", p + "/x", p + "x", "/x" + p} {
				checkMatch(t, s, q)
				n++
			}
		}
	}
	t.Logf("%d routes, %d paths: the tree and the scan agree", len(routes), n)
}

// FuzzRouteMatch holds the route tree to the scan on random route sets:
// the input is the site's route paths, separated by newlines, then a tab
// and the request path. Every route path, and each with a byte more or
// less, is asked too.
func FuzzRouteMatch(f *testing.F) {
	for _, s := range []string{
		"/\n/api\n/api/\n/api/v1/\t/api",
		"/api/\t/api",
		"/api/\n/api/\t/api",
		"/a\n/ab\n/abc/\t/abcd",
		"\n/\t",
		"/x/\n/x\t/x",
		"//\n///\n/\t//x",
		"/%61pi/\n/api%2F\t/%61pi",
		"/v1/orders/{id}\n/v1/\t/v1/orders/{id}/x",
		"/é/\n/\xff\t/é",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		spec, path, _ := strings.Cut(in, "\t")
		paths := strings.Split(spec, "\n")
		if len(paths) > 64 {
			paths = paths[:64]
		}
		s, err := NewSite(SiteConfig{Name: "fuzz", Routes: handlerRoutes(paths...)}, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		checkMatch(t, s, path)
		for _, p := range paths {
			checkMatch(t, s, p)
			checkMatch(t, s, p+"/")
			checkMatch(t, s, p+"x")
			if p != "" {
				checkMatch(t, s, p[:len(p)-1])
			}
		}
	})
}
