// Package server is tlsgate's composition root: it builds the TLS configs,
// certificate sources and proxies from a config, owns the listeners, and
// handles reload and graceful shutdown.
//
// It builds from a plan (package plan): Resolve reads the config's files,
// build turns the plan into live state (certificate sources, client
// verifiers, TLS configs from tlspolicy, proxies), and Reload swaps a new
// state in whole or keeps the old. It is the only package that wires the
// others together; nothing but the Go API (the root package) and
// cmd/tlsgate's sidecar imports it.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate/internal/acme"
	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/cluster"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/datadir"
	"github.com/tlsgate/tlsgate/internal/h1"
	"github.com/tlsgate/tlsgate/internal/hostmap"
	"github.com/tlsgate/tlsgate/internal/memtrim"
	"github.com/tlsgate/tlsgate/internal/metrics"
	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/plan"
	"github.com/tlsgate/tlsgate/internal/proxy"
	"github.com/tlsgate/tlsgate/internal/storage"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// Options configure a Server beyond its config.
type Options struct {
	// Log receives all logs. Required.
	Log *slog.Logger
	// Version is shown on the status page; empty shows "dev".
	Version string
	// Registerer, when set, receives the gateway's metrics; they are then
	// collected even with the admin listener off, whose /metrics serves
	// them when Registerer is also a prometheus.Gatherer (as a
	// *prometheus.Registry is). Nil: with the admin listener on, a
	// registry of the gateway's own, Go runtime metrics included.
	Registerer prometheus.Registerer
	// ConfigPath is re-read by Reload; empty for configs built in code,
	// whose Reload re-reads certificates only.
	ConfigPath string
	// TicketRotation is how often session-ticket keys rotate; 0 means 24h.
	TicketRotation time.Duration
	// ACMERenewCheckInterval and ACMERenewalWindowRatio tune ACME renewal
	// for short-lived test certificates; zero keeps the defaults.
	ACMERenewCheckInterval time.Duration
	ACMERenewalWindowRatio float64
	// ACMEDisableARI ignores the CA's renewal windows (acme.Options):
	// for tests against Pebble, whose window does not scale down to
	// certificates that live seconds.
	ACMEDisableARI bool
}

// Server is a running gateway. Create it with New, then Listen and Serve.
type Server struct {
	log     *slog.Logger
	opts    Options
	cfg     atomic.Pointer[config.Config] // the config of the live state
	state   atomic.Pointer[state]
	tickets *tlspolicy.TicketKeys

	caOnce sync.Once
	ca     *ca.Authority
	caErr  error
	crlMu  sync.Mutex // serialises signing the CRL that ca.serve_crl publishes

	acmeMu sync.Mutex
	acme   *acme.Manager // created with the first ACME site; outlives reloads

	reloadMu sync.Mutex // serialises Reload

	httpsLn, httpLn net.Listener
	https, http     *http.Server
	// h1 serves HTTPS connections; it hands HTTP/2 and unusual HTTP/1.1
	// connections to https (package h1).
	h1 *h1.Server
	// h3Ln and h3 serve HTTP/3 (h3.go); nil when listen.http3 is off.
	// altSvc advertises it on TCP responses ("" when off); set by Serve.
	h3Ln   *h3Listener
	h3     *h3Server
	altSvc string
	// altSvcField is {altSvc}, made once and shared read-only by every
	// response's header map (its capacity is its length, so an append
	// copies it), as proxy shares its security headers' values: Set
	// allocated a slice per request.
	altSvcField []string
	// trim counts client connections (set by Serve; read by tests).
	trim atomic.Pointer[memtrim.Trimmer]

	dataDir string           // resolved; the internal CA lives under it
	store   storage.Storage  // the plan's storage: files or the cluster's
	metrics *metrics.Metrics // nil unless the admin listener is on or opts.Registerer is set
	cluster *cluster.Cluster // nil unless storage is etcd
	ech     *echService      // the listener's ECH keys; an empty ring when ECH is off
	adminLn net.Listener
	admin   *http.Server
}

// New builds a gateway from cfg without binding any address: it resolves
// the plan (package plan), opens the storage it names, and builds the
// live state.
func New(cfg *config.Config, opts Options) (*Server, error) {
	p, err := plan.Resolve(cfg, opts.Log)
	if err != nil {
		return nil, err
	}
	return NewFromPlan(p, opts)
}

// NewFromPlan builds a gateway from a resolved plan.
func NewFromPlan(p *plan.Gateway, opts Options) (s *Server, err error) {
	if opts.TicketRotation == 0 {
		opts.TicketRotation = 24 * time.Hour
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	cfg := p.Config
	s = &Server{log: opts.Log, opts: opts, tickets: tlspolicy.NewTicketKeys(), dataDir: p.DataDir}
	s.cfg.Store(cfg)
	if opts.Registerer != nil || cfg.Admin.Enabled() {
		if s.metrics, err = metrics.New(opts.Registerer); err != nil {
			return nil, err
		}
		s.metrics.SetInventory(s.inventory)
	}
	node := ""
	if p.Storage.Etcd != nil {
		node = nodeName(cfg)
	}
	store, c, err := p.Storage.Open(cfg, node, s.log)
	if err != nil {
		s.unregisterMetrics()
		return nil, err
	}
	s.store, s.cluster = store, c
	s.ech = newECHService(p.DataDir, c, s.cfg.Load, s.log, s.metrics)
	if err := s.loadECH(); err != nil {
		if s.cluster != nil {
			s.cluster.Close()
		}
		s.unregisterMetrics()
		return nil, err
	}
	st, err := build(p, s.parts())
	if err != nil {
		s.closeACME()
		if s.cluster != nil {
			s.cluster.Close()
		}
		s.unregisterMetrics()
		return nil, err
	}
	s.activate(st)
	return s, nil
}

// ticketKeysKept is how many ticket keys are live: the current one, which
// encrypts, and two before it, which still decrypt.
const ticketKeysKept = 3

// ticketLifetime is how long a session ticket resumes: as long as the key
// that encrypted it is kept, (ticketKeysKept-1) rotations (48 h with the
// default daily rotation; 24 h with a fleet's default 12 h).
func (s *Server) ticketLifetime() time.Duration {
	return (ticketKeysKept - 1) * s.ticketRotation()
}

// ticketRotation is how often session-ticket keys rotate: the fleet's
// storage.etcd.ticket_rotation, else Options.TicketRotation.
func (s *Server) ticketRotation() time.Duration {
	if e := s.cfg.Load().Storage.Etcd; e != nil && s.cluster != nil {
		return e.TicketRotation
	}
	return s.opts.TicketRotation
}

// unregisterMetrics frees the registerer for another gateway.
func (s *Server) unregisterMetrics() {
	if s.metrics != nil {
		s.metrics.Unregister()
	}
}

// parts are what build needs from the server.
func (s *Server) parts() parts {
	return parts{log: s.log, openCA: s.openCA, openACME: s.openACME, metrics: s.metrics, ticketLifetime: s.ticketLifetime(), crlMu: &s.crlMu,
		echKeys: s.ech.keys.ForHandshake}
}

func (s *Server) openCA() (*ca.Authority, error) {
	s.caOnce.Do(func() {
		dir := datadir.CA(s.dataDir)
		var created bool
		s.ca, created, s.caErr = ca.OpenOrInit(dir, "tlsgate Development")
		if created {
			s.log.Info("created local CA", "root", s.ca.RootPath())
		}
	})
	return s.ca, s.caErr
}

// openACME returns the ACME manager, creating it on first use. Its
// storage is the data dir's acme/ directory.
func (s *Server) openACME() *acme.Manager {
	s.acmeMu.Lock()
	defer s.acmeMu.Unlock()
	if s.acme == nil {
		var onResult func(string, bool)
		var onDemand func(string) acme.OnDemandObserver
		if m := s.metrics; m != nil {
			onResult = m.ACMEResult
			onDemand = func(site string) acme.OnDemandObserver { return m.OnDemand(site) }
		}
		s.acme = acme.NewManager(acme.Options{
			Storage:            s.store,
			Log:                s.log,
			OnResult:           onResult,
			OnDemand:           onDemand,
			RenewCheckInterval: s.opts.ACMERenewCheckInterval,
			RenewalWindowRatio: s.opts.ACMERenewalWindowRatio,
			DisableARI:         s.opts.ACMEDisableARI,
		})
	}
	return s.acme
}

// ACME returns the ACME manager, or nil when no site uses ACME.
func (s *Server) ACME() *acme.Manager {
	s.acmeMu.Lock()
	defer s.acmeMu.Unlock()
	return s.acme
}

// startACME lets certificate orders begin once the listeners that answer
// the challenges are bound.
func (s *Server) startACME() {
	m := s.ACME()
	if m == nil || s.httpsLn == nil {
		return
	}
	p := acme.Ports{TLS: s.httpsLn.Addr().(*net.TCPAddr).Port}
	if h, _, err := net.SplitHostPort(s.cfg.Load().Listen.HTTPS); err == nil {
		p.Host = h
	}
	if s.httpLn != nil {
		p.HTTP = s.httpLn.Addr().(*net.TCPAddr).Port
	}
	m.Start(p)
}

func (s *Server) closeACME() {
	if m := s.ACME(); m != nil {
		m.Close()
	}
}

// CA returns the internal CA, opening (or creating) it if needed.
func (s *Server) CA() (*ca.Authority, error) { return s.openCA() }

func (s *Server) activate(st *state) {
	for _, si := range st.sites {
		if w, ok := si.cert.(interface{ Watch() error }); ok {
			if err := w.Watch(); err != nil {
				s.log.Warn("certificate files will not reload on change (SIGHUP still reloads)", "site", si.name, "err", err)
			}
		}
	}
	s.tickets.Track(st.ticketCfgs)
	st.watch()
	s.state.Store(st)
}

// Listen binds the HTTPS and (unless off) HTTP addresses of the config.
func (s *Server) Listen() error {
	cfg := s.cfg.Load()
	ln, err := net.Listen("tcp", cfg.Listen.HTTPS)
	if err != nil {
		return fmt.Errorf("listening for HTTPS on %s: %w", cfg.Listen.HTTPS, err)
	}
	s.httpsLn = ln
	if err := s.listenH3(cfg); err != nil {
		s.httpsLn.Close()
		return err
	}
	if cfg.Listen.HTTP != config.ListenOff {
		ln, err := net.Listen("tcp", cfg.Listen.HTTP)
		if err != nil {
			s.httpsLn.Close()
			s.closeH3()
			return fmt.Errorf("listening for HTTP on %s: %w", cfg.Listen.HTTP, err)
		}
		s.httpLn = ln
	}
	if cfg.Admin.Enabled() {
		ln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			s.httpsLn.Close()
			s.closeH3()
			if s.httpLn != nil {
				s.httpLn.Close()
			}
			return fmt.Errorf("listening for the admin listener on %s: %w", cfg.Admin.Listen, err)
		}
		s.adminLn = ln
	}
	s.startACME()
	return nil
}

// Close releases what New and Listen took (listeners, certificate
// watchers, the ACME manager, the etcd connection) without serving: for a
// Server whose Serve will not be called.
func (s *Server) Close() {
	for _, ln := range []net.Listener{s.httpsLn, s.httpLn, s.adminLn} {
		if ln != nil {
			ln.Close()
		}
	}
	s.closeH3()
	s.state.Load().close()
	s.closeACME()
	if s.cluster != nil {
		s.cluster.Close()
	}
	s.unregisterMetrics()
}

// AdminAddr is the bound admin address, or nil when it is off.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// HTTPSAddr is the bound HTTPS address (after Listen).
func (s *Server) HTTPSAddr() net.Addr { return s.httpsLn.Addr() }

// HTTPAddr is the bound HTTP address, or nil when the listener is off.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// Serve serves until ctx is done, then shuts down gracefully: listeners
// close at once, in-flight requests get cfg.Timeouts.Shutdown to finish.
func (s *Server) Serve(ctx context.Context) error {
	if s.httpsLn == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	cfg := s.cfg.Load()
	base := tlspolicy.WithECH(tlspolicy.Listener(s.configForClient), s.ech.keys.ForHandshake)
	errLog := slog.NewLogLogger(&serverErrorHandler{Handler: s.log.Handler(), metrics: s.metrics}, slog.LevelWarn)
	// Client connections (HTTPS h1, h2 and h3, HTTP redirects) are counted so
	// that the memory a burst of them grew goes back to the OS once it has
	// passed (package memtrim; issue 17). The admin listener's are not
	// client traffic.
	trim := memtrim.New(s.log)
	s.trim.Store(trim)
	s.https = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTPS),
		TLSConfig:         base.Clone(),            // net/http's HTTP/2 set-up edits it while h1 handshakes with base
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader, // also bounds the TLS handshake
		IdleTimeout:       cfg.Timeouts.Idle,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ErrorLog:          errLog,
		// Each connection with a client certificate caches its verification.
		ConnContext: mtls.ForConn,
		ConnState:   trim.ConnState,
		// HTTP/2 answers carry their header fields whole, never indexed
		// in HPACK's dynamic table (nginx does the same). The table would
		// keep up to 4 KiB of past answers' fields per connection, most of
		// them request IDs that never recur, for the life of the
		// connection (issue 17: 2.8 kB less per idle HTTP/2 connection
		// after one request, no CPU cost measured; +174 bytes per answer
		// on the wire), and a table shared by successive answers is a
		// compression oracle on any secret among them.
		HTTP2: &http.HTTP2Config{MaxEncoderHeaderTableSize: noHeaderIndexing},
	}
	rotCtx, stopRotation := context.WithCancel(ctx)
	defer stopRotation()
	go trim.Run(rotCtx)
	if s.cluster != nil {
		go s.cluster.ShareTicketKeys(rotCtx, s.tickets, cfg.Storage.Etcd.TicketRotation, ticketKeysKept)
	} else {
		go s.tickets.Rotate(rotCtx, s.opts.TicketRotation, ticketKeysKept)
	}
	go s.ech.run(rotCtx)

	errc := make(chan error, 5)
	s.altSvc = s.altSvcValue()
	s.altSvcField = []string{s.altSvc}[:1:1]
	// Writes that stall past timeouts.send end the connection (h2 streams:
	// proxy.Options.Send).
	s.h1 = &h1.Server{
		Handler:           s.https.Handler,
		Fallback:          s.https,
		TLSConfig:         base,
		ReadHeaderTimeout: s.https.ReadHeaderTimeout,
		IdleTimeout:       s.https.IdleTimeout,
		ConnContext:       s.https.ConnContext,
		ConnState:         trim.ConnState,
		ErrorLog:          errLog,
	}
	go func() { errc <- s.https.Serve(s.h1.Handoff()) }()
	go func() { errc <- s.h1.Serve(proxy.SendTimeoutListener(s.httpsLn, cfg.Timeouts.Send)) }()
	if err := s.serveH3(cfg, trim, errc); err != nil {
		s.shutdown(s.cfg.Load().Timeouts.Shutdown)
		return err
	}
	if s.httpLn != nil {
		s.http = &http.Server{
			Handler:           http.HandlerFunc(s.serveHTTP),
			ReadHeaderTimeout: cfg.Timeouts.ReadHeader,
			ReadTimeout:       cfg.Timeouts.ReadHeader, // redirects have no body worth waiting for
			IdleTimeout:       cfg.Timeouts.Idle,
			MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
			ErrorLog:          errLog,
			ConnState:         trim.ConnState,
		}
		go func() { errc <- s.http.Serve(s.httpLn) }()
	}
	if s.adminLn != nil {
		s.admin = s.adminServer(errLog)
		go func() { errc <- s.admin.Serve(s.adminLn) }()
	}
	s.log.Info("serving", "https", s.httpsLn.Addr().String(), "http3", s.h3AddrString(), "http", addrString(s.httpLn), "admin", addrString(s.adminLn), "sites", len(s.state.Load().sites))

	// The grace period is the live config's: timeouts.shutdown reloads.
	select {
	case err := <-errc:
		s.shutdown(s.cfg.Load().Timeouts.Shutdown)
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(s.cfg.Load().Timeouts.Shutdown)
}

// noHeaderIndexing is the size of HTTP/2's HPACK encoder table for
// answers: 1 byte fits no field (each costs its length plus 32), so every
// field is sent as a literal. 0 would mean net/http's default, 4 KiB.
const noHeaderIndexing = 1

func (s *Server) shutdown(grace time.Duration) error {
	s.log.Info("shutting down", "grace", grace.String())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, srv := range []*http.Server{s.https, s.http, s.admin} {
		if srv == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	if s.h3 != nil {
		// Waits for requests in flight and refuses new ones (h3Server).
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.h3.shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	if s.h1 != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.h1.Shutdown(ctx); err != nil {
				s.h1.Close()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.closeH3()
	s.state.Load().close()
	s.closeACME()
	if s.cluster != nil {
		s.cluster.Close()
	}
	s.unregisterMetrics()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutting down: in-flight requests cut after %s: %w", grace, err)
	}
	s.log.Info("stopped")
	return nil
}

func addrString(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

func (s *Server) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	st := s.state.Load()
	if ip, ok := acme.ChallengeIP(hello); ok {
		// tls-alpn-01 for an IP address names its reverse-DNS name
		// (RFC 8738): the address's site answers it, when it can. Only
		// with its acme-tls/1 config: a connection of that site must
		// not fall back to HTTP, where the SNI would pick another site.
		if si := st.siteForTLS(ip.String(), hello.Conn.LocalAddr()); si != nil && si.tls != nil &&
			slices.Contains(si.tls.NextProtos, acme.ALPNProto) {
			return si.tls, nil
		}
	}
	if si := st.siteForTLS(hello.ServerName, hello.Conn.LocalAddr()); si != nil && si.tls != nil {
		if tlspolicy.OffersNone(si.tls.NextProtos, hello.SupportedProtos) {
			return si.tlsNoALPN, nil
		}
		return si.tls, nil
	}
	s.log.Debug("tls handshake for unknown name", "sni", hello.ServerName, "remote", hello.Conn.RemoteAddr().String())
	return st.reject, nil
}

// serveHTTPS routes a request to its site. The site is chosen by Host; it
// must be the site the TLS handshake chose, else the request is answered
// 421 Misdirected Request (RFC 9110 15.5.20): a connection set up for one
// site, with its certificate and client-auth policy, never serves another.
func (s *Server) serveHTTPS(w http.ResponseWriter, r *http.Request) {
	clearHeadDeadline(w, r)
	st := s.state.Load()
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	tlsSite := st.siteForTLS(r.TLS.ServerName, local)
	si := st.siteForHost(r.Host)
	ok := si != nil
	if !ok && r.TLS.ServerName == "" && tlsSite == st.defaultSite && hostIsAddress(r.Host) {
		// A client that sent no SNI reached the default site: it may name
		// the address it connected to, not a name of its choosing that
		// the handler or upstream would take for the site's.
		si, ok = tlsSite, tlsSite != nil
	}
	if ok && si.onDemand && hostmap.Normalize(r.Host) != hostmap.Normalize(r.TLS.ServerName) {
		// An on-demand site serves each connection the one name its
		// certificate was allowed for, not any Host its patterns take.
		ok = false
	}
	if v := s.altSvc; v != "" && r.ProtoMajor < 3 {
		w.Header()["Alt-Svc"] = s.altSvcField
	}
	if !ok || si != tlsSite {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMisdirectedRequest)
		fmt.Fprintf(w, `{"error":"this connection cannot serve host %s: connect with that name as TLS server name (SNI)","status":421}`+"\n", jsonSafe(r.Host))
		return
	}
	si.handler.ServeHTTP(w, r)
}

// serveHTTP answers the plain-HTTP listener: ACME http-01 challenges, the
// internal CA's CRL at its distribution point (ca.serve_crl, any Host:
// it is public and signed), otherwise only redirects to HTTPS for hosts
// we serve.
// 301 for GET and HEAD; 308 for other methods, because clients may turn a
// POST into a GET on 301 and lose the body.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if m := s.ACME(); m != nil && m.HandleHTTPChallenge(w, r) {
		return
	}
	st := s.state.Load()
	if st.crl != nil && r.URL.Path == st.crl.path {
		st.crl.ServeHTTP(w, r)
		return
	}
	host := hostmap.Normalize(r.Host)
	if _, ok := st.byHost.Lookup(host); !ok && !st.holdsOnDemand(host) {
		// Redirecting arbitrary Host values would make us an open redirector.
		http.Error(w, "tlsgate: unknown host; this address only redirects to HTTPS for the sites it serves", http.StatusMisdirectedRequest)
		return
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if _, port, err := net.SplitHostPort(st.cfg.Listen.HTTPS); err == nil && port != "443" {
		if s.httpsLn != nil {
			port = fmt.Sprint(s.httpsLn.Addr().(*net.TCPAddr).Port)
		}
		host += ":" + port
	}
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect
	}
	w.Header().Set("Location", "https://"+host+r.URL.RequestURI())
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
}

// hostIsAddress reports whether a Host header names no host: empty, or an
// IP address (with or without a port).
func hostIsAddress(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

func jsonSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == '"' || r == '\\' || r > 0x7e {
			b.WriteByte('?')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Reload re-reads the config file (when there is one) and certificates,
// and swaps them in if everything is valid. Established connections are
// untouched. On any error the running state stays as it was and the error
// is returned.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg := s.cfg.Load()
	if s.opts.ConfigPath != "" {
		next, err := config.Load(s.opts.ConfigPath)
		if err != nil {
			return fmt.Errorf("reloading config, still serving the previous one:\n%w", err)
		}
		keepRestartOnly(s.log, cfg, next)
		cfg = next
	}
	p, err := plan.Resolve(cfg, s.log)
	var st *state
	if err == nil {
		st, err = build(p, s.parts())
	}
	if err != nil {
		return fmt.Errorf("reloading, still serving the previous config:\n%w", err)
	}
	old := s.state.Load()
	s.cfg.Store(cfg)
	s.activate(st)
	if s.cluster != nil {
		// Not waited for: with etcd unreachable it would hold the reload
		// up to its deadline, and the watch applies the fleet's keys anyway.
		go s.loadECH()
	} else if err := s.loadECH(); err != nil {
		s.log.Warn("reloading the ECH keys failed; the previous ones stay in use", "err", err)
	}
	if m := s.ACME(); m != nil {
		m.Retain(st.acmeSources)
		s.startACME()
		// Pick up certificates renewed by 'tlsgate certs renew', in the
		// background: storage may be slow or, in a cluster, unreachable.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			m.Refresh(ctx)
			cancel()
		}()
	}
	// In-flight requests keep their old site; only idle upstream connections
	// and watchers are released now.
	old.close()
	s.log.Info("reloaded", "sites", len(st.sites))
	return nil
}

// restartOnly are the settings a reload cannot change, because what they
// configure is made once at start: bound listeners, net/http's server
// limits (read by every connection without a lock), the storage and data
// dir (the CA and the ACME manager outlive reloads). Each field's doc
// comment in package config says so too. Everything else — sites,
// certificates, routes, client trust, body_read, the upstream timeouts
// and limits, trusted_proxies, logs of requests — is reloaded.
var restartOnly = []struct {
	key string
	get func(*config.Config) any
	set func(next, cur *config.Config)
}{
	{"listen", func(c *config.Config) any { return c.Listen }, func(n, c *config.Config) { n.Listen = c.Listen }},
	{"admin", func(c *config.Config) any { return c.Admin }, func(n, c *config.Config) { n.Admin = c.Admin }},
	{"storage", func(c *config.Config) any { return c.Storage }, func(n, c *config.Config) { n.Storage = c.Storage }},
	{"data_dir", func(c *config.Config) any { return c.DataDir }, func(n, c *config.Config) { n.DataDir = c.DataDir }},
	{"timeouts.read_header", func(c *config.Config) any { return c.Timeouts.ReadHeader }, func(n, c *config.Config) { n.Timeouts.ReadHeader = c.Timeouts.ReadHeader }},
	{"timeouts.idle", func(c *config.Config) any { return c.Timeouts.Idle }, func(n, c *config.Config) { n.Timeouts.Idle = c.Timeouts.Idle }},
	{"timeouts.send", func(c *config.Config) any { return c.Timeouts.Send }, func(n, c *config.Config) { n.Timeouts.Send = c.Timeouts.Send }},
	{"log.format", func(c *config.Config) any { return c.Log.Format }, func(n, c *config.Config) { n.Log.Format = c.Log.Format }},
	{"log.level", func(c *config.Config) any { return c.Log.Level }, func(n, c *config.Config) { n.Log.Level = c.Log.Level }},
	{"limits.max_header_bytes", func(c *config.Config) any { return c.Limits.MaxHeaderBytes }, func(n, c *config.Config) { n.Limits.MaxHeaderBytes = c.Limits.MaxHeaderBytes }},
}

// keepRestartOnly puts the running values of restart-only settings into
// next, warning for each that the new file changes: the live config then
// says what is in effect.
func keepRestartOnly(log *slog.Logger, cur, next *config.Config) {
	for _, r := range restartOnly {
		if was, now := r.get(cur), r.get(next); !reflect.DeepEqual(was, now) {
			log.Warn("this setting changes only on restart; the running value stays", "key", r.key,
				"running", fmt.Sprint(was), "file", fmt.Sprint(now))
			r.set(next, cur)
		}
	}
}

// serverErrorHandler routes net/http's internal log lines: TLS handshake
// failures are routine on the internet (scanners, old clients) and go to
// debug; everything else stays a warning.
type serverErrorHandler struct {
	slog.Handler
	metrics *metrics.Metrics // counts handshake failures; may be nil
}

func (h *serverErrorHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "TLS handshake error") {
		if h.metrics != nil {
			h.metrics.HandshakeFailure(metrics.FailureReason(r.Message))
		}
		if !h.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r = slog.NewRecord(r.Time, slog.LevelDebug, strings.TrimSpace(r.Message), r.PC)
	}
	return h.Handler.Handle(ctx, r)
}

// nodeName names this gateway in a cluster: storage.etcd.node, else the
// host name and HTTPS port.
func nodeName(cfg *config.Config) string {
	if n := cfg.Storage.Etcd.Node; n != "" {
		return n
	}
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(cfg.Listen.HTTPS)
	return host + ":" + port
}
