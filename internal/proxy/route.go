package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/tlsgate/tlsgate/internal/mtls"
)

// route is one configured path prefix of a site: its client-certificate
// policy, its upstreams and the two ways to reach them.
type route struct {
	// local, when set, serves the route in-process (local.go) instead of
	// forwarding to upstreams; transport, pool and proxy are then nil.
	local      http.Handler
	path       string
	mode       mtls.Mode
	allow      mtls.Allow
	strip      bool
	pool       *pool
	proxy      *httputil.ReverseProxy
	transport  *h1Transport
	site       *Site
	matchExact string // "/api" for path "/api/": also matches the bare prefix
	// direct is set when every upstream is plain HTTP with an ASCII host:
	// eligible requests then take the direct path (direct.go).
	direct bool
}

// newRoute builds the route rc of site s; paths holds the paths of all
// the site's routes.
func newRoute(rc RouteConfig, s *Site, paths map[string]bool) (*route, error) {
	r := &route{path: rc.Path, strip: rc.StripPrefix, site: s, mode: rc.ClientAuth, allow: rc.Allow}
	if r.mode == "" {
		r.mode = mtls.None
	}
	if r.mode != mtls.None && s.verifier == nil {
		return nil, fmt.Errorf("route %s: client_auth %s needs the site's trusted client CAs", rc.Path, r.mode)
	}
	// "/api/" also answers "/api", unless a route of its own does.
	if bare := strings.TrimSuffix(rc.Path, "/"); bare != rc.Path && rc.Path != "/" && !paths[bare] {
		r.matchExact = bare
	}
	if rc.Handler != nil {
		if len(rc.Upstreams) > 0 {
			return nil, fmt.Errorf("route %s: a route has a handler or upstreams, not both", rc.Path)
		}
		r.local = rc.Handler
		return r, nil
	}
	upTLS := rc.UpstreamTLS
	if upTLS == nil {
		upTLS = s.opts.UpstreamTLS
	}
	sh := s.opts.sharedParts()
	r.transport = sh.transport(upTLS)
	p, err := newPool(rc.Upstreams, r.transport, rc.Path, s.opts.Log, sh, upTLS)
	if err != nil {
		return nil, err
	}
	r.pool = p
	r.direct = directRoute(p.ups)
	r.proxy = r.newReverseProxy()
	return r, nil
}

// match returns the route for a request path (in normal form): the
// longest route path that prefixes it, or nil; a route whose matchExact
// is the path beats every prefix (its own path is one byte longer). Of
// routes with one path, the first configured wins. The lookup walks the
// site's route tree (routeTree), built once with the site: its cost
// follows the path's length, not the number of routes.
func (s *Site) match(path string) *route {
	return s.tree.lookup(path)
}

// routeNode is a node of a site's route tree, a radix tree over the bytes
// of the route paths and of their matchExact forms: the string a node
// stands for is the concatenation of the labels from the root.
type routeNode struct {
	label string // the bytes from the parent (the root's is "")
	// prefix is the route whose path is this node's string, exact the one
	// whose matchExact is (the first in the site's order, if several).
	prefix, exact *route
	// first[i] is the first byte of children[i]'s label; labels of
	// siblings begin with different bytes.
	first    []byte
	children []*routeNode
}

// newRouteTree builds the tree of routes, in the site's order (longest
// path first, then as configured).
func newRouteTree(routes []*route) *routeNode {
	root := &routeNode{}
	for _, r := range routes {
		if n := root.insert(r.path); n.prefix == nil {
			n.prefix = r
		}
		if r.matchExact != "" {
			if n := root.insert(r.matchExact); n.exact == nil {
				n.exact = r
			}
		}
	}
	return root
}

// insert returns the node that stands for key, adding it (and splitting
// an edge) as needed.
func (n *routeNode) insert(key string) *routeNode {
	for key != "" {
		i := bytes.IndexByte(n.first, key[0])
		if i < 0 {
			c := &routeNode{label: key}
			n.first = append(n.first, key[0])
			n.children = append(n.children, c)
			return c
		}
		c := n.children[i]
		k := commonPrefix(key, c.label)
		if k < len(c.label) {
			// Split c's edge at k: mid stands for key[:k].
			mid := &routeNode{label: c.label[:k], first: []byte{c.label[k]}, children: []*routeNode{c}}
			c.label = c.label[k:]
			n.children[i] = mid
			c = mid
		}
		n, key = c, key[k:]
	}
	return n
}

func commonPrefix(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// lookup follows path down the tree, one edge per step (at most one node
// per byte of path), remembering the deepest route path passed.
func (n *routeNode) lookup(path string) *route {
	if n == nil {
		return nil
	}
	best := n.prefix
	for path != "" {
		i := bytes.IndexByte(n.first, path[0])
		if i < 0 {
			return best
		}
		c := n.children[i]
		if !strings.HasPrefix(path, c.label) {
			return best // path ends inside, or leaves, c's edge
		}
		n, path = c, path[len(c.label):]
		if n.prefix != nil {
			best = n.prefix
		}
	}
	if n.exact != nil {
		return n.exact
	}
	return best
}

// upstreamPath is the path of u (a client's request) relative to the
// upstream's base URL: without the route's prefix when it strips it.
func (r *route) upstreamPath(u *url.URL) (path, raw string) {
	path, raw = u.Path, u.RawPath
	if r.strip && r.path != "/" {
		prefix := strings.TrimSuffix(r.path, "/")
		path = strings.TrimPrefix(path, prefix)
		if raw != "" {
			// The route matched the decoded path; the prefix may be
			// spelled with escapes in raw ("/%61pi/", "/api%2F").
			raw = cutEscapedPrefix(raw, len(prefix))
		}
		if raw != "" && raw[0] != '/' {
			raw = "" // the slash after the prefix was escaped: use path
		}
		if path == "" || path[0] != '/' {
			path, raw = "/"+path, ""
		}
	}
	return path, raw
}

// strippedNormal reports whether the path u gives the upstream once the
// route's prefix is stripped is still in normal form (see normalisePath).
// The client's path is; cutting the prefix inside a segment is the only
// way to make it not so.
func (r *route) strippedNormal(u *url.URL) bool {
	path, raw := r.upstreamPath(u)
	esc := raw
	if esc == "" {
		esc = (&url.URL{Path: path}).EscapedPath()
	}
	if !pathNeedsWork(esc) {
		return true
	}
	clean, why := normalisePath(esc)
	return why == "" && clean == esc
}

// cutEscapedPrefix removes from raw, a valid escaped path, the escaped
// form of its first n decoded bytes. Each decoded byte is one character or
// one %XX escape in raw.
func cutEscapedPrefix(raw string, n int) string {
	i := 0
	for ; n > 0 && i < len(raw); n-- {
		if raw[i] == '%' && i+2 < len(raw) {
			i += 3
		} else {
			i++
		}
	}
	if n > 0 {
		return ""
	}
	return raw[i:]
}
