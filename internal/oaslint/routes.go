package oaslint

import (
	"errors"
	"fmt"
	"strings"
)

// A Route is a path of a document's API as a gateway routes it: the
// operations of one path template that share a client-authentication
// mode.
type Route struct {
	// Path is the server's base path joined with the path template, as
	// written: "/v1/pets/{petId}". The base path is the path of the
	// operations' servers (their own, their path item's or the
	// document's, with the variables' defaults); of basePath in Swagger
	// 2.0. A path with servers of several base paths gives a route for
	// each.
	Path string
	// Methods are upper case, in the order GET, PUT, POST, DELETE,
	// OPTIONS, HEAD, PATCH, TRACE, QUERY, then OpenAPI 3.2's additional
	// operations.
	Methods []string
	// MutualTLS is set when the operations cannot be called without a
	// client certificate: every alternative of their security requirement
	// (their own, or the document's) includes a security scheme of type
	// mutualTLS. A gateway should require one (client auth "require").
	MutualTLS bool
	// MutualTLSOptional is set when some alternatives include a mutualTLS
	// scheme and others do not (another scheme, or {}): a certificate is
	// one way in, so a gateway should ask for one and verify it if given,
	// but not require it.
	MutualTLSOptional bool
	// Line is the line of the path's key under paths, in Document.File.
	Line int
}

// Routes derives the routes of a document from its paths: what a gateway
// serves in front of the API, and where it requires client certificates.
// It does not judge the document; lint it for that. The error lists the
// paths it cannot route: keys that do not start with "/", path items
// behind $refs to URLs.
func Routes(doc *Document) ([]Route, error) {
	if doc == nil || doc.root == nil || doc.root.root == nil {
		return nil, errors.New("routes: no document")
	}
	r := &run{doc: doc, rep: &Report{}, seen: map[findingKey]bool{}, silenced: map[*ignoreSite]int{},
		schemes: map[string]*scheme{}, visited: map[visitKey]bool{}}
	root := r.enter(cur{f: doc.root, alias: -1}, doc.root.root, nil)
	components, _ := r.child(root, "components")
	if ss, ok := r.child(components, "securitySchemes"); ok {
		r.entries(ss, func(name string, _, v cur) {
			if v, ok := r.deref(v); ok {
				t, _ := r.child(v, "type")
				r.schemes[name] = &scheme{c: v, mtls: strings.EqualFold(t.text(), "mutualTLS")}
			}
		})
	}
	global, _ := r.child(root, "security")
	rootBases := []string{""}
	if doc.major == 2 {
		if bp, ok := r.child(root, "basePath"); ok {
			rootBases = []string{trimBase(bp.text())}
		}
	} else if b := r.bases(root); b != nil {
		rootBases = b
	}
	methods := methods3
	switch {
	case doc.major == 2:
		methods = methods2
	case doc.minor >= 2:
		methods = append(methods, "query")
	}

	var routes []Route
	var errs []error
	paths, _ := r.child(root, "paths")
	r.entries(paths, func(key string, k, v cur) {
		if strings.HasPrefix(key, "x-") {
			return
		}
		line, _ := k.f.position(k.n.off)
		if !strings.HasPrefix(key, "/") {
			errs = append(errs, fmt.Errorf("%s:%d: path %q does not start with /", k.f.name, line, key))
			return
		}
		item, ok := r.deref(v)
		if !ok {
			ref, _ := r.child(v, "$ref")
			errs = append(errs, fmt.Errorf("%s:%d: path %q is a $ref (%s) that tlsgate does not follow", k.f.name, line, key, ref.text()))
			return
		}
		itemBases := rootBases
		if b := r.bases(item); b != nil && doc.major != 2 {
			itemBases = b
		}
		type group struct {
			path      string
			mtls, opt bool
		}
		index := map[group]int{}
		var mine []Route
		add := func(method string, op cur) {
			bases := itemBases
			if b := r.bases(op); b != nil && doc.major != 2 {
				bases = b
			}
			sec, ok := r.child(op, "security")
			if !ok {
				sec = global
			}
			all, some := r.mtlsMode(sec)
			for _, b := range bases {
				g := group{b + key, all, some && !all}
				i, ok := index[g]
				if !ok {
					i = len(mine)
					index[g] = i
					mine = append(mine, Route{Path: g.path, MutualTLS: g.mtls, MutualTLSOptional: g.opt, Line: line})
				}
				mine[i].Methods = append(mine[i].Methods, method)
			}
		}
		for _, m := range methods {
			if op, ok := r.child(item, m); ok {
				add(strings.ToUpper(m), op)
			}
		}
		if more, ok := r.child(item, "additionalOperations"); ok && doc.major == 3 && doc.minor >= 2 {
			r.entries(more, func(m string, _, op cur) { add(strings.ToUpper(m), op) })
		}
		routes = append(routes, mine...)
	})
	return routes, errors.Join(errs...)
}

// mtlsMode says whether every alternative of a security requirement
// includes a mutualTLS scheme, and whether some do.
func (r *run) mtlsMode(sec cur) (all, some bool) {
	if sec.n == nil || sec.n.kind != sequenceNode || len(sec.n.content) == 0 {
		return false, false
	}
	all = true
	r.items(sec, func(_ int, alt cur) {
		has := false
		r.entries(alt, func(name string, _, _ cur) {
			if s := r.schemes[name]; s != nil && s.mtls {
				has = true
			}
		})
		all = all && has
		some = some || has
	})
	return all, some
}

// bases returns the base paths of the servers of an object, each once;
// nil when it has none.
func (r *run) bases(c cur) []string {
	list, ok := r.child(c, "servers")
	if !ok || list.n.kind != sequenceNode || len(list.n.content) == 0 {
		return nil
	}
	var out []string
	r.items(list, func(_ int, s cur) {
		u, ok := r.child(s, "url")
		if !ok {
			return
		}
		tmpl, _ := u.str()
		vars := map[string]*variable{}
		if vs, ok := r.child(s, "variables"); ok {
			r.entries(vs, func(name string, _, v cur) {
				vr := &variable{}
				vr.def, vr.hasDef = r.child(v, "default")
				vars[name] = vr
			})
		}
		b := trimBase(urlPath(expandURL(tmpl, vars, "", "")))
		for _, have := range out {
			if have == b {
				return
			}
		}
		out = append(out, b)
	})
	return out
}

// urlPath returns the path of a URL, absolute or relative.
func urlPath(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	u := parseURL(s)
	switch {
	case u.noScheme: // "api.example.com/v1"
		if i := strings.IndexByte(s, '/'); i >= 0 {
			return s[i:]
		}
		return ""
	case !u.relative || strings.HasPrefix(s, "//"):
		i := strings.Index(s, "//")
		if i < 0 {
			return ""
		}
		rest := s[i+2:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return rest[j:]
		}
		return ""
	}
	return s
}

// trimBase makes a base path that a path template can follow: "/v1", or
// "" for the root.
func trimBase(p string) string {
	p = strings.TrimRight(p, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}
