package oaslint

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ClientAuth is the client-certificate mode a gateway applies to an
// operation, spelled as tlsgate's config spells it.
type ClientAuth string

// The client-authentication modes of an operation.
const (
	// ClientAuthNone: no alternative of the operation's security
	// requirement names a mutualTLS scheme (or it has none).
	ClientAuthNone ClientAuth = "none"
	// ClientAuthOptional: some alternatives name a mutualTLS scheme and
	// others do not (another scheme, or {}): a certificate is one way in,
	// so a gateway asks for one and verifies it if given, but does not
	// require it.
	ClientAuthOptional ClientAuth = "optional"
	// ClientAuthRequire: every alternative names a mutualTLS scheme; the
	// operation cannot be called without a client certificate.
	ClientAuthRequire ClientAuth = "require"
)

// An Operation is one operation of a document as a gateway serves it:
// a method on a path template under one base path.
type Operation struct {
	// Method is upper case: GET, PUT, POST, DELETE, OPTIONS, HEAD, PATCH,
	// TRACE, QUERY or one of OpenAPI 3.2's additionalOperations.
	Method string
	// Path is the base path joined with the path template, as written:
	// "/v1/pets/{petId}". The base path is the path of the operation's
	// servers (its own, else its path item's, else the document's, with
	// the variables' defaults); basePath in Swagger 2.0. An operation
	// whose servers have several base paths is listed once for each.
	Path string
	// ClientAuth is derived from the operation's effective security
	// requirement: its own security, else the document's. An empty list
	// (security: []) is none.
	ClientAuth ClientAuth
	// File and Line are where the operation's method key is written
	// (File is another file than Document.File when the path item is a
	// $ref to it).
	File string
	Line int
}

// Operations lists every operation of a document, path by path in the
// document's order, each path's methods in the order GET, PUT, POST,
// DELETE, OPTIONS, HEAD, PATCH, TRACE, QUERY, then OpenAPI 3.2's
// additionalOperations: what a gateway admits in front of the API, and
// where it requires client certificates. It does not judge the document;
// lint it for that. The error lists the paths it cannot route: keys that
// do not start with "/", path items behind $refs to URLs; the operations
// of the other paths are returned with it.
func Operations(doc *Document) ([]Operation, error) {
	if doc == nil || doc.root == nil || doc.root.root == nil {
		return nil, errors.New("operations: no document")
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
		methods = append(slices.Clip(methods), "query")
	}

	var ops []Operation
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
		add := func(method string, mk, op cur) {
			bases := itemBases
			if b := r.bases(op); b != nil && doc.major != 2 {
				bases = b
			}
			sec, ok := r.child(op, "security")
			if !ok {
				sec = global
			}
			mode := ClientAuthNone
			switch all, some := r.mtlsMode(sec); {
			case all:
				mode = ClientAuthRequire
			case some:
				mode = ClientAuthOptional
			}
			opLine, _ := mk.f.position(mk.n.off)
			for _, b := range bases {
				// Copies: the document's text is one buffer (Load shares it), and a
				// gateway keeps its operations for as long as it serves.
				ops = append(ops, Operation{Method: strings.Clone(method), Path: strings.Clone(b + key), ClientAuth: mode,
					File: strings.Clone(mk.f.name), Line: opLine})
			}
		}
		keys := map[string]cur{}
		r.entries(item, func(m string, mk, _ cur) { keys[m] = mk })
		for _, m := range methods {
			if op, ok := r.child(item, m); ok {
				add(strings.ToUpper(m), keys[m], op)
			}
		}
		if more, ok := r.child(item, "additionalOperations"); ok && doc.major == 3 && doc.minor >= 2 {
			r.entries(more, func(m string, mk, op cur) { add(strings.ToUpper(m), mk, op) })
		}
	})
	return ops, errors.Join(errs...)
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
