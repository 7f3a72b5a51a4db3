package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/acme"
	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/hostmap"
	"github.com/tlsgate/tlsgate/internal/metrics"
	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/proxy"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// state is everything built from one config. It is immutable once live;
// a reload builds a new state and swaps it in whole.
type state struct {
	cfg         *config.Config
	sites       []*site
	byHost      *hostmap.Map[*site]
	defaultSite *site
	reject      *tls.Config
	ticketCfgs  map[*tls.Config]string
	crls        []*mtls.CRLSet // watched while the state is live
	stopWatch   context.CancelFunc
	closers     []io.Closer // renewing client certificates
	acmeSources []*acme.Source
}

type site struct {
	name    string
	tls     *tls.Config
	cert    certs.Source
	handler *proxy.Site
}

// caOpener returns the internal CA, creating it on first use.
type caOpener func() (*ca.Authority, error)

// acmeOpener returns the process's ACME manager, creating it on first use.
type acmeOpener func() *acme.Manager

// build makes a state from cfg. Every problem is returned, joined, each
// naming its place in the config. With checkOnly, sources that would
// create state (the internal CA) are not opened.
func build(cfg *config.Config, log *slog.Logger, openCA caOpener, openACME acmeOpener, m *metrics.Metrics, checkOnly bool) (*state, error) {
	st := &state{
		cfg:        cfg,
		byHost:     hostmap.New[*site](),
		reject:     tlspolicy.Reject(),
		ticketCfgs: map[*tls.Config]string{},
	}
	var trusted []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		pfx, _ := config.ParsePrefix(p) // Validate checked it
		trusted = append(trusted, pfx)
	}
	opts := &proxy.Options{
		Log:              log,
		AccessLog:        cfg.AccessLog(),
		TrustedProxies:   trusted,
		BodyRead:         cfg.Timeouts.BodyRead,
		UpstreamConnect:  cfg.Timeouts.UpstreamConnect,
		UpstreamResponse: cfg.Timeouts.UpstreamResponse,
		UpstreamTLS:      tlspolicy.Client(nil),
		Send:             cfg.Timeouts.Send,

		MaxUpstreamHeaderBytes: cfg.Limits.MaxUpstreamHeaderBytes,
	}
	// Every site strips every identity header name configured anywhere.
	for _, sc := range cfg.Sites {
		ih := sc.IdentityHeaders
		for _, k := range []string{ih.Verify, ih.DN, ih.SANURI, ih.SANDNS, ih.Cert, ih.Fingerprint} {
			if k != "" && !slices.Contains(opts.IdentityHeaders, k) {
				opts.IdentityHeaders = append(opts.IdentityHeaders, k)
			}
		}
	}
	if m != nil {
		opts.Observer = m
	}

	var errs []error
	for i, sc := range cfg.Sites {
		hosts := make([]string, len(sc.Hosts))
		for j, h := range sc.Hosts {
			hosts[j] = config.NormalizeHost(h)
		}
		s := &site{name: hosts[0]}
		cp := fmt.Sprintf("sites[%d].tls.certificate", i)
		var err error
		switch sc.TLS.Certificate.Source {
		case config.SourceFiles:
			f, err := certs.NewFiles(sc.TLS.Certificate.Cert, sc.TLS.Certificate.Key, hosts, log)
			if err != nil {
				errs = append(errs, cfg.Errorf(cp+".cert", "%v", err))
				break
			}
			s.cert = f
		case config.SourceInternal:
			if checkOnly {
				break
			}
			auth, err := openCA()
			var in *certs.Internal
			if err == nil {
				in, err = certs.NewInternal(auth, hosts, log)
			}
			if err != nil {
				errs = append(errs, cfg.Errorf(cp+".source", "%v", err))
				break
			}
			s.cert = in
		case config.SourceACME:
			settings, aerrs := ACMESettings(cfg, i)
			errs = append(errs, aerrs...)
			if checkOnly || len(aerrs) > 0 {
				break
			}
			src := openACME().Source(settings, hosts)
			if m != nil {
				for _, h := range hosts {
					m.ACMEName(h)
				}
			}
			st.acmeSources = append(st.acmeSources, src)
			s.cert = src
		}
		var verifier *mtls.Verifier
		ticketLabel := s.name
		if !sc.ClientAuth.IsZero() {
			v, crls, verrs := clientVerifier(cfg, fmt.Sprintf("sites[%d].client_auth", i), sc.ClientAuth, openCA, checkOnly, log)
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
			opts := tlspolicy.Options{
				Profile:        tlspolicy.Profile(sc.TLS.Profile),
				GetCertificate: s.cert.GetCertificate,
			}
			if sc.TLS.Certificate.Source == config.SourceACME {
				// tls-alpn-01 validation handshakes (RFC 8737) offer only this.
				opts.NextProtos = []string{"h2", "http/1.1", acme.ALPNProto}
			}
			if verifier != nil {
				opts.ClientCAs = verifier.Roots()
			}
			if m != nil {
				name := s.name
				opts.OnHandshake = func(cs *tls.ConnectionState) { m.Handshake(name, cs) }
			}
			s.tls, err = tlspolicy.Server(opts)
			if err != nil {
				errs = append(errs, cfg.Errorf(fmt.Sprintf("sites[%d].tls.profile", i), "%v", err))
			}
			st.ticketCfgs[s.tls] = ticketLabel
		}
		siteRoutes := sc.Routes
		if sc.RoutesFrom != nil {
			derived, _, err := specRoutes(cfg, i)
			if err != nil {
				errs = append(errs, err)
			}
			siteRoutes = append(slices.Clip(siteRoutes), derived...)
		}
		routes := make([]proxy.RouteConfig, len(siteRoutes))
		for j, r := range siteRoutes {
			routes[j] = proxy.RouteConfig{Path: r.Path, Upstreams: r.Upstreams, StripPrefix: r.StripPrefix,
				ClientAuth: mtls.Mode(r.ClientAuth),
				Allow:      mtls.Allow{Subjects: r.Allow.Subjects, DNS: r.Allow.DNS, URIs: r.Allow.URIs}}
			if !r.UpstreamTLS.IsZero() {
				key := fmt.Sprintf("sites[%d].routes[%d].upstream_tls", i, j)
				if j >= len(sc.Routes) {
					key = fmt.Sprintf("sites[%d].routes_from.upstream_tls", i)
				}
				tc, closer, uerrs := upstreamTLS(cfg, key, r.UpstreamTLS, openCA, checkOnly, log)
				if closer != nil {
					st.closers = append(st.closers, closer)
				}
				errs = append(errs, uerrs...)
				routes[j].UpstreamTLS = tc
			}
		}
		ih := sc.IdentityHeaders
		s.handler, err = proxy.NewSite(proxy.SiteConfig{
			Name:       s.name,
			HSTS:       proxy.HSTS{MaxAge: *sc.HSTS.MaxAge, IncludeSubDomains: *sc.HSTS.IncludeSubDomains, Preload: sc.HSTS.Preload},
			Routes:     routes,
			ClientAuth: verifier,
			IdentityHeaders: mtls.HeaderNames{Verify: ih.Verify, DN: ih.DN, SANURI: ih.SANURI, SANDNS: ih.SANDNS,
				Cert: ih.Cert, Fingerprint: ih.Fingerprint},
		}, opts)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("sites[%d].routes", i), "%v", err))
		}
		for _, h := range hosts {
			st.byHost.Add(h, s)
		}
		if sc.Default {
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
		if s, ok := st.byHost.Lookup(serverName); ok {
			return s
		}
		return nil
	}
	if ta, ok := local.(*net.TCPAddr); ok {
		if s, ok := st.byHost.Lookup(ta.IP.String()); ok {
			return s
		}
	}
	return st.defaultSite
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

// upstreamTLS builds the client TLS config of a route's https upstreams,
// reading its CA bundle and client certificate. Problems are returned as
// positioned config errors.
func upstreamTLS(cfg *config.Config, path string, u config.UpstreamTLS, openCA caOpener, checkOnly bool, log *slog.Logger) (*tls.Config, io.Closer, []error) {
	var errs []error
	var closer io.Closer
	opts := tlspolicy.Upstream{ServerName: u.ServerName, InsecureSkipVerify: u.InsecureSkipVerify}
	if u.CA != "" {
		cas, err := certs.LoadCAs(u.CA)
		if err != nil {
			errs = append(errs, cfg.Errorf(path+".ca", "%v", err))
		} else {
			opts.Roots = certs.Pool(cas)
		}
	}
	if u.ClientCert != "" {
		cert, err := certs.LoadClient(u.ClientCert, u.ClientKey)
		if err != nil {
			errs = append(errs, cfg.Errorf(path+".client_cert", "%v", err))
		}
		opts.Certificate = cert
	}
	if u.InternalClientCert != "" && !checkOnly {
		auth, err := openCA()
		var src *certs.Internal
		if err == nil {
			src, err = certs.NewInternalClient(auth, u.InternalClientCert, log)
		}
		if err != nil {
			errs = append(errs, cfg.Errorf(path+".internal_client_cert", "%v", err))
		} else {
			opts.GetClientCertificate = src.GetClientCertificate
			closer = src
		}
	}
	if u.InsecureSkipVerify {
		log.Warn("upstream certificate verification is OFF: anyone between the gateway and this upstream can read and change its traffic",
			"route", path, "key", path+".insecure_skip_verify")
	}
	return tlspolicy.UpstreamClient(opts), closer, errs
}

// clientVerifier builds a site's client-certificate trust: PEM bundles,
// the internal CA (root trusted, its CRL applied) and CRL files. Every
// certificate of a bundle is trusted as an anchor; CRLs may be signed by
// any of them, by the internal CA's intermediate, or by an intermediate
// that clients present under a trusted root (see mtls.CRLSet).
func clientVerifier(cfg *config.Config, path string, c config.ClientAuth, openCA caOpener, checkOnly bool, log *slog.Logger) (*mtls.Verifier, *mtls.CRLSet, []error) {
	var errs []error
	var cas, signers []*x509.Certificate
	for k, f := range c.CA {
		loaded, err := certs.LoadCAs(f)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("%s.ca[%d]", path, k), "%v", err))
			continue
		}
		cas = append(cas, loaded...)
	}
	crlFiles := append([]string(nil), c.CRL...)
	if c.InternalCA && !checkOnly {
		auth, err := openCA()
		if err != nil {
			errs = append(errs, cfg.Errorf(path+".internal_ca", "%v", err))
		} else {
			cas = append(cas, auth.Root())
			signers = append(signers, auth.Intermediate()) // it signs the internal CRL
			crl := filepath.Join(auth.Dir(), ca.CRLFile)
			if _, err := os.Stat(crl); errors.Is(err, fs.ErrNotExist) {
				if _, err := auth.CRL(0); err != nil {
					errs = append(errs, cfg.Errorf(path+".internal_ca", "creating the internal CA's CRL: %v", err))
				}
			}
			crlFiles = append(crlFiles, crl)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	var crls *mtls.CRLSet
	if len(crlFiles) > 0 {
		var err error
		if crls, err = mtls.NewCRLSet(crlFiles, cas, signers, log); err != nil {
			return nil, nil, []error{cfg.Errorf(path+".crl", "%v", err)}
		}
	}
	return mtls.NewVerifier(cas, crls), crls, nil
}

// ACMESettings resolves site i's ACME settings, reading the files they
// name (EAB key, CA roots). Errors are positioned config errors.
func ACMESettings(cfg *config.Config, i int) (acme.Settings, []error) {
	a := cfg.SiteACME(i)
	own := cfg.Sites[i].TLS.Certificate.ACME
	// path names where a value came from: the site's block or the top level.
	path := func(key string, fromSite bool) string {
		if fromSite {
			return fmt.Sprintf("sites[%d].tls.certificate.acme.%s", i, key)
		}
		return "acme." + key
	}
	s := acme.Settings{
		Directory: a.Directory,
		Email:     a.Email,
		KeyType:   a.KeyType,
		Profile:   a.Profile,
		HTTP01:    slices.Contains(a.Challenges, config.ChallengeHTTP01),
		TLSALPN01: slices.Contains(a.Challenges, config.ChallengeTLSALPN01),
		EABKeyID:  a.EAB.KeyID,
	}
	var errs []error
	if a.EAB.MACKeyFile != "" {
		b, err := os.ReadFile(a.EAB.MACKeyFile)
		if err != nil {
			errs = append(errs, cfg.Errorf(path("eab.mac_key_file", own.EAB != (config.EAB{})), "reading the EAB MAC key: %v", err))
		} else {
			s.EABMACKey = strings.TrimSpace(string(b))
		}
	}
	if len(a.CARoots) > 0 {
		pool := x509.NewCertPool()
		// RootsID is the certificates' digest, not the file names: a
		// reload that changes what a ca_roots file holds must not keep
		// the ACME client that trusts the old roots (the class of issue
		// 13's ticket finding).
		id := sha256.New()
		for k, f := range a.CARoots {
			cas, err := certs.LoadCAs(f)
			if err != nil {
				errs = append(errs, cfg.Errorf(fmt.Sprintf("%s[%d]", path("ca_roots", len(own.CARoots) > 0), k), "%v", err))
				continue
			}
			for _, c := range cas {
				pool.AddCert(c)
				sum := sha256.Sum256(c.Raw)
				id.Write(sum[:])
			}
		}
		s.Roots, s.RootsID = pool, hex.EncodeToString(id.Sum(nil))
	}
	return s, errs
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
