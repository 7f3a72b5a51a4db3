package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/mtls"
)

// Options are shared by every site of a gateway.
type Options struct {
	Log *slog.Logger
	// AccessLog writes one line per request.
	AccessLog bool
	// TrustedProxies may pass X-Forwarded-For and X-Request-ID on.
	TrustedProxies []netip.Prefix
	// BodyRead bounds the wait between two reads of a request body.
	BodyRead time.Duration
	// UpstreamConnect and UpstreamResponse bound upstream connects and the
	// wait for response headers.
	UpstreamConnect, UpstreamResponse time.Duration
	// MaxUpstreamHeaderBytes bounds an upstream response's head: the
	// status line and header fields of the answer, and of each 1xx before
	// it. A longer head closes the upstream connection and the client gets
	// 502, so a broken or hostile upstream cannot make the gateway hold an
	// unbounded header in memory. Zero means DefaultMaxUpstreamHeaderBytes.
	MaxUpstreamHeaderBytes int
	// UpstreamTLS is the client config for https upstreams.
	UpstreamTLS *tls.Config
	// Observer, when set, is told about every request (metrics).
	Observer Observer
	// Send bounds the wait between two successful writes of an answer to
	// an HTTP/2 or HTTP/3 client (nginx's send_timeout): a stream whose client stops
	// reading is reset, and its upstream connection released. HTTP/1.1
	// connections get the same bound from the listener (SendTimeoutListener).
	// It also bounds writes to upstreams (nginx's proxy_send_timeout).
	// Zero means none.
	Send time.Duration
	// IdentityHeaders are the identity header names configured on any
	// site of the gateway. Every site removes all of them (and the
	// defaults) from client requests, not only its own: an upstream
	// shared by two sites may trust either site's names.
	IdentityHeaders []string

	// shared holds what the sites built with these Options share: one
	// transport (and so one connection pool) per upstream TLS config, and
	// one passive-health record per upstream. Built on first use.
	sharedOnce sync.Once
	shared     *shared
}

// DefaultMaxUpstreamHeaderBytes is the default Options.MaxUpstreamHeaderBytes
// (config.DefaultMaxUpstreamHeaderBytes).
const DefaultMaxUpstreamHeaderBytes = 1 << 20

// Observer receives per-request events. Routes are the configured path
// prefixes or the operation table's templates ("" when none matched); results of client-certificate checks
// are "success" or an mtls reason.
type Observer interface {
	Request(site, route, method string, status int, d time.Duration)
	UpstreamError(site, route, kind string)
	ClientCert(site, route, result string, leaf *x509.Certificate)
}

// SiteConfig describes one site.
type SiteConfig struct {
	Name   string // for logs: the first host
	HSTS   HSTS
	Routes []RouteConfig
	// ClientAuth verifies client certificates; nil when the site trusts no
	// client CA (then every route is "none").
	ClientAuth *mtls.Verifier
	// IdentityHeaders carry the client identity to upstreams; copies from
	// clients are removed on every request.
	IdentityHeaders mtls.HeaderNames
	// Spec, when set, is the site's operation table (operations.go): it
	// is consulted before Routes, which serve the paths it has no
	// template for.
	Spec *SpecConfig
}

// HSTS is the Strict-Transport-Security policy.
type HSTS struct {
	MaxAge            int
	IncludeSubDomains bool
	Preload           bool
}

// Header renders the header value.
func (h HSTS) Header() string {
	v := "max-age=" + strconv.Itoa(h.MaxAge)
	if h.IncludeSubDomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

// RouteConfig describes one route.
type RouteConfig struct {
	Path        string
	Upstreams   []string
	StripPrefix bool
	// UpstreamTLS is the client config for https upstreams; nil means
	// Options.UpstreamTLS.
	UpstreamTLS *tls.Config
	// ClientAuth is the route's client-certificate mode ("" means none).
	ClientAuth mtls.Mode
	// Allow restricts a Require route to some identities.
	Allow mtls.Allow
	// Handler, instead of Upstreams, serves the route in-process (the Go
	// API): it gets the request after the same checks as a proxied one,
	// with the identity headers set and the verification result in its
	// context (see Identity).
	Handler http.Handler
}

// Site serves one site's HTTPS requests. Its methods may be called
// concurrently; Close may be called while requests are in flight.
type Site struct {
	name     string
	verifier *mtls.Verifier
	idh      mtls.HeaderNames
	security http.Header // set on every HTTPS response (setPolicyHeaders)
	routes   []*route    // longest path first
	tree     *routeNode  // routes by path (match)
	opts     *Options
	trust    trustSet
	// ops is the operation table (nil without one); spec is the route
	// its operations copy (their upstream pool).
	ops  *opNode
	spec *route
	// otherIdentity holds identity header names of other sites (canonical),
	// removed from requests like the site's own; nil when there are none.
	otherIdentity map[string]struct{}
}

// NewSite builds a site. Close releases its upstream connections.
func NewSite(cfg SiteConfig, opts *Options) (*Site, error) {
	s := &Site{
		name:     cfg.Name,
		verifier: cfg.ClientAuth,
		idh:      cfg.IdentityHeaders.WithDefaults(),
		opts:     opts,
		trust:    trustSet(opts.TrustedProxies),
		security: securityHeaders(cfg.HSTS),
	}
	s.otherIdentity = otherIdentityHeaders(opts.IdentityHeaders, s.idh)
	paths := map[string]bool{}
	for _, rc := range cfg.Routes {
		paths[rc.Path] = true
	}
	for _, rc := range cfg.Routes {
		r, err := newRoute(rc, s, paths)
		if err != nil {
			return nil, err
		}
		s.routes = append(s.routes, r)
	}
	sort.SliceStable(s.routes, func(i, j int) bool { return len(s.routes[i].path) > len(s.routes[j].path) })
	s.tree = newRouteTree(s.routes)
	if sc := cfg.Spec; sc != nil {
		base, err := newRoute(RouteConfig{Path: sc.Name, Upstreams: sc.Upstreams, UpstreamTLS: sc.UpstreamTLS}, s, nil)
		if err != nil {
			return nil, err
		}
		base.matchExact = ""
		s.spec = base
		if s.ops, err = newSpec(sc, s, base); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close closes idle upstream connections; in-flight requests finish.
func (s *Site) Close() {
	for _, r := range s.routes {
		if r.transport != nil {
			r.transport.CloseIdleConnections()
		}
	}
	if s.spec != nil {
		s.spec.transport.CloseIdleConnections()
	}
}

// ServeHTTP serves a request that arrived over TLS for this site (or over
// plain HTTP from the loopback sidecar). The steps, in order: normalise
// the request line, choose the route (the operation table's first, then
// the prefix routes), apply its client-certificate policy,
// filter the headers, and send the request upstream on one of two paths,
// the direct path (direct.go) or httputil.ReverseProxy (reverseproxy.go).
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	obs := s.opts.Observer
	var ctx *infoCtx
	var lw *logWriter
	if s.opts.AccessLog || obs != nil {
		lc := &loggedCtx{infoCtx: infoCtx{Context: r.Context()}}
		ctx, lw = &lc.infoCtx, &lc.lw
	} else {
		ctx = &infoCtx{Context: r.Context()}
	}
	inf := &ctx.info
	inf.id, inf.header = s.requestID(r), w.Header()
	inf.idsBuf[0] = inf.id
	inf.ids = inf.idsBuf[:1:1]
	s.setPolicyHeaders(inf.header, inf.ids, r.TLS != nil)

	// Method and path first: the route, its policy and what the upstream
	// gets are decided on what these checks let through.
	refuse, refuseStatus := checkRequestLine(r)
	var rt *route
	var po *pathOps // the operation table's template, if one matches
	if refuse == "" && s.ops != nil && r.URL.RawPath != "" && hasEncodedSlash(r.URL.RawPath) {
		refuse, refuseStatus = "the request path is refused: an encoded slash (%2F) in the path", http.StatusBadRequest
	}
	if refuse == "" {
		if s.ops != nil {
			if po = s.ops.find(r.URL.Path); po != nil {
				rt = po.lookup(r)
			}
		}
		if po == nil {
			rt = s.match(r.URL.Path)
		}
	}
	inf.path = r.URL.Path
	switch {
	case rt != nil:
		inf.route = rt.path
	case po != nil:
		inf.route = po.template
	}
	if lw != nil {
		start := time.Now()
		lw.ResponseWriter = w
		defer func() {
			if s.opts.AccessLog {
				s.logAccess(r, lw, inf, start)
			}
			if obs != nil {
				obs.Request(s.name, inf.route, r.Method, lw.status, time.Since(start))
			}
		}()
		w = lw
	}

	if refuse != "" {
		if refuseStatus == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		}
		writeError(w, r, refuseStatus, refuse, inf.id)
		return
	}
	if !safeQuery(r.URL.RawQuery) {
		// HTTP/2 lets a space through in the query, where it would end
		// the upstream's HTTP/1.1 request target early ("/a?x HTTP/1.1
		// /admin"). HTTP/1.1 clients get this 400 from net/http itself.
		writeError(w, r, http.StatusBadRequest, "the request target has a space or control character", inf.id)
		return
	}
	if rt == nil && po != nil {
		w.Header().Set("Allow", po.allow)
		writeError(w, r, http.StatusMethodNotAllowed, "the method is not declared for this path", inf.id)
		return
	}
	if rt == nil {
		writeError(w, r, http.StatusNotFound, "no route for this path", inf.id)
		return
	}
	if rt.strip && !rt.strippedNormal(r.URL) {
		// A prefix without a trailing slash cut inside a segment can leave
		// a dot segment ("/api.." on route /api is ".."), which would
		// climb out of the upstream's base path.
		writeError(w, r, http.StatusBadRequest, "the request path is refused: it does not continue the route's prefix with a path segment", inf.id)
		return
	}
	if !s.admitClient(w, r, rt, inf) {
		return
	}
	dropUpgrade(r.Header)
	if s.opts.Send > 0 && r.ProtoMajor >= 2 { // HTTP/2 and HTTP/3 streams
		sw := newSendWriter(w, s.opts.Send)
		defer sw.finish()
		w = sw
	}
	if rt.local != nil {
		s.serveLocal(w, r, rt, inf)
		return
	}
	if s.serveDirect(w, r, rt, inf) {
		return
	}
	s.serveProxied(w, r, rt, ctx)
}
