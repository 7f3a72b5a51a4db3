package proxy

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"

	"github.com/tlsgate/tlsgate/internal/mtls"
)

// A site's operation table: the operations an OpenAPI document declares
// (routes_from), each a method on a path template, and nothing else.
//
// Matching, on the request path in normal form (path.go):
//   - Templates are matched segment by segment. A parameter ("{id}")
//     matches exactly one non-empty segment: "/v1/orders/{id}" matches
//     "/v1/orders/123" but not "/v1/orders/123/refund", "/v1/orders/" or
//     "/v1/orders". A segment mixing text and parameters
//     ("{name}.json") matches a segment with that text around non-empty
//     values. At each level a literal segment beats a mixed one, which
//     beats a bare parameter; when the better child leads to no template,
//     the next is tried. Each node of the trie is visited at most once per
//     lookup (a node sits at a fixed depth, which fixes the segment it is
//     compared with), and a literal child is one map lookup: the cost of a
//     lookup follows the path's length, not the number of operations.
//   - An encoded slash (%2F) is refused with 400 on a site with a table:
//     matched on the decoded path it is a separator, but an upstream that
//     does not decode it sees one segment, so the two would pick different
//     operations, with different client-auth modes.
//   - No template matches: the site's prefix routes (hand-written in the
//     config) are tried; 404 when none matches either.
//   - A template matches but the method is not declared on it: 405 with
//     Allow listing the declared methods (with HEAD where GET is).
//   - HEAD is admitted where GET is declared (and HEAD is not), with GET's
//     client-auth mode.
//   - OPTIONS is admitted where it is declared. Otherwise a CORS preflight
//     (Origin and Access-Control-Request-Method, naming a method declared
//     on the path) is admitted with client-auth none: browsers send
//     preflights without credentials, so requiring a certificate would
//     break CORS, and a preflight reaches no operation. Any other OPTIONS
//     is 405.
//
// Every operation shares one upstream pool, transport and ReverseProxy
// (the table's base route); an operation is a copy of that route with its
// own template (its name in logs and metrics) and client-auth mode, made
// once when the site is built, so the direct path and the per-request
// work are those of a prefix route.

// SpecConfig is a site's operation table.
type SpecConfig struct {
	// Name names the table's upstream pool in logs and the upstream
	// inventory ("openapi api.yaml").
	Name       string
	Operations []Operation
	Upstreams  []string
	// UpstreamTLS is the client config for https upstreams; nil means
	// Options.UpstreamTLS.
	UpstreamTLS *tls.Config
}

// An Operation is a method on a path template.
type Operation struct {
	// Method is upper case ("GET").
	Method string
	// Path is a template in normal form: "/v1/orders/{id}".
	Path string
	// ClientAuth is the operation's client-certificate mode ("" is none).
	ClientAuth mtls.Mode
}

// opNode is a node of the template trie: one path segment.
type opNode struct {
	lit   map[string]*opNode // literal segments
	mixed []*mixedChild      // segments of text and parameters, in insertion order
	param *opNode            // a segment that is one parameter
	ops   *pathOps           // the template ending here, if any
}

type mixedChild struct {
	pieces []string // text, parameter, text, ...: odd indexes are parameters
	node   *opNode
}

// pathOps are the operations of one path template.
type pathOps struct {
	template string
	methods  []methodRoute
	// allow is the Allow header of a 405 on the template.
	allow string
	// preflight answers a CORS preflight where OPTIONS is not declared.
	preflight *route
}

type methodRoute struct {
	method string
	rt     *route
}

// newSpec builds the table of site s. base is its upstream pool's route.
func newSpec(sc *SpecConfig, s *Site, base *route) (*opNode, error) {
	root := &opNode{}
	for _, op := range sc.Operations {
		if !strings.HasPrefix(op.Path, "/") {
			return nil, fmt.Errorf("operation %s %s: the path does not start with /", op.Method, op.Path)
		}
		mode := op.ClientAuth
		if mode == "" {
			mode = mtls.None
		}
		if mode != mtls.None && s.verifier == nil {
			return nil, fmt.Errorf("operation %s %s: client_auth %s needs the site's trusted client CAs", op.Method, op.Path, mode)
		}
		n := root
		for _, seg := range strings.Split(op.Path[1:], "/") {
			n = n.child(seg)
		}
		po := n.ops
		if po == nil {
			po = &pathOps{template: op.Path}
			po.preflight = base.copyFor(op.Path, mtls.None)
			n.ops = po
		}
		if po.route(op.Method) != nil {
			continue // listed twice (two servers of one base path): the first wins
		}
		po.methods = append(po.methods, methodRoute{op.Method, base.copyFor(op.Path, mode)})
	}
	root.walk(func(po *pathOps) {
		var allow []string
		for _, m := range po.methods {
			allow = append(allow, m.method)
		}
		if get := po.route(http.MethodGet); get != nil && po.route(http.MethodHead) == nil {
			po.methods = append(po.methods, methodRoute{http.MethodHead, get})
			allow = append(allow, http.MethodHead)
		}
		po.allow = strings.Join(allow, ", ")
	})
	return root, nil
}

// copyFor returns a copy of the base route for one template and mode: it
// shares the base's pool, transport and ReverseProxy.
func (r *route) copyFor(template string, mode mtls.Mode) *route {
	c := *r
	c.path, c.mode = template, mode
	return &c
}

// child returns the node below n for a template segment, adding it.
func (n *opNode) child(seg string) *opNode {
	if seg != "" && seg[0] == '{' && seg[len(seg)-1] == '}' && strings.Count(seg, "{") == 1 {
		if n.param == nil {
			n.param = &opNode{}
		}
		return n.param
	}
	if strings.Contains(seg, "{") {
		pieces := templatePieces(seg)
		for _, m := range n.mixed {
			if equalPieces(m.pieces, pieces) {
				return m.node
			}
		}
		m := &mixedChild{pieces: pieces, node: &opNode{}}
		n.mixed = append(n.mixed, m)
		return m.node
	}
	if n.lit == nil {
		n.lit = map[string]*opNode{}
	}
	c := n.lit[seg]
	if c == nil {
		c = &opNode{}
		n.lit[seg] = c
	}
	return c
}

// templatePieces splits "{a}.{b}x" into "", "a", ".", "b", "x".
func templatePieces(seg string) []string {
	var out []string
	for {
		i := strings.IndexByte(seg, '{')
		j := strings.IndexByte(seg[max(i, 0):], '}')
		if i < 0 || j < 0 {
			return append(out, seg)
		}
		j += i
		out = append(out, seg[:i], seg[i+1:j])
		seg = seg[j+1:]
	}
}

// equalPieces compares the text of two mixed segments (parameter names
// do not matter).
func equalPieces(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i += 2 {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// matchPieces reports whether seg is the text of pieces around non-empty
// parameter values. The text after each parameter is taken at its first
// place: that leaves the most for what follows, so the match is found in
// one pass over seg.
func matchPieces(seg string, pieces []string) bool {
	first, last := pieces[0], pieces[len(pieces)-1]
	if len(seg) < len(first)+len(last) || !strings.HasPrefix(seg, first) || !strings.HasSuffix(seg, last) {
		return false
	}
	mid := seg[len(first) : len(seg)-len(last)]
	for i := 2; i < len(pieces)-1; i += 2 {
		if mid == "" {
			return false
		}
		k := strings.Index(mid[1:], pieces[i]) // the parameter before takes a byte at least
		if k < 0 {
			return false
		}
		mid = mid[1+k+len(pieces[i]):]
	}
	return mid != ""
}

func (n *opNode) walk(fn func(*pathOps)) {
	if n.ops != nil {
		fn(n.ops)
	}
	for _, c := range n.lit {
		c.walk(fn)
	}
	for _, m := range n.mixed {
		m.node.walk(fn)
	}
	if n.param != nil {
		n.param.walk(fn)
	}
}

// find returns the operations of the template that matches path (in
// normal form, starting with "/"), or nil.
func (n *opNode) find(path string) *pathOps {
	return n.findFrom(path[1:])
}

// findFrom matches rest, the path after the segments n stands for.
func (n *opNode) findFrom(rest string) *pathOps {
	seg, tail, more := strings.Cut(rest, "/")
	last := !more
	next := func(c *opNode) *pathOps {
		if last {
			return c.ops
		}
		return c.findFrom(tail)
	}
	if c := n.lit[seg]; c != nil {
		if po := next(c); po != nil {
			return po
		}
	}
	if seg == "" {
		return nil // a parameter is never empty
	}
	for _, m := range n.mixed {
		if matchPieces(seg, m.pieces) {
			if po := next(m.node); po != nil {
				return po
			}
		}
	}
	if n.param != nil {
		return next(n.param)
	}
	return nil
}

// route returns the route of a declared method, or nil.
func (po *pathOps) route(method string) *route {
	for i := range po.methods {
		if po.methods[i].method == method {
			return po.methods[i].rt
		}
	}
	return nil
}

// lookup chooses the operation of r on the template po: its route, or
// nil when the method is not admitted (405).
func (po *pathOps) lookup(r *http.Request) *route {
	if rt := po.route(r.Method); rt != nil {
		return rt
	}
	if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" {
		if m := r.Header.Get("Access-Control-Request-Method"); m != "" && po.route(m) != nil {
			return po.preflight
		}
	}
	return nil
}

// hasEncodedSlash reports whether an escaped path holds %2F.
func hasEncodedSlash(raw string) bool {
	return strings.Contains(raw, "%2F") || strings.Contains(raw, "%2f")
}
