package proxy

import (
	"fmt"
	"net/http"
	"testing"
)

// benchRoutes returns n routes: "/" and n-1 of the shape
// "/svc/<i>/items/", each served in-process (no upstream to build).
func benchRoutes(n int) []RouteConfig {
	h := http.NotFoundHandler()
	rcs := []RouteConfig{{Path: "/", Handler: h}}
	for i := 0; len(rcs) < n; i++ {
		rcs = append(rcs, RouteConfig{Path: fmt.Sprintf("/svc/%d/items/", i), Handler: h})
	}
	return rcs
}

// BenchmarkRouteMatch is the prefix-route lookup of a site of 1, 100 and
// 1,000 routes: "hit" chooses one of the shortest "/svc/<i>/items/"
// routes (the last ones a scan longest first would reach), "fallback"
// a path only "/" prefixes, "exact" the bare "/svc/<i>/items". The cost
// should follow the path, not the number of routes.
func BenchmarkRouteMatch(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		s := newTestSite(b, nil, benchRoutes(n)...)
		cases := []struct{ name, path, want string }{
			{"hit", "/svc/7/items/42/detail", "/svc/7/items/"},
			{"fallback", "/other/path/somewhere", "/"},
			{"exact", "/svc/7/items", "/svc/7/items/"},
		}
		for _, c := range cases {
			if n == 1 {
				c.want = "/"
			}
			b.Run(fmt.Sprintf("%s/routes=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if r := s.match(c.path); r == nil || r.path != c.want {
						b.Fatalf("%s: got %v, want %s", c.path, r, c.want)
					}
				}
			})
		}
	}
}
