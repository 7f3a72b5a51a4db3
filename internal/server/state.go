package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/acme"
	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/hostmap"
	"github.com/tlsgate/tlsgate/internal/metrics"
	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/plan"
	"github.com/tlsgate/tlsgate/internal/proxy"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// state is everything built from one config. It is immutable once live;
// a reload builds a new state and swaps it in whole.
type state struct {
	cfg         *config.Config
	sites       []*site
	byHost      *hostmap.Map[*site]
	catchAll    *site // the on-demand site with host "*", for SNI names no site lists
	defaultSite *site
	reject      *tls.Config
	ticketCfgs  map[*tls.Config]string
	crls        []*mtls.CRLSet // watched while the state is live
	stopWatch   context.CancelFunc
	closers     []io.Closer // renewing client certificates
	acmeSources []*acme.Source
	crl         *crlPublisher // nil unless ca.serve_crl
}

type site struct {
	name string
	tls  *tls.Config
	// tlsNoALPN is tls without ALPN, for clients offering none of its
	// protocols (tlspolicy.OffersNone); it shares tls's ticket keys.
	tlsNoALPN *tls.Config
	// h3 is the site's config for HTTP/3 (tlspolicy.QUIC): the same
	// certificate and client CAs, TLS 1.3 and "h3" only, ticket keys of
	// its own label (ticketLabel + "|h3"). Nil when listen.http3 is off.
	h3      *tls.Config
	cert    certs.Source
	handler *proxy.Site
	// onDemand: the certificate of each connection was allowed for its
	// SNI name alone, so a request must name the same host.
	onDemand bool
}

// caOpener returns the internal CA, creating it on first use.
type caOpener func() (*ca.Authority, error)

// acmeOpener returns the process's ACME manager, creating it on first use.
type acmeOpener func() *acme.Manager

// parts are what build needs besides the plan: the log, the process-wide
// CA and ACME manager (opened on first use, kept across reloads) and the
// metrics (nil when off).
type parts struct {
	// ticketLifetime is how long a session ticket resumes: as long as its
	// key is kept (tlspolicy.Options.TicketLifetime).
	ticketLifetime time.Duration
	log            *slog.Logger
	openCA         caOpener
	openACME       acmeOpener
	metrics        *metrics.Metrics
	crlMu          *sync.Mutex // see crlPublisher
	// echKeys are the listener's ECH keys, which every site config sends
	// as retry configs (tlspolicy.WithECH).
	echKeys tlspolicy.ECHKeys
}

// build makes live state from a plan: certificate sources, client
// verifiers, TLS configs and proxies. It opens the internal CA and the
// ACME manager when a site needs them. Every problem is returned, joined,
// each naming its place in the config.
func build(p *plan.Gateway, d parts) (*state, error) {
	st := &state{
		cfg:        p.Config,
		byHost:     hostmap.New[*site](),
		reject:     tlspolicy.Reject(),
		ticketCfgs: map[*tls.Config]string{},
	}
	cfg := p.Config
	opts := &proxy.Options{
		Log:              d.log,
		AccessLog:        cfg.AccessLog(),
		TrustedProxies:   p.TrustedProxies,
		BodyRead:         cfg.Timeouts.BodyRead,
		UpstreamConnect:  cfg.Timeouts.UpstreamConnect,
		UpstreamResponse: cfg.Timeouts.UpstreamResponse,
		UpstreamTLS:      tlspolicy.UpstreamClient(tlspolicy.Upstream{}),
		Send:             cfg.Timeouts.Send,
		IdentityHeaders:  p.IdentityHeaders,

		MaxUpstreamHeaderBytes: cfg.Limits.MaxUpstreamHeaderBytes,
	}
	if d.metrics != nil {
		opts.Observer = d.metrics
	}

	var errs []error
	// Before any site's certificate is issued, so that it carries the
	// distribution point. (Validate makes serve_crl need crl_url.)
	if cc := cfg.CA; cc.CRLURL != "" {
		if auth, err := d.openCA(); err != nil {
			errs = append(errs, cfg.Errorf("ca", "%v", err))
		} else if err := auth.SetCRLURL(cc.CRLURL); err != nil {
			errs = append(errs, cfg.Errorf("ca.crl_url", "%v", err))
		} else if cc.ServeCRL {
			u, _ := url.Parse(cc.CRLURL) // checked by Validate
			st.crl = &crlPublisher{path: u.Path, auth: auth, log: d.log, mu: d.crlMu}
		}
	}
	for _, ps := range p.Sites {
		s := &site{name: ps.Name}
		cp := ps.Certificate.ConfigKey
		switch ps.Certificate.Source {
		case config.SourceFiles:
			f, err := certs.NewFiles(ps.Certificate.Cert, ps.Certificate.Key, ps.Hosts, d.log)
			if err != nil {
				errs = append(errs, cfg.Errorf(cp+".cert", "%v", err))
				break
			}
			s.cert = f
		case config.SourceInternal:
			auth, err := d.openCA()
			var in *certs.Internal
			if err == nil {
				in, err = certs.NewInternal(auth, ps.Hosts, d.log)
			}
			if err != nil {
				errs = append(errs, cfg.Errorf(cp+".source", "%v", err))
				break
			}
			s.cert = in
		case config.SourceACME:
			src := d.openACME().Source(ps.Certificate.ACME, ps.Hosts)
			if d.metrics != nil && ps.Certificate.ACME.OnDemand == nil {
				for _, h := range ps.Hosts {
					d.metrics.ACMEName(h)
				}
			}
			st.acmeSources = append(st.acmeSources, src)
			s.cert = src
			s.onDemand = ps.Certificate.ACME.OnDemand != nil
		}
		var verifier *mtls.Verifier
		ticketLabel := s.name
		if t := ps.ClientTrust; t != nil {
			v, crls, verrs := clientVerifier(cfg, t, d.openCA, d.log)
			errs = append(errs, verrs...)
			verifier = v
			if verifier == nil {
				// Reported above at its own line; an empty trust keeps the
				// routes from repeating the same problem.
				verifier = mtls.NewVerifier(nil, nil)
			}
			if crls != nil {
				st.crls = append(st.crls, crls)
			}
			// Ticket keys are derived per label: a session made under one
			// set of trusted client CAs never resumes under another, on
			// this node or any other of the fleet.
			ticketLabel += "|client-cas=" + clientCAsID(verifier.CAs())
		}
		if s.cert != nil {
			topts := tlspolicy.Options{
				Profile:        ps.Profile,
				GetCertificate: s.cert.GetCertificate,
				TicketLifetime: d.ticketLifetime,
				ECHKeys:        d.echKeys,
			}
			if ps.Certificate.Source == config.SourceACME {
				// tls-alpn-01 validation handshakes (RFC 8737) offer only this.
				topts.NextProtos = append(tlspolicy.ALPN(), acme.ALPNProto)
			}
			if verifier != nil {
				topts.ClientCAs = verifier.Roots()
			}
			if m := d.metrics; m != nil {
				name := s.name
				topts.OnHandshake = func(cs *tls.ConnectionState) { m.Handshake(name, cs) }
			}
			var err error
			s.tls, err = tlspolicy.Server(topts)
			if err != nil {
				errs = append(errs, cfg.Errorf(ps.Key+".tls.profile", "%v", err))
			}
			if s.tls != nil {
				s.tlsNoALPN = tlspolicy.WithoutALPN(s.tls)
				st.ticketCfgs[s.tls] = ticketLabel
				st.ticketCfgs[s.tlsNoALPN] = ticketLabel
			}
			if s.tls != nil && cfg.Listen.HTTP3Enabled() {
				// The same options but for ALPN; its own ticket label
				// keeps QUIC and TCP sessions apart, as the client-CA
				// part of the label keeps policies apart.
				s.h3, _ = tlspolicy.QUIC(topts) // the options were accepted just above
				st.ticketCfgs[s.h3] = ticketLabel + "|h3"
			}
		}
		routes := make([]proxy.RouteConfig, len(ps.Routes))
		for j, r := range ps.Routes {
			routes[j] = proxy.RouteConfig{Path: r.Path, Upstreams: r.Upstreams, StripPrefix: r.StripPrefix,
				ClientAuth: r.ClientAuth, Allow: r.Allow}
			if u := r.UpstreamTLS; u != nil {
				tc, closer, uerrs := upstreamTLS(cfg, u, d.openCA, d.log)
				if closer != nil {
					st.closers = append(st.closers, closer)
				}
				errs = append(errs, uerrs...)
				routes[j].UpstreamTLS = tc
			}
		}
		if ps.Handler != nil && !slices.ContainsFunc(routes, func(r proxy.RouteConfig) bool { return r.Path == "/" }) {
			// A site of the Go API: the caller's handler serves in-process
			// what no route takes, behind the same checks as a proxied
			// route. A presented client certificate is verified and
			// reported; the handler decides (tlsgate.RequireClientCert).
			mode := mtls.None
			if verifier != nil {
				mode = mtls.Optional
			}
			routes = append(routes, proxy.RouteConfig{Path: "/", Handler: ps.Handler, ClientAuth: mode})
		}
		var spec *proxy.SpecConfig
		if ps.Spec != nil {
			spec = &proxy.SpecConfig{Name: "openapi " + ps.Spec.Document, Upstreams: ps.Spec.Upstreams}
			for _, o := range ps.Spec.Operations {
				spec.Operations = append(spec.Operations, proxy.Operation{Method: o.Method, Path: o.Path, ClientAuth: o.ClientAuth})
			}
			if u := ps.Spec.UpstreamTLS; u != nil {
				tc, closer, uerrs := upstreamTLS(cfg, u, d.openCA, d.log)
				if closer != nil {
					st.closers = append(st.closers, closer)
				}
				errs = append(errs, uerrs...)
				spec.UpstreamTLS = tc
			}
		}
		var err error
		s.handler, err = proxy.NewSite(proxy.SiteConfig{
			Name:            s.name,
			HSTS:            ps.HSTS,
			Routes:          routes,
			ClientAuth:      verifier,
			IdentityHeaders: ps.IdentityHeaders,
			Spec:            spec,
		}, opts)
		if err != nil {
			errs = append(errs, cfg.Errorf(ps.Key+".routes", "%v", err))
		}
		for _, h := range ps.Hosts {
			if h == config.CatchAll {
				st.catchAll = s
				continue
			}
			st.byHost.Add(h, s)
		}
		if ps.Default {
			st.defaultSite = s
		}
		st.sites = append(st.sites, s)
	}
	if err := errors.Join(errs...); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// siteForTLS picks the site for a handshake: by SNI, else (clients
// connecting to an IP send none) by the address they connected to, else
// the default site.
func (st *state) siteForTLS(serverName string, local net.Addr) *site {
	if serverName != "" {
		return st.siteForHost(serverName)
	}
	var ip net.IP
	switch a := local.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr: // HTTP/3
		ip = a.IP
	}
	if ip != nil {
		if s, ok := st.byHost.Lookup(ip.String()); ok {
			return s
		}
	}
	return st.defaultSite
}

// siteForHost finds the site of a host name (SNI or Host): a listed
// name or pattern, else the catch-all on-demand site, else nil.
func (st *state) siteForHost(host string) *site {
	if s, ok := st.byHost.Lookup(host); ok {
		return s
	}
	if st.catchAll != nil && hostmap.Normalize(host) != "" && !hostIsAddress(host) {
		return st.catchAll
	}
	return nil
}

// holdsOnDemand reports whether the catch-all site has a certificate for
// host in memory: the plain-HTTP listener then redirects it, as it does
// listed names. Other names get 421 (not an open redirector).
func (st *state) holdsOnDemand(host string) bool {
	if st.catchAll == nil {
		return false
	}
	src, ok := st.catchAll.cert.(*acme.Source)
	return ok && src.LeafFor(host) != nil
}

// watch starts following the state's CRL files until close.
func (st *state) watch() {
	ctx, cancel := context.WithCancel(context.Background())
	st.stopWatch = cancel
	for _, c := range st.crls {
		go c.Watch(ctx, crlPoll)
	}
}

// crlPoll is how often CRL files are checked for changes: a revocation
// takes effect within a second of the new CRL being written.
const crlPoll = time.Second

func (st *state) close() {
	if st.stopWatch != nil {
		st.stopWatch()
	}
	for _, c := range st.closers {
		c.Close()
	}
	for _, s := range st.sites {
		if s.cert != nil {
			s.cert.Close()
		}
		if s.handler != nil {
			s.handler.Close()
		}
	}
}

// upstreamTLS builds the client TLS config of a route's https upstreams
// from its plan, with the internal CA's renewing client certificate when
// the plan names one.
func upstreamTLS(cfg *config.Config, u *plan.UpstreamTLS, openCA caOpener, log *slog.Logger) (*tls.Config, io.Closer, []error) {
	opts := u.Upstream
	if u.InternalClientCert == "" {
		return tlspolicy.UpstreamClient(opts), nil, nil
	}
	auth, err := openCA()
	var src *certs.Internal
	if err == nil {
		src, err = certs.NewInternalClient(auth, u.InternalClientCert, log)
	}
	if err != nil {
		return tlspolicy.UpstreamClient(opts), nil, []error{cfg.Errorf(u.ConfigKey+".internal_client_cert", "%v", err)}
	}
	opts.GetClientCertificate = src.GetClientCertificate
	return tlspolicy.UpstreamClient(opts), src, nil
}

// clientVerifier builds a site's client-certificate verifier from its
// trust: the plan's CA bundles, the internal CA (root trusted, its
// intermediate known so that a leaf sent alone verifies, its CRL applied)
// and CRL files. Every certificate of a bundle is trusted as an
// anchor; CRLs may be signed by any of them, by the internal CA's
// intermediate, or by an intermediate that clients present under a
// trusted root (see mtls.CRLSet).
func clientVerifier(cfg *config.Config, t *plan.ClientTrust, openCA caOpener, log *slog.Logger) (*mtls.Verifier, *mtls.CRLSet, []error) {
	cas := slices.Clone(t.CAs)
	var signers, intermediates []*x509.Certificate
	crlFiles := slices.Clone(t.CRLFiles)
	if t.InternalCA {
		auth, err := openCA()
		if err != nil {
			return nil, nil, []error{cfg.Errorf(t.ConfigKey+".internal_ca", "%v", err)}
		}
		cas = append(cas, auth.Root())
		signers = append(signers, auth.Intermediate()) // it signs the internal CRL
		// It, and the one it replaced while valid, also complete the
		// chain of a client that sends only its leaf (NAME.pem of
		// 'tlsgate ca issue'); the root stays the anchor.
		intermediates = append(intermediates, auth.Intermediates()...)
		crl := filepath.Join(auth.Dir(), ca.CRLFile)
		if _, err := os.Stat(crl); errors.Is(err, fs.ErrNotExist) {
			if _, err := auth.CRL(0); err != nil {
				return nil, nil, []error{cfg.Errorf(t.ConfigKey+".internal_ca", "creating the internal CA's CRL: %v", err)}
			}
		}
		crlFiles = append(crlFiles, crl)
	}
	var crls *mtls.CRLSet
	if len(crlFiles) > 0 {
		var err error
		if crls, err = mtls.NewCRLSet(crlFiles, cas, signers, log); err != nil {
			return nil, nil, []error{cfg.Errorf(t.ConfigKey+".crl", "%v", err)}
		}
	}
	return mtls.NewVerifierWith(cas, intermediates, crls), crls, nil
}

// clientCAsID fingerprints a set of trusted client CAs by the certificates
// themselves (SHA-256 of each DER, sorted, duplicates once), for the
// ticket-key label: a CA with the same name but another key, or the same
// key re-issued, is another trust and gets other ticket keys. Names alone
// would let a session verified under one CA resume under an impostor of
// the same name. CRLs are left out on purpose: they are applied again on
// every request, resumed or not, and change too often to end sessions.
func clientCAsID(cas []*x509.Certificate) string {
	sums := make([][32]byte, 0, len(cas))
	for _, c := range cas {
		sums = append(sums, sha256.Sum256(c.Raw))
	}
	slices.SortFunc(sums, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	sums = slices.Compact(sums)
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
