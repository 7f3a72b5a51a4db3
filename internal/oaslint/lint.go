package oaslint

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// A Linter lints documents. The zero value runs every rule at its default
// severity and knows no base URL. A Linter may be used by several
// goroutines at once; its fields must not change meanwhile.
type Linter struct {
	// Config re-levels rules or turns them off; nil keeps the defaults.
	Config *Config
	// BaseURL is the URL the documents are served from. Relative server
	// URLs (and Swagger 2.0 documents without schemes or host) are
	// resolved against it, as clients do. Nil means unknown: such URLs
	// are reported as url-relative (Finding.NeedsBaseURL) and not checked
	// further.
	BaseURL *url.URL
	// Jobs is how many files LintFiles works on at once; 0 means
	// GOMAXPROCS.
	Jobs int
	// Stdin is read by LintFiles for the file name "-".
	Stdin io.Reader
}

// Lint checks a document against every rule.
func (l *Linter) Lint(doc *Document) *Report {
	r := &run{
		doc:      doc,
		cfg:      l.Config,
		base:     l.BaseURL,
		rep:      &Report{File: doc.File, Version: doc.Version},
		seen:     map[findingKey]bool{},
		silenced: map[*ignoreSite]int{},
		schemes:  map[string]*scheme{},
		visited:  map[visitKey]bool{},
		baseFrom: "the base URL",
	}
	root := r.enter(cur{f: doc.root, alias: -1}, doc.root.root, nil)
	if doc.major == 2 {
		r.swagger(root)
	} else {
		r.oas3(root)
	}
	r.remoteRefs()
	r.ignoreSites()
	sortFindings(doc.root.name, r.rep.Findings)
	sortFindings(doc.root.name, r.rep.Suppressed)
	return r.rep
}

// run is the state of one Lint call.
type run struct {
	doc      *Document
	cfg      *Config
	base     *url.URL
	rep      *Report
	seen     map[findingKey]bool
	silenced map[*ignoreSite]int
	schemes  map[string]*scheme
	basic    []cur        // HTTP Basic security schemes
	plain    []*serverRef // servers that are not TLS and not loopback
	visited  map[visitKey]bool
	global   *cur          // the document's security requirement
	baseFrom string        // where base comes from, for messages: "the base URL" or "$self"
	targets  map[*node]cur // $ref targets with their context in their file, by node
}

type findingKey struct {
	rule string
	f    *file
	off  int32
	msg  string
}

type visitKey struct {
	id    *node
	where where
}

// where a path item is: its operations' servers and security differ.
type where int

const (
	inPaths where = iota
	inWebhooks
	inCallbacks
	inComponents
)

// cur is a node with its context: the file, the path there, the alias it
// was reached through, and the x-tlsgate-ignore extensions above it.
type cur struct {
	f     *file
	n     *node
	path  *seg
	alias int32 // offset of the outermost alias on the way, or -1
	ign   *ignFrame
}

type ignFrame struct {
	up   *ignFrame
	site *ignoreSite
}

func (r *run) enter(c cur, n *node, path *seg) cur {
	nc := cur{f: c.f, n: n, path: path, alias: c.alias, ign: c.ign}
	if n.flags&flagAlias != 0 && nc.alias < 0 {
		nc.alias = c.f.aliases[n]
	}
	if n.kind == mappingNode {
		if s := r.doc.ignores[n.identity()]; s != nil {
			nc.ign = &ignFrame{nc.ign, s}
		}
	}
	return nc
}

// child returns the value of key in the mapping at c.
func (r *run) child(c cur, key string) (cur, bool) {
	if c.n == nil || c.n.kind != mappingNode {
		return cur{}, false
	}
	for i := 0; i+1 < len(c.n.content); i += 2 {
		if c.n.content[i].value == key {
			return r.enter(c, &c.n.content[i+1], c.path.key1(key)), true
		}
	}
	return cur{}, false
}

// entries calls fn for each key of the mapping at c, with cursors on the
// key and on the value.
func (r *run) entries(c cur, fn func(key string, k, v cur)) {
	if c.n == nil || c.n.kind != mappingNode {
		return
	}
	for i := 0; i+1 < len(c.n.content); i += 2 {
		key := c.n.content[i].value
		p := c.path.key1(key)
		fn(key, r.enter(c, &c.n.content[i], p), r.enter(c, &c.n.content[i+1], p))
	}
}

// items calls fn for each item of the sequence at c.
func (r *run) items(c cur, fn func(i int, v cur)) {
	if c.n == nil || c.n.kind != sequenceNode {
		return
	}
	for i := range c.n.content {
		fn(i, r.enter(c, &c.n.content[i], c.path.idx(i)))
	}
}

// deref follows a $ref at c; ok is false when it leads nowhere we read.
func (r *run) deref(c cur) (cur, bool) {
	f, n, path := r.doc.deref(c.f, c.n, c.path)
	if n == nil {
		return cur{}, false
	}
	if n == c.n {
		return c, true
	}
	// The target is silenced by the x-tlsgate-ignore above it in its own
	// file as well as by those above the $ref.
	t, ok := r.targets[n]
	if !ok {
		t = r.at(f, path)
		if r.targets == nil {
			r.targets = map[*node]cur{}
		}
		r.targets[n] = t
	}
	if t.n != n {
		return r.enter(cur{f: f, alias: -1, ign: c.ign}, n, path), true
	}
	var sites []*ignoreSite
	for fr := t.ign; fr != nil; fr = fr.up {
		sites = append(sites, fr.site)
	}
	t.ign = c.ign
	for i := len(sites) - 1; i >= 0; i-- {
		t.ign = &ignFrame{t.ign, sites[i]}
	}
	return t, true
}

func (c cur) str() (string, bool) { return c.n.str() }

func (c cur) text() string {
	s, _ := c.n.text()
	return s
}

// pos is where c is reported, for messages that point at another place.
func (r *run) pos(c cur) string {
	off := c.n.off
	if c.alias >= 0 {
		off = c.alias
	}
	line, col := c.f.position(off)
	if c.f == r.doc.root {
		return fmt.Sprintf("line %d, column %d", line, col)
	}
	return fmt.Sprintf("%s:%d:%d", c.f.name, line, col)
}

// report records a finding at c, applying x-tlsgate-ignore and the Config.
func (r *run) report(c cur, rule, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	off := c.n.off
	if c.alias >= 0 {
		off = c.alias
	}
	key := findingKey{rule, c.f, off, msg}
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	rl, _ := LookupRule(rule)
	line, col := c.f.position(off)
	fd := Finding{
		Rule:     rule,
		Severity: rl.Severity,
		Message:  msg,
		Position: Position{File: c.f.name, Line: line, Column: col},
		Path:     c.path.jsonPath(),
		Pointer:  c.path.pointer(),
	}
	if c.alias >= 0 {
		dl, dc := c.f.position(c.n.off)
		fd.Defined = Position{File: c.f.name, Line: dl, Column: dc}
	}
	for fr := c.ign; fr != nil; fr = fr.up {
		if slices.Contains(fr.site.rules, rule) || slices.Contains(fr.site.rules, "*") {
			sl, sc := fr.site.f.position(fr.site.off)
			fd.Suppressed = &Suppression{Kind: SuppressedInSource, Position: Position{File: fr.site.f.name, Line: sl, Column: sc}}
			r.silenced[fr.site]++
			break
		}
	}
	if r.cfg != nil {
		if rc, ok := r.cfg.Rules[rule]; ok {
			switch {
			case rc.Off && fd.Suppressed == nil:
				fd.Suppressed = &Suppression{Kind: SuppressedByConfig, Position: Position{File: r.cfg.File, Line: rc.Line}}
			case !rc.Off:
				fd.Severity = rc.Severity
			}
		}
	}
	if fd.Suppressed != nil {
		r.rep.Suppressed = append(r.rep.Suppressed, fd)
	} else {
		r.rep.Findings = append(r.rep.Findings, fd)
	}
}

// oas3 lints an OpenAPI 3.x document.
func (r *run) oas3(root cur) {
	if r.doc.minor >= 2 {
		// OpenAPI 3.2: relative URLs resolve against $self, itself
		// relative to the document's location.
		if self, ok := r.child(root, "$self"); ok {
			if s, ok := self.str(); ok {
				if u, err := url.Parse(s); err == nil {
					switch {
					case r.base != nil:
						r.base, r.baseFrom = r.base.ResolveReference(u), "$self"
					case u.IsAbs():
						r.base, r.baseFrom = u, "$self"
					}
				}
			}
		}
	}
	r.docURLs(root)
	rootServers := r.servers(root)
	if len(rootServers) == 0 {
		r.noServers(root)
	}
	components, _ := r.child(root, "components")
	if ss, ok := r.child(components, "securitySchemes"); ok {
		r.entries(ss, func(name string, _, v cur) {
			if v, ok := r.deref(v); ok {
				r.securityScheme(name, v)
			}
		})
	}
	if g, ok := r.child(root, "security"); ok {
		r.global = &g
	}
	if paths, ok := r.child(root, "paths"); ok {
		r.entries(paths, func(key string, _, v cur) {
			if !strings.HasPrefix(key, "x-") {
				r.pathItem(v, key, rootServers, inPaths)
			}
		})
	}
	if hooks, ok := r.child(root, "webhooks"); ok {
		r.entries(hooks, func(key string, _, v cur) { r.pathItem(v, key, nil, inWebhooks) })
	}
	if items, ok := r.child(components, "pathItems"); ok {
		r.entries(items, func(key string, _, v cur) { r.pathItem(v, key, nil, inComponents) })
	}
	if cbs, ok := r.child(components, "callbacks"); ok {
		r.entries(cbs, func(_ string, _, v cur) { r.callback(v) })
	}
	if resps, ok := r.child(components, "responses"); ok {
		r.entries(resps, func(_ string, _, v cur) { r.response(v) })
	}
	if links, ok := r.child(components, "links"); ok {
		r.entries(links, func(_ string, _, v cur) { r.link(v) })
	}
	if params, ok := r.child(components, "parameters"); ok {
		r.entries(params, func(_ string, _, v cur) { r.parameter(v) })
	}
	r.basicAuth()
}

// swagger lints a Swagger 2.0 document.
func (r *run) swagger(root cur) {
	r.docURLs(root)
	host, hasHost := r.child(root, "host")
	hostName := ""
	if hasHost {
		hostName, _ = host.str()
		if u := parseURL("//" + hostName); u.hasUser {
			r.report(host, RuleURLCredentials, "host %q has credentials before the host name", redact("//" + hostName)[2:])
		}
	}
	schemes, hasSchemes := r.child(root, "schemes")
	if !hasSchemes || schemes.n.kind == sequenceNode && len(schemes.n.content) == 0 {
		r.swaggerNoSchemes(root, hostName, hasHost)
	} else {
		r.swaggerSchemes(schemes, hostName)
	}
	if defs, ok := r.child(root, "securityDefinitions"); ok {
		r.entries(defs, func(name string, _, v cur) { r.securityScheme(name, v) })
	}
	if g, ok := r.child(root, "security"); ok {
		r.global = &g
	}
	if params, ok := r.child(root, "parameters"); ok {
		r.entries(params, func(_ string, _, v cur) { r.parameter(v) })
	}
	paths, _ := r.child(root, "paths")
	r.entries(paths, func(key string, _, v cur) {
		if strings.HasPrefix(key, "x-") {
			return
		}
		item, ok := r.deref(v)
		if !ok {
			return
		}
		r.parameters(item)
		for _, m := range methods2 {
			op, ok := r.child(item, m)
			if !ok {
				continue
			}
			if s, ok := r.child(op, "schemes"); ok {
				r.swaggerSchemes(s, hostName)
			}
			r.parameters(op)
			r.securityRemoved(op, strings.ToUpper(m)+" "+key)
		}
	})
	r.basicAuth()
}

var (
	methods2 = []string{"get", "put", "post", "delete", "options", "head", "patch"}
	methods3 = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
)

// swaggerSchemes checks a Swagger 2.0 schemes list.
// fix says what to write instead of an insecure scheme.
func fix(u urlInfo) string {
	if u.scheme == "ws" {
		return "use wss://"
	}
	return "use https://"
}

func (r *run) swaggerSchemes(schemes cur, host string) {
	u := parseURL("//" + host)
	r.items(schemes, func(_ int, it cur) {
		s := strings.ToLower(it.text())
		u.scheme = s
		switch {
		case u.secure():
		case s != "http" && s != "ws":
			r.report(it, RuleServerHTTPS, "schemes lists %q: not a TLS scheme; use https", it.text())
		case host != "" && u.loopback():
			r.report(it, RuleHTTPLocalhost, "schemes lists %s for host %q: plain HTTP on a loopback host (a development server)", it.text(), host)
		default:
			r.report(it, RuleServerHTTPS, "schemes lists %s: the API is served over %s; list %s only", it.text(), schemeName(u), map[string]string{"http": "https", "ws": "wss"}[s])
			r.plain = append(r.plain, &serverRef{c: it, url: s + "://" + host})
		}
	})
}

// swaggerNoSchemes handles a Swagger 2.0 document without schemes: the
// API uses the scheme the document itself is served with.
func (r *run) swaggerNoSchemes(root cur, host string, hasHost bool) {
	r.atBase(root, host, hasHost,
		"no schemes: add schemes: [https], as the API uses the scheme the document is served with, unknown from a file",
		"no schemes: the API uses the scheme of", "%s; add schemes: [https]")
}

// noServers handles an OpenAPI 3 document without servers: its server is
// "/", the document's own location.
func (r *run) noServers(root cur) {
	r.atBase(root, "", false,
		"no servers: add servers with https:// URLs, as the API is at the document's own location (\"/\"), unknown from a file",
		"no servers: the API is at", "served over %s; add servers with https:// URLs")
}

// atBase checks the API of a document that is wherever the document is
// served from: at the base URL (on host instead of the base URL's, if
// hasHost), or unknown without one. unknown is the url-relative message;
// at begins the others, and plain ends the one for a base URL that is
// not TLS, with %s for its scheme.
func (r *run) atBase(root cur, host string, hasHost bool, unknown, at, plain string) {
	if r.base == nil {
		r.report(root, RuleURLRelative, "%s", unknown)
		return
	}
	u := parseURL(r.base.String())
	if hasHost {
		u.host = parseURL("//" + host).host
	}
	if u.secure() {
		return
	}
	if u.loopback() {
		r.report(root, RuleHTTPLocalhost, "%s %s %s, plain HTTP on a loopback host", at, r.baseFrom, r.base)
		return
	}
	r.report(root, RuleServerHTTPS, "%s %s %s, "+plain, at, r.baseFrom, r.base, schemeName(u))
	r.plain = append(r.plain, &serverRef{c: root, url: r.base.String()})
}

// docURLs checks the document's informational URLs for credentials.
func (r *run) docURLs(root cur) {
	check := func(c cur, ok bool, what string) {
		if s, isStr := c.str(); ok && isStr {
			if u := parseURL(s); u.hasUser {
				r.report(c, RuleURLCredentials, "%s %q has credentials before the host", what, redact(s))
			}
		}
	}
	info, _ := r.child(root, "info")
	c, ok := r.child(info, "termsOfService")
	check(c, ok, "termsOfService")
	contact, _ := r.child(info, "contact")
	c, ok = r.child(contact, "url")
	check(c, ok, "contact URL")
	license, _ := r.child(info, "license")
	c, ok = r.child(license, "url")
	check(c, ok, "license URL")
	docs, _ := r.child(root, "externalDocs")
	c, ok = r.child(docs, "url")
	check(c, ok, "externalDocs URL")
}

// pathItem lints a path item and its operations.
func (r *run) pathItem(c cur, name string, inherited []*serverRef, w where) {
	c, ok := r.deref(c)
	if !ok || c.n.kind != mappingNode {
		return
	}
	k := visitKey{c.n.identity(), w}
	if k.id != nil {
		if r.visited[k] {
			return
		}
		r.visited[k] = true
	}
	servers := r.servers(c)
	if len(servers) == 0 {
		servers = inherited
	}
	r.parameters(c)
	methods := methods3
	if r.doc.minor >= 2 {
		methods = append(methods, "query")
	}
	for _, m := range methods {
		if op, ok := r.child(c, m); ok {
			r.operation(op, strings.ToUpper(m)+" "+name, servers, w)
		}
	}
	if more, ok := r.child(c, "additionalOperations"); ok && r.doc.minor >= 2 {
		r.entries(more, func(m string, _, op cur) { r.operation(op, m+" "+name, servers, w) })
	}
}

func (r *run) operation(op cur, label string, inherited []*serverRef, w where) {
	servers := r.servers(op)
	if len(servers) == 0 {
		servers = inherited
	}
	r.parameters(op)
	if w == inPaths {
		r.securityRemoved(op, label)
		r.mutualTLS(op, label, servers)
	}
	if cbs, ok := r.child(op, "callbacks"); ok {
		r.entries(cbs, func(_ string, _, v cur) { r.callback(v) })
	}
	if resps, ok := r.child(op, "responses"); ok {
		r.entries(resps, func(_ string, _, v cur) { r.response(v) })
	}
}

func (r *run) callback(c cur) {
	c, ok := r.deref(c)
	if !ok {
		return
	}
	r.entries(c, func(expr string, k, v cur) {
		if !strings.HasPrefix(expr, "x-") {
			r.callbackURL(k, expr)
			r.pathItem(v, expr, nil, inCallbacks)
		}
	})
}

// callbackURL checks a callback's key: a runtime expression, or a URL the
// provider calls, possibly with expressions inside. Only a scheme written
// in the key can be judged; "{$request.body#/callbackUrl}" is whatever the
// client sends.
func (r *run) callbackURL(k cur, key string) {
	u := parseURL(key)
	if u.hasUser {
		r.report(k, RuleURLCredentials, "callback URL %q has credentials before the host", redact(key))
	}
	if u.relative || u.secure() {
		return
	}
	shown := redact(key)
	if u.loopback() {
		r.report(k, RuleHTTPLocalhost, "callback URL %q is plain HTTP on a loopback host (a development set-up)", shown)
		return
	}
	r.report(k, RuleCallbackHTTPS, "callback URL %q is called over %s: the provider sends each event in clear; %s", shown, schemeName(u), fix(u))
}

func (r *run) response(c cur) {
	c, ok := r.deref(c)
	if !ok {
		return
	}
	if links, ok := r.child(c, "links"); ok {
		r.entries(links, func(_ string, _, v cur) { r.link(v) })
	}
}

func (r *run) link(c cur) {
	c, ok := r.deref(c)
	if !ok {
		return
	}
	if s, ok := r.child(c, "server"); ok {
		if ref := r.server(s); ref != nil {
			r.track(ref)
		}
	}
}

// serverRef is a server as the other rules need it.
type serverRef struct {
	c   cur    // its url (or, for Swagger 2.0, its scheme)
	url string // with the variables' defaults, resolved against the base URL
	u   urlInfo
}

// insecure says whether the server is known to be served without TLS.
func (s *serverRef) insecure() bool { return !s.u.relative && !s.u.secure() }

func (s *serverRef) String() string { return s.url }

// servers lints the servers of an object and returns them.
func (r *run) servers(c cur) []*serverRef {
	list, ok := r.child(c, "servers")
	if !ok {
		return nil
	}
	var out []*serverRef
	r.items(list, func(_ int, s cur) {
		if ref := r.server(s); ref != nil {
			out = append(out, ref)
			r.track(ref)
		}
	})
	return out
}

func (r *run) track(s *serverRef) {
	if s.insecure() && !s.u.loopback() {
		r.plain = append(r.plain, s)
	}
}

// variable is a server variable: its default and enum values.
type variable struct {
	def    cur
	hasDef bool
	enum   []cur
}

// server lints one Server Object.
func (r *run) server(s cur) *serverRef {
	uc, ok := r.child(s, "url")
	if !ok {
		return nil
	}
	tmpl, ok := uc.str()
	if !ok {
		return nil
	}
	vars := map[string]*variable{}
	if vs, ok := r.child(s, "variables"); ok {
		r.entries(vs, func(name string, _, v cur) {
			vr := &variable{}
			vr.def, vr.hasDef = r.child(v, "default")
			if e, ok := r.child(v, "enum"); ok {
				r.items(e, func(_ int, it cur) { vr.enum = append(vr.enum, it) })
			}
			vars[name] = vr
		})
	}
	expand := func(name, val string) string { return expandURL(tmpl, vars, name, val) }
	full := expand("", "")
	ref := &serverRef{c: uc, url: full, u: parseURL(full)}

	// Variables whose values may change the scheme are checked value by
	// value, where each value is written.
	schemeVars := schemeVariables(tmpl)
	for _, name := range schemeVars {
		vr := vars[name]
		if vr == nil {
			continue
		}
		cands := vr.enum
		if vr.hasDef {
			cands = append([]cur{vr.def}, cands...)
		}
		for _, cand := range cands {
			val, ok := cand.n.text()
			if !ok {
				continue
			}
			what := "allows"
			if vr.hasDef && cand.n == vr.def.n {
				what = "defaults to"
			}
			u := parseURL(expand(name, val))
			switch {
			case u.relative || u.secure():
			case u.loopback():
				r.report(cand, RuleHTTPLocalhost, "server variable %q %s %q: URL %q is plain HTTP on a loopback host (a development server)", name, what, redactValue(val), redact(expand(name, val)))
			default:
				r.report(cand, RuleServerVariableHTTPS, "server variable %q %s %q: URL %q is served over %s", name, what, redactValue(val), redact(expand(name, val)), schemeName(u))
			}
		}
	}
	// Credentials may come from any variable.
	for name, vr := range vars {
		cands := vr.enum
		if vr.hasDef {
			cands = append([]cur{vr.def}, cands...)
		}
		for _, cand := range cands {
			if val, ok := cand.n.text(); ok && parseURL(expand(name, val)).hasUser && !parseURL(tmpl).hasUser {
				r.report(cand, RuleURLCredentials, "server variable %q value %q puts credentials in the URL %q", name, redactValue(val), redact(expand(name, val)))
			}
		}
	}
	if parseURL(tmpl).hasUser {
		r.report(uc, RuleURLCredentials, "server URL %q has credentials before the host", redact(tmpl))
	}
	if len(schemeVars) > 0 {
		return ref
	}
	u := ref.u
	shown := redact(tmpl) // messages never repeat a password
	switch {
	case u.noScheme:
		r.report(uc, RuleURLNoScheme, "server URL %q has no scheme, so it is a path relative to the document's URL, not a host; write https://%s", shown, strings.TrimPrefix(shown, "//"))
		return ref
	case u.relative:
		if r.base == nil {
			r.report(uc, RuleURLRelative, "server URL %q is relative: clients resolve it against the document's URL, unknown from a file", shown)
			return ref
		}
		rel, err := url.Parse(full)
		if err != nil {
			return ref
		}
		ref.url = r.base.ResolveReference(rel).String()
		ref.u = parseURL(ref.url)
		if ref.u.secure() {
			return ref
		}
		if ref.u.loopback() {
			r.report(uc, RuleHTTPLocalhost, "server URL %q resolves against %s to %q: plain HTTP on a loopback host", shown, r.baseFrom, redact(ref.url))
		} else {
			r.report(uc, RuleServerHTTPS, "server URL %q resolves against %s to %q, served over %s; %s", shown, r.baseFrom, redact(ref.url), schemeName(ref.u), fix(ref.u))
		}
		return ref
	case u.secure():
		return ref
	}
	// Not TLS: a development server only if every value of every variable
	// keeps the host on loopback.
	public, publicWhy := "", ""
	if !u.loopback() {
		public = full
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		vr := vars[name]
		cands := slices.Clone(vr.enum)
		if vr.hasDef {
			cands = append(cands, vr.def)
		}
		for _, cand := range cands {
			if val, ok := cand.n.text(); ok && public == "" {
				if e := parseURL(expand(name, val)); !e.loopback() {
					public, publicWhy = expand(name, val), fmt.Sprintf("%s is %q", name, redactValue(val))
				}
			}
		}
	}
	switch {
	case public == "":
		r.report(uc, RuleHTTPLocalhost, "server URL %q is plain HTTP on a loopback host (a development server)", shown)
	case public == full || tmpl == full:
		r.report(uc, RuleServerHTTPS, "server URL %q is served over %s; %s", shown, schemeName(u), fix(u))
	default:
		r.report(uc, RuleServerHTTPS, "server URL %q is served over %s, to a host that is not loopback when %s; %s", shown, schemeName(u), publicWhy, fix(u))
	}
	return ref
}

// redactValue hides a variable value that holds credentials.
func redactValue(v string) string {
	if strings.Contains(v, "//") {
		return redact(v)
	}
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		return redact("//" + v)[2:]
	}
	return v
}

// expandURL substitutes server variables: name gets val, the others their
// default. Undefined variables stay as written.
func expandURL(tmpl string, vars map[string]*variable, name, val string) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(tmpl[:i])
		v := tmpl[i+1 : i+j]
		switch vr := vars[v]; {
		case v == name:
			b.WriteString(val)
		case vr != nil && vr.hasDef:
			d, _ := vr.def.n.text()
			b.WriteString(d)
		default:
			b.WriteString(tmpl[i : i+j+1])
		}
		tmpl = tmpl[i+j+1:]
	}
	b.WriteString(tmpl)
	return b.String()
}

// schemeVariables returns the variables that decide a URL's scheme: those
// written before "://", or the one the URL starts with when it has no
// "://" ("{server}/v1").
func schemeVariables(tmpl string) []string {
	end := strings.Index(tmpl, "://")
	var out []string
	for off := 0; ; {
		i := strings.IndexByte(tmpl[off:], '{')
		if i < 0 {
			break
		}
		i += off
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			break
		}
		if end >= 0 && i < end || end < 0 && i == 0 {
			out = append(out, tmpl[i+1:i+j])
		}
		off = i + j + 1
	}
	return out
}

// scheme is a security scheme, as the other rules need it.
type scheme struct {
	c    cur
	mtls bool
}

// oauthURLs are the fields of OAuth flows (and, in 2.0, of the scheme)
// that hold URLs.
var oauthURLs = []string{"authorizationUrl", "tokenUrl", "refreshUrl", "deviceAuthorizationUrl"}

// securityScheme lints one security scheme (3.x) or security definition
// (2.0). Types and HTTP scheme names are compared without regard to case.
func (r *run) securityScheme(name string, c cur) {
	t, _ := r.child(c, "type")
	typ := strings.ToLower(t.text())
	sc := &scheme{c: c}
	r.schemes[name] = sc
	switch typ {
	case "basic": // 2.0
		r.basic = append(r.basic, t)
	case "http":
		if s, ok := r.child(c, "scheme"); ok && strings.EqualFold(s.text(), "basic") {
			r.basic = append(r.basic, s)
		}
	case "apikey":
		if in, ok := r.child(c, "in"); ok && strings.EqualFold(in.text(), "query") {
			n, _ := r.child(c, "name")
			r.report(in, RuleAPIKeyInQuery, "security scheme %q sends the API key %q in the query string, which logs and Referer headers keep; use in: header", name, n.text())
		}
	case "oauth2":
		for _, f := range oauthURLs[:2] { // 2.0 puts them on the scheme
			if u, ok := r.child(c, f); ok {
				r.oauthURL(u, fmt.Sprintf("security scheme %q %s", name, f))
			}
		}
		if u, ok := r.child(c, "oauth2MetadataUrl"); ok {
			r.oauthURL(u, fmt.Sprintf("security scheme %q oauth2MetadataUrl", name))
		}
		flows, _ := r.child(c, "flows")
		r.entries(flows, func(flow string, _, fc cur) {
			for _, f := range oauthURLs {
				if u, ok := r.child(fc, f); ok {
					r.oauthURL(u, fmt.Sprintf("security scheme %q %s flow %s", name, flow, f))
				}
			}
		})
	case "openidconnect":
		if u, ok := r.child(c, "openIdConnectUrl"); ok {
			r.oauthURL(u, fmt.Sprintf("security scheme %q openIdConnectUrl", name))
		}
	case "mutualtls":
		sc.mtls = true
		if r.doc.major == 2 || r.doc.minor < 1 {
			r.report(t, RuleMTLSVersion, "security scheme %q is of type mutualTLS, which OpenAPI %s does not have (from 3.1 on): tools reading this document ignore or reject it", name, r.doc.Version)
		}
	}
}

// oauthURL lints a URL of an OAuth 2 flow or OpenID Connect.
func (r *run) oauthURL(c cur, what string) {
	s, ok := c.str()
	if !ok {
		return
	}
	u := parseURL(s)
	if u.hasUser {
		r.report(c, RuleURLCredentials, "%s %q has credentials before the host", what, redact(s))
	}
	resolved := s
	shown := redact(s)
	switch {
	case u.noScheme:
		r.report(c, RuleURLNoScheme, "%s %q has no scheme, so it is a path relative to the document's URL, not a host; write https://%s", what, shown, shown)
		return
	case u.relative && r.base == nil:
		r.report(c, RuleURLRelative, "%s %q is relative: clients resolve it against the document's URL, unknown from a file", what, shown)
		return
	case u.relative:
		rel, err := url.Parse(s)
		if err != nil {
			return
		}
		resolved = r.base.ResolveReference(rel).String()
		u = parseURL(resolved)
	}
	switch {
	case u.secure():
	case u.loopback():
		r.report(c, RuleHTTPLocalhost, "%s %q is plain HTTP on a loopback host (a development server)", what, redact(resolved))
	default:
		r.report(c, RuleOAuthURLHTTPS, "%s %q is served over %s: tokens and codes travel in clear; use https://", what, redact(resolved), schemeName(u))
	}
}

// basicAuth reports HTTP Basic schemes when a server is plain HTTP.
func (r *run) basicAuth() {
	if len(r.plain) == 0 {
		return
	}
	first := r.plain[0]
	more := ""
	if n := len(r.plain) - 1; n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	for _, b := range r.basic {
		r.report(b, RuleBasicAuthHTTP, "HTTP Basic authentication sends the password with every request, but the API has servers that are not https: %q (%s)%s", redact(first.url), r.pos(first.c), more)
	}
}

// securityRemoved reports an operation that lifts the global security
// requirement.
func (r *run) securityRemoved(op cur, label string) {
	sec, ok := r.child(op, "security")
	if !ok || sec.n.kind != sequenceNode || !r.globalRequires() {
		return
	}
	empty := 0
	for i := range sec.n.content {
		if it := &sec.n.content[i]; it.kind == mappingNode && len(it.content) == 0 {
			empty++
		}
	}
	switch {
	case empty == len(sec.n.content):
		r.report(sec, RuleSecurityRemoved, "%s removes the global security requirement (security: %s): anyone may call it", label, strings.TrimSpace(nodeText(sec.n)))
	case empty > 0:
		r.report(sec, RuleSecurityRemoved, "%s makes authentication optional ({} in its security): anyone may call it", label)
	}
}

func nodeText(n *node) string {
	if n.kind == sequenceNode && len(n.content) == 0 {
		return "[]"
	}
	if n.kind == sequenceNode {
		return "[{}]"
	}
	return n.value
}

// globalRequires says whether the document requires authentication.
func (r *run) globalRequires() bool {
	if r.global == nil || r.global.n.kind != sequenceNode {
		return false
	}
	for i := range r.global.n.content {
		if it := &r.global.n.content[i]; it.kind == mappingNode && len(it.content) > 0 {
			return true
		}
	}
	return false
}

// mutualTLS reports an operation that requires mutual TLS on a server
// that is not https.
func (r *run) mutualTLS(op cur, label string, servers []*serverRef) {
	sec, opLevel := r.child(op, "security")
	if !opLevel {
		if r.global == nil {
			return
		}
		sec = *r.global
	}
	var at cur
	var schemeName string
	found := false
	r.items(sec, func(_ int, alt cur) {
		r.entries(alt, func(name string, k, _ cur) {
			if s := r.schemes[name]; s != nil && s.mtls && !found {
				at, schemeName, found = k, name, true
			}
		})
	})
	if !found {
		return
	}
	for _, s := range servers {
		if !s.insecure() {
			continue
		}
		if opLevel {
			r.report(at, RuleMTLSHTTPS, "%s requires mutual TLS (security scheme %q) but is served from %q (%s), which is not https: without a TLS handshake there is no client certificate", label, schemeName, redact(s.url), r.pos(s.c))
		} else {
			// Not naming the operation: one finding per server, not one
			// per operation at the same line.
			r.report(at, RuleMTLSHTTPS, "the global security requirement needs mutual TLS (security scheme %q), but operations are served from %q (%s), which is not https: without a TLS handshake there is no client certificate", schemeName, redact(s.url), r.pos(s.c))
		}
	}
}

// credentialNames are query parameter names that carry credentials,
// lower case without '-' and '_'. Matched whole: "page_token" is not one.
var credentialNames = map[string]bool{
	"apikey": true, "apitoken": true, "accesstoken": true, "authtoken": true, "authkey": true, "token": true,
	"password": true, "passwd": true, "pwd": true, "secret": true, "clientsecret": true, "idtoken": true,
	"refreshtoken": true, "sessiontoken": true, "sessionid": true, "privatekey": true,
	"auth": true, "authorization": true, "bearer": true, "jwt": true, "xapikey": true,
}

// parameters lints the parameters of a path item or operation.
func (r *run) parameters(c cur) {
	if ps, ok := r.child(c, "parameters"); ok {
		r.items(ps, func(_ int, p cur) { r.parameter(p) })
	}
}

func (r *run) parameter(p cur) {
	p, ok := r.deref(p)
	if !ok {
		return
	}
	in, _ := r.child(p, "in")
	if !strings.EqualFold(in.text(), "query") {
		return
	}
	name, ok := r.child(p, "name")
	if !ok {
		return
	}
	norm := strings.ToLower(paramNameNorm.Replace(name.text()))
	if credentialNames[norm] {
		r.report(name, RuleCredentialInQuery, "query parameter %q looks like a credential: URLs end up in logs and Referer headers; send it in a header", name.text())
	}
}

// remoteRefs lints the $refs to URLs.
func (r *run) remoteRefs() {
	for _, rr := range r.doc.remote {
		c := r.at(rr.f, rr.path)
		if c.n == nil {
			continue
		}
		u := parseURL(rr.ref)
		if u.hasUser {
			r.report(c, RuleURLCredentials, "$ref %q has credentials before the host", redact(rr.ref))
		}
		if u.scheme == "http" && !u.loopback() {
			r.report(c, RuleRefHTTP, "$ref %q is fetched over plain HTTP: anyone on the path can change the definitions; use https:// or a local file", redact(rr.ref))
		}
	}
}

// ignoreSites reports malformed x-tlsgate-ignore and counts their use.
func (r *run) ignoreSites() {
	for _, s := range r.doc.sites {
		c := r.at(s.f, s.path.key1("x-tlsgate-ignore"))
		item := func(i int) cur {
			if i >= 0 && c.n != nil && c.n.kind == sequenceNode && i < len(c.n.content) {
				return r.enter(c, &c.n.content[i], c.path.idx(i))
			}
			return c
		}
		for i, id := range s.rules {
			if _, ok := LookupRule(id); !ok && id != "*" {
				if ic := item(s.index[i]); ic.n != nil {
					r.report(ic, RuleIgnoreUnknown, "x-tlsgate-ignore names %q, which is no rule%s", id, suggestRule(id))
				}
			}
		}
		for _, b := range s.bad {
			if bc := item(b.index); bc.n != nil {
				r.report(bc, RuleIgnoreUnknown, "%s", b.msg)
			}
		}
		line, col := s.f.position(s.off)
		r.rep.Ignores = append(r.rep.Ignores, Ignore{
			Position: Position{File: s.f.name, Line: line, Column: col},
			Rules:    s.rules,
			Silenced: r.silenced[s],
		})
	}
}

// at returns a cursor on the node at path in f, with the aliases and
// x-tlsgate-ignore on the way.
func (r *run) at(f *file, path *seg) cur {
	c := r.enter(cur{f: f, alias: -1}, f.root, nil)
	for _, s := range path.list() {
		var ok bool
		if s.index >= 0 {
			if c.n.kind != sequenceNode || s.index >= len(c.n.content) {
				return cur{}
			}
			c, ok = r.enter(c, &c.n.content[s.index], c.path.idx(s.index)), true
		} else {
			c, ok = r.child(c, s.key)
		}
		if !ok {
			return cur{}
		}
	}
	return c
}

var paramNameNorm = strings.NewReplacer("-", "", "_", "", ".", "")
