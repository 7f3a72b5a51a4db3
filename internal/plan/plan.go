// Package plan is the resolve stage between a config and a running
// gateway. Resolve turns a validated config.Config and the files it names
// (certificates, CA bundles, CRLs, OpenAPI documents, ACME keys) into a
// Gateway plan: per site its certificate source, TLS policy, routes
// (configured and derived from OpenAPI, each with its origin), client
// trust and upstream TLS, and the gateway's storage choice.
//
// Resolve reads files but creates no state: no CA is created, no ACME
// account registered, no etcd connection opened, no port bound. That is
// what lets `tlsgate config validate`, `config explain`, `certs list`,
// `certs renew`, `serve` and the Go API share it: each sees the same
// sites, routes and storage. Package server builds live state from a
// plan; only Storage.Open connects to anything.
//
// Errors are positioned config errors ("tlsgate.yaml:14:7:
// sites[0].tls.certificate.cert: ..."), every problem at once.
//
// plan imports config, oaslint and the leaf packages that own each fact
// (acme, certs, mtls, proxy, tlspolicy, storage, cluster); it must not
// import server.
package plan

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/tlsgate/tlsgate/internal/acme"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/datadir"
	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/proxy"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// Gateway is the plan of a whole gateway. It is read-only once resolved.
type Gateway struct {
	// Config is what the plan was resolved from.
	Config *config.Config
	// DataDir is the resolved data directory (config's data_dir, else the
	// default).
	DataDir string
	// Storage is where shared state (ACME accounts and certificates,
	// locks, ticket keys) lives.
	Storage Storage
	// Sites in config order.
	Sites []*Site
	// TrustedProxies are the parsed trusted_proxies.
	TrustedProxies []netip.Prefix
	// IdentityHeaders are every identity header name of every site: each
	// site strips all of them from client requests, so that a name one
	// site uses for identities cannot be smuggled through another.
	IdentityHeaders []string
}

// Site is one site of the plan.
type Site struct {
	// Key is the site's place in the config, "sites[2]", for errors.
	Key string
	// Name is the first host, normalised: the site's name in logs,
	// metrics and ticket-key labels.
	Name string
	// Hosts are the normalised host names and IP addresses.
	Hosts   []string
	Default bool

	Certificate Certificate
	Profile     tlspolicy.Profile
	HSTS        proxy.HSTS
	// ClientTrust is nil when the site asks for no client certificates.
	ClientTrust     *ClientTrust
	IdentityHeaders mtls.HeaderNames
	// Routes are the configured routes (prefixes).
	Routes []Route
	// Spec is the operation table of routes_from, consulted before
	// Routes; nil without routes_from.
	Spec *Spec
	// Handler serves the site in-process (the Go API; config.Site.Handler):
	// every path no route matches, behind the same checks.
	Handler http.Handler
}

// Certificate says where a site's serving certificate comes from.
type Certificate struct {
	// Source is config.SourceFiles, SourceInternal or SourceACME.
	Source string
	// Cert and Key are the PEM files of source files (checked by Resolve:
	// readable, key matching, covering the hosts, not expired).
	Cert, Key string
	// ACME are the settings of source acme, with the files they name read.
	ACME acme.Settings
	// Key of the certificate block in the config, for errors.
	ConfigKey string
}

// ClientTrust is a site's trust for client certificates.
type ClientTrust struct {
	// ConfigKey is "sites[i].client_auth".
	ConfigKey string
	// CAs are every certificate of the configured bundles, each trusted as
	// an anchor.
	CAs []*x509.Certificate
	// CRLFiles are the configured CRLs (checked by Resolve).
	CRLFiles []string
	// InternalCA adds the internal CA's root and its CRL when the gateway
	// opens the CA.
	InternalCA bool
}

// Route is one route of a site.
type Route struct {
	Path        string
	Upstreams   []string
	StripPrefix bool
	ClientAuth  mtls.Mode
	Allow       mtls.Allow
	// UpstreamTLS is nil when the route's upstream_tls is not set.
	UpstreamTLS *UpstreamTLS
	// From is where the route is written in the config (file:line), or
	// "config" for a config built in code.
	From string
}

// Spec is a site's operation table, from its routes_from document: the
// site admits exactly these operations (proxy.SpecConfig), every one
// through the same upstreams.
type Spec struct {
	// Document is the routes_from document as the config names it.
	Document   string
	Operations []Operation
	Upstreams  []string
	// UpstreamTLS is nil when routes_from's upstream_tls is not set.
	UpstreamTLS *UpstreamTLS
}

// Operation is one operation of a document: a method on a path template
// (under its servers' base path) with its client-auth mode.
type Operation struct {
	Method     string
	Path       string
	ClientAuth mtls.Mode
	// From is the operation's file:line in the document.
	From string
}

// UpstreamTLS is a route's client side of TLS to its upstreams, with the
// files it names read.
type UpstreamTLS struct {
	// ConfigKey is "sites[i].routes[j].upstream_tls" or
	// "sites[i].routes_from.upstream_tls".
	ConfigKey string
	// Upstream holds roots, server name, a client certificate from files
	// and InsecureSkipVerify, as tlspolicy builds them.
	tlspolicy.Upstream
	// InternalClientCert names a client certificate the internal CA
	// issues and renews, instead of Certificate.
	InternalClientCert string
}

// Resolve makes the plan of cfg, which must have passed Validate. It
// reads every file cfg names and reports every problem at once, each
// naming its place in the config. log receives warnings about choices
// that are legal but dangerous (insecure_skip_verify).
func Resolve(cfg *config.Config, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{
		Config:  cfg,
		DataDir: datadir.Resolve(cfg.DataDir),
	}
	g.Storage = StorageOf(cfg)
	for _, p := range cfg.TrustedProxies {
		pfx, _ := config.ParsePrefix(p) // Validate checked it
		g.TrustedProxies = append(g.TrustedProxies, pfx)
	}
	var errs []error
	for i := range cfg.Sites {
		s, serrs := resolveSite(cfg, i, log)
		errs = append(errs, serrs...)
		g.Sites = append(g.Sites, s)
		for _, k := range s.IdentityHeaders.Configured() {
			if !slices.Contains(g.IdentityHeaders, k) {
				g.IdentityHeaders = append(g.IdentityHeaders, k)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return g, nil
}

func resolveSite(cfg *config.Config, i int, log *slog.Logger) (*Site, []error) {
	sc := cfg.Sites[i]
	s := &Site{
		Key:     fmt.Sprintf("sites[%d]", i),
		Default: sc.Default,
		Handler: sc.Handler,
		Profile: tlspolicy.Profile(sc.TLS.Profile),
		HSTS:    proxy.HSTS{MaxAge: *sc.HSTS.MaxAge, IncludeSubDomains: *sc.HSTS.IncludeSubDomains, Preload: sc.HSTS.Preload},
		IdentityHeaders: mtls.HeaderNames{Verify: sc.IdentityHeaders.Verify, DN: sc.IdentityHeaders.DN,
			SANURI: sc.IdentityHeaders.SANURI, SANDNS: sc.IdentityHeaders.SANDNS,
			Cert: sc.IdentityHeaders.Cert, Fingerprint: sc.IdentityHeaders.Fingerprint},
	}
	for _, h := range sc.Hosts {
		s.Hosts = append(s.Hosts, config.NormalizeHost(h))
	}
	s.Name = s.Hosts[0]
	var errs []error

	c := &s.Certificate
	c.Source, c.Cert, c.Key = sc.TLS.Certificate.Source, sc.TLS.Certificate.Cert, sc.TLS.Certificate.Key
	c.ConfigKey = s.Key + ".tls.certificate"
	switch c.Source {
	case config.SourceFiles:
		for _, err := range checkFiles(c.Cert, c.Key, s.Hosts, log) {
			// A problem of the key file (its mode, a key that does not
			// match) is placed at key:, the rest at cert:.
			field := ".cert"
			if ke := (*certs.KeyError)(nil); errors.As(err, &ke) {
				field = ".key"
			}
			errs = append(errs, cfg.Errorf(c.ConfigKey+field, "%v", err))
		}
	case config.SourceACME:
		var aerrs []error
		c.ACME, aerrs = ACMESettings(cfg, i)
		errs = append(errs, aerrs...)
	}

	if !sc.ClientAuth.IsZero() {
		t, terrs := resolveClientTrust(cfg, s.Key+".client_auth", sc.ClientAuth, log)
		errs = append(errs, terrs...)
		s.ClientTrust = t
	}

	for j, r := range sc.Routes {
		rt := Route{Path: r.Path, Upstreams: r.Upstreams, StripPrefix: r.StripPrefix,
			ClientAuth: mtls.Mode(r.ClientAuth),
			Allow:      mtls.Allow{Subjects: r.Allow.Subjects, DNS: r.Allow.DNS, URIs: r.Allow.URIs},
			From:       routeFrom(cfg, i, j)}
		if !r.UpstreamTLS.IsZero() {
			u, uerrs := resolveUpstreamTLS(cfg, fmt.Sprintf("%s.routes[%d].upstream_tls", s.Key, j), r.UpstreamTLS, log)
			errs = append(errs, uerrs...)
			rt.UpstreamTLS = u
		}
		s.Routes = append(s.Routes, rt)
	}
	if rf := sc.RoutesFrom; rf != nil {
		ops, err := specOperations(cfg, i)
		if err != nil {
			errs = append(errs, err)
		}
		s.Spec = &Spec{Document: rf.OpenAPI, Operations: ops, Upstreams: rf.Upstreams}
		if !rf.UpstreamTLS.IsZero() {
			var uerrs []error
			s.Spec.UpstreamTLS, uerrs = resolveUpstreamTLS(cfg, s.Key+".routes_from.upstream_tls", rf.UpstreamTLS, log)
			errs = append(errs, uerrs...)
		}
	}
	return s, errs
}

// checkFiles loads a certificate pair as source files will (and warns, as
// it will, when the certificate is close to its end), so that a plan never
// names files that cannot serve the site's hosts. It returns every
// problem of the pair (a loose key mode and hosts not covered, say).
func checkFiles(certFile, keyFile string, hosts []string, log *slog.Logger) []error {
	f, err := certs.NewFiles(certFile, keyFile, hosts, log)
	if err != nil {
		return unjoin(err)
	}
	if err := f.Close(); err != nil { // never watched: nothing to stop
		return []error{err}
	}
	return nil
}

// resolveClientTrust reads a site's client CA bundles and checks its CRL
// files (parsed against those CAs, then let go: the gateway loads and
// watches them itself).
func resolveClientTrust(cfg *config.Config, key string, c config.ClientAuth, log *slog.Logger) (*ClientTrust, []error) {
	t := &ClientTrust{ConfigKey: key, CRLFiles: slices.Clone(c.CRL), InternalCA: c.InternalCA}
	var errs []error
	for k, f := range c.CA {
		loaded, err := certs.LoadCAs(f)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("%s.ca[%d]", key, k), "%v", err))
			continue
		}
		t.CAs = append(t.CAs, loaded...)
	}
	if len(errs) == 0 && len(t.CRLFiles) > 0 && !t.InternalCA {
		// With the internal CA, its intermediate may sign the files too:
		// the gateway checks them once it has opened the CA.
		if _, err := mtls.NewCRLSet(t.CRLFiles, t.CAs, nil, log); err != nil {
			errs = append(errs, cfg.Errorf(key+".crl", "%v", err))
		}
	}
	return t, errs
}

// resolveUpstreamTLS reads the CA bundle and client certificate of an
// upstream_tls block.
func resolveUpstreamTLS(cfg *config.Config, key string, u config.UpstreamTLS, log *slog.Logger) (*UpstreamTLS, []error) {
	out := &UpstreamTLS{ConfigKey: key, InternalClientCert: u.InternalClientCert}
	var ferrs []FieldError
	out.Upstream, ferrs = LoadUpstreamTLS(u)
	var errs []error
	for _, fe := range ferrs {
		errs = append(errs, cfg.Errorf(key+"."+fe.Field, "%v", fe.Err))
	}
	if u.InsecureSkipVerify && log != nil {
		log.Warn("upstream certificate verification is OFF: anyone between the gateway and this upstream can read and change its traffic",
			"route", key, "key", key+".insecure_skip_verify")
	}
	return out, errs
}

// A FieldError is a problem with one field of a config block, named by
// its YAML key ("ca", "client_cert"), for the caller to place: the
// gateway as a config position, `tlsgate proxy` as the flag that set it.
type FieldError struct {
	Field string
	Err   error
}

// LoadUpstreamTLS reads the files of an upstream_tls block (CA bundle,
// client certificate and key) into what tlspolicy.UpstreamClient builds
// the client config from. Every route's upstream TLS and the sidecar's
// are made by it. InternalClientCert is left to the caller, which holds
// the CA.
func LoadUpstreamTLS(u config.UpstreamTLS) (tlspolicy.Upstream, []FieldError) {
	out := tlspolicy.Upstream{ServerName: u.ServerName, InsecureSkipVerify: u.InsecureSkipVerify}
	var errs []FieldError
	if u.CA != "" {
		cas, err := certs.LoadCAs(u.CA)
		if err != nil {
			errs = append(errs, FieldError{"ca", err})
		} else {
			out.Roots = certs.Pool(cas)
		}
	}
	if u.ClientCert != "" {
		cert, err := certs.LoadClient(u.ClientCert, u.ClientKey)
		if err != nil {
			errs = append(errs, FieldError{"client_cert", err})
		}
		out.Certificate = cert
	}
	return out, errs
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
	if od := a.OnDemand; od != nil {
		p := *od
		p.Defaults() // set by config.Defaults already; a plan built in code may not have run it
		s.OnDemand = &p
	}
	var errs []error
	if s.DNS01 = slices.Contains(a.Challenges, config.ChallengeDNS01); s.DNS01 {
		d := a.DNS
		s.DNS = acme.DNS{
			Provider: d.Provider, Server: d.Server, KeyName: d.KeyName, KeyAlgorithm: d.KeyAlgorithm,
			Command: d.Command, Resolvers: d.Resolvers, PropagationTimeout: d.PropagationTimeout,
		}
		if d.Provider == config.DNSProviderRFC2136 && d.KeyFile != "" {
			p := path("dns.key_file", !own.DNS.IsZero())
			b, err := os.ReadFile(d.KeyFile)
			secret := strings.TrimSpace(string(b))
			switch {
			case err != nil:
				errs = append(errs, cfg.Errorf(p, "reading the TSIG secret: %v", err))
			case secret == "":
				errs = append(errs, cfg.Errorf(p, "%s is empty: put the TSIG key's base64 secret in it (the secret: value of tsig-keygen's or keymgr's output)", d.KeyFile))
			default:
				if _, err := base64.StdEncoding.DecodeString(secret); err != nil {
					errs = append(errs, cfg.Errorf(p, "%s does not hold a base64 TSIG secret (the secret: value of tsig-keygen's or keymgr's output): %v", d.KeyFile, err))
				}
				s.DNS.Secret = secret
			}
		}
	}
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

// Check resolves cfg and checks its storage settings (key and TLS files;
// no connection is made): everything `tlsgate serve` would refuse at
// start-up, without creating any state.
func Check(cfg *config.Config, log *slog.Logger) error {
	_, err := Resolve(cfg, log)
	serr := StorageOf(cfg).Check(cfg)
	// One level of joined errors: callers count the problems.
	switch {
	case serr == nil:
		return err
	case err == nil:
		return serr
	}
	return errors.Join(append(unjoin(err), serr)...)
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// CheckFile loads the config at path and checks it as Check does,
// reporting in one run every problem that can be known, not only those of
// the first stage that fails: decoding problems (unknown keys, wrongly
// typed values) with Validate's problems in the rest of the file, and the
// files of every site (and of storage) whose settings have none. A site
// with a problem in its settings is not resolved: what its files would
// be checked against is not known. It returns the config only when there
// is no problem at all.
func CheckFile(path string, log *slog.Logger) (*config.Config, error) {
	cfg, err := config.LoadAll(path)
	if err == nil {
		return cfg, Check(cfg, log)
	}
	if cfg == nil {
		return nil, err
	}
	errs := unjoin(err)
	// bad reports whether a problem has been found at or inside key.
	bad := func(key string) bool {
		for _, e := range errs {
			var ce *config.Error
			if errors.As(e, &ce) && (ce.Path == key || strings.HasPrefix(ce.Path, key+".") || strings.HasPrefix(ce.Path, key+"[")) {
				return true
			}
		}
		return false
	}
	for i, sc := range cfg.Sites {
		if bad(fmt.Sprintf("sites[%d]", i)) || sc.TLS.Certificate.Source == config.SourceACME && bad("acme") {
			continue
		}
		_, serrs := resolveSite(cfg, i, log)
		errs = append(errs, serrs...)
	}
	if !bad("storage") && !bad("data_dir") {
		if serr := StorageOf(cfg).Check(cfg); serr != nil {
			errs = append(errs, unjoin(serr)...)
		}
	}
	return nil, errors.Join(errs...)
}
