// Package acme gets and renews site certificates from an ACME CA
// (RFC 8555: Let's Encrypt, ZeroSSL, step-ca, Pebble, ...). The protocol,
// challenge solving, renewal timing (ACME Renewal Information, RFC 9773,
// when the CA offers it) and storage locking are caddyserver/certmagic's;
// this package fits it into the gateway: one long-lived Manager per
// process that survives config reloads, challenge answers on the
// gateway's own listeners, one log line per request outcome, and a status
// record per certificate for `tlsgate certs list`.
//
// It imports certs, config (key types, challenge names), dns01 (the dns-01
// solver) and storage; of
// heavy dependencies it alone (with storage's interface) imports
// certmagic. It must not import server, plan or cluster: the server hands
// it a storage.Storage, files or etcd, chosen by the plan.
package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"go.uber.org/zap"

	"github.com/tlsgate/tlsgate/internal/acme/ondemand"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/dns01"
	"github.com/tlsgate/tlsgate/internal/storage"
)

// LetsEncrypt is the default directory: Let's Encrypt production.
const LetsEncrypt = config.DefaultACMEDirectory

// LetsEncryptStaging issues untrusted certificates under far higher rate
// limits: the place to try a new setup.
const LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"

// ALPNProto is the protocol tls-alpn-01 validation handshakes offer.
const ALPNProto = "acme-tls/1"

// Challenge types, as the config names them.
const (
	HTTP01    = config.ChallengeHTTP01
	TLSALPN01 = config.ChallengeTLSALPN01
	DNS01     = config.ChallengeDNS01
)

// Settings say which CA issues a site's certificates, and how.
type Settings struct {
	Directory string         // ACME directory URL
	Email     string         // account contact
	EABKeyID  string         // External Account Binding key ID
	EABMACKey string         // and its base64url HMAC key
	Roots     *x509.CertPool // trusted for the CA's own HTTPS API; nil: system roots
	KeyType   string         // ecdsa-p256 (default), ecdsa-p384, rsa-2048, rsa-4096
	HTTP01    bool           // solve http-01 on the HTTP listener
	TLSALPN01 bool           // solve tls-alpn-01 on the HTTPS listener
	Profile   string         // certificate profile to ask for; "" the CA's default
	DNS01     bool           // solve dns-01 through DNS, exclusively (no http-01, tls-alpn-01)
	DNS       DNS            // how dns-01 publishes its records
	// RootsID identifies Roots (a digest of its certificates) so equal
	// settings share one ACME client; the pool itself cannot be compared.
	RootsID string
	// OnDemand, when set, obtains certificates during the first handshake
	// for each name, as its gate allows (see package ondemand), instead
	// of for the site's hosts at start-up. Defaults must be set.
	OnDemand *config.OnDemand
}

// key identifies settings that can share one ACME account and client.
func (s Settings) key() string {
	k := strings.Join([]string{s.Directory, s.Email, s.EABKeyID, s.EABMACKey, s.RootsID, s.KeyType,
		fmt.Sprint(s.HTTP01, s.TLSALPN01), s.Profile, fmt.Sprintf("%v %q", s.DNS01, s.DNS)}, "\x00")
	if s.OnDemand != nil {
		k += fmt.Sprintf("\x00on-demand %+v", *s.OnDemand)
	}
	return k
}

// DNS configures dns-01 (config.DNSProvider with the key file read).
type DNS struct {
	Provider           string   // config.DNSProviderRFC2136 or config.DNSProviderExec
	Server             string   // rfc2136: the primary, host[:port]
	KeyName            string   // rfc2136: TSIG key name
	KeyAlgorithm       string   // rfc2136: TSIG algorithm; "" hmac-sha256
	Secret             string   // rfc2136: the TSIG key's base64 secret
	Command            []string // exec: the hook
	Resolvers          []string // where to look up and check; nil: system, then the zone's servers
	PropagationTimeout time.Duration
}

// solver returns the dns-01 solver d describes.
func (d DNS) solver(log *slog.Logger) *dns01.Solver {
	var p dns01.Provider
	switch d.Provider {
	case config.DNSProviderExec:
		p = &dns01.Exec{Command: slices.Clone(d.Command)}
	default:
		p = &dns01.RFC2136{Server: d.Server, KeyName: d.KeyName, KeyAlgorithm: d.KeyAlgorithm, Secret: d.Secret}
	}
	return &dns01.Solver{
		Provider:           p,
		Resolvers:          slices.Clone(d.Resolvers),
		PropagationTimeout: d.PropagationTimeout,
		Log:                log,
	}
}

// OnDemandObserver is told an on-demand site's decisions and the outcome
// of its orders (metrics). Its methods are called concurrently.
type OnDemandObserver interface {
	ondemand.Observer
	// Order reports an order's outcome (first issuance or renewal).
	Order(ok bool)
}

// KeyTypes maps the config's key type names (config.ACMEKeyTypes) to
// certmagic's.
var KeyTypes = map[string]certmagic.KeyType{
	config.ACMEKeyECDSAP256: certmagic.P256,
	config.ACMEKeyECDSAP384: certmagic.P384,
	config.ACMEKeyRSA2048:   certmagic.RSA2048,
	config.ACMEKeyRSA4096:   certmagic.RSA4096,
}

// Options configure a Manager.
type Options struct {
	Storage storage.Storage
	Log     *slog.Logger

	// RenewCheckInterval is how often certificates are checked for
	// renewal; 0 means certmagic's default (10 minutes). Short-lived test
	// certificates need seconds.
	RenewCheckInterval time.Duration
	// OnResult, when set, is told the outcome of every order (metrics).
	OnResult func(name string, ok bool)
	// RenewalWindowRatio is the fraction of a certificate's lifetime left
	// when renewal starts if the CA gives no ARI window; 0 means 1/3.
	RenewalWindowRatio float64
	// DisableARI ignores the CA's renewal information (RFC 9773):
	// renewal then starts at RenewalWindowRatio alone, and renewals do
	// not tell the CA which certificate they replace. For tests: Pebble
	// suggests a window of ±24 h around the point where a third of the
	// lifetime is left, clamped to the lifetime, so for a certificate of
	// seconds the window is the whole lifetime and the renewal time a
	// random pick in it.
	DisableARI bool
	// OnDemand, when set, returns the observer of an on-demand site's
	// decisions and orders, by the site's name (its first host).
	OnDemand func(site string) OnDemandObserver
	// OneShot is for a caller that makes one attempt and reports its
	// error itself (tlsgate certs renew): a failed order is logged at
	// debug level, without the promise of a retry that a gateway keeps.
	OneShot bool
}

// Manager owns the certificate cache and one ACME client per distinct
// Settings. It outlives config reloads: a reload that keeps a site keeps
// its certificate and renewal schedule.
type Manager struct {
	opts   Options
	log    *slog.Logger
	zlog   *zap.Logger
	cache  *certmagic.Cache
	status *statusBook

	mu      sync.Mutex
	configs map[string]*issuerConfig // by Settings.key(), and the site for on-demand ones
	byName  map[string]*issuerConfig // which config manages a name
	dynamic map[string]*issuerConfig // which on-demand config allowed a name
	started bool
	ports   Ports
	pending []*Source // created before Start
	ctx     context.Context
	cancel  context.CancelFunc

	// managing are the names whose certificate keepManaged is loading or
	// ordering.
	managing map[managed]bool
}

type issuerConfig struct {
	settings Settings
	magic    *certmagic.Config
	issuer   *certmagic.ACMEIssuer

	// On-demand configs only (gate != nil): one per site.
	site      string
	gate      *ondemand.Gate
	obs       OnDemandObserver
	ticketsMu sync.Mutex
	tickets   map[string]*ondemand.Ticket // admitted orders not done yet, by name
}

// NewManager starts a Manager. Call Close when done.
func NewManager(opts Options) *Manager {
	m := &Manager{
		opts:    opts,
		log:     opts.Log,
		zlog:    newZapLogger(opts.Log),
		configs: map[string]*issuerConfig{},
		byName:  map[string]*issuerConfig{},
		dynamic: map[string]*issuerConfig{},

		managing: map[managed]bool{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.status = newStatusBook(opts.Storage, opts.Log)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, n := range c.Names {
				if ic, ok := m.byName[n]; ok {
					return ic.magic, nil
				}
				if ic, ok := m.dynamic[n]; ok {
					return ic.magic, nil
				}
			}
			return nil, fmt.Errorf("no site manages %v any more", c.Names)
		},
		RenewCheckInterval: opts.RenewCheckInterval,
		Logger:             m.zlog,
	})
	return m
}

// config returns the certmagic config for s, creating it on first use.
// An on-demand config is the site's own (site is its first host): its
// gate's memory and limits are not shared with another site.
func (m *Manager) config(s Settings, site string) *issuerConfig {
	k := s.key()
	if s.OnDemand != nil {
		k += "\x00site " + site
	}
	if ic, ok := m.configs[k]; ok {
		return ic
	}
	ic := &issuerConfig{settings: s}
	ic.magic = certmagic.New(m.cache, certmagic.Config{
		Storage:            m.opts.Storage,
		Logger:             m.zlog,
		RenewalWindowRatio: m.opts.RenewalWindowRatio,
		DisableARI:         m.opts.DisableARI,
		KeySource:          certmagic.StandardKeyGenerator{KeyType: keyType(s.KeyType)},
		OnEvent: func(ctx context.Context, event string, data map[string]any) error {
			m.onEvent(ctx, ic, event, data)
			return nil
		},
	})
	tmpl := certmagic.ACMEIssuer{
		// TestCA stays unset: for Let's Encrypt production certmagic then
		// retries a failed order on Let's Encrypt staging first (Caddy's
		// behaviour, sparing production rate limits); other CAs are only
		// ever retried themselves. Setting it equal to CA would make
		// certmagic stop sending ARI "replaces" with renewals.
		CA:                      s.Directory,
		Email:                   s.Email,
		Agreed:                  true,
		Profile:                 s.Profile,
		TrustedRoots:            s.Roots,
		DisableHTTPChallenge:    !s.HTTP01,
		DisableTLSALPNChallenge: !s.TLSALPN01,
		Logger:                  m.zlog,
	}
	if s.DNS01 {
		// With a DNS01Solver certmagic offers the CA dns-01 alone.
		tmpl.DNS01Solver = s.DNS.solver(m.log)
		tmpl.DisableHTTPChallenge, tmpl.DisableTLSALPNChallenge = true, true
	}
	if s.EABKeyID != "" {
		tmpl.ExternalAccount = &acme.EAB{KeyID: s.EABKeyID, MACKey: s.EABMACKey}
	}
	ic.issuer = certmagic.NewACMEIssuer(ic.magic, tmpl)
	ic.magic.Issuers = []certmagic.Issuer{ic.issuer}
	if s.OnDemand != nil {
		m.onDemand(ic, site)
	}
	if m.started {
		ic.setPorts(m.ports)
	}
	m.configs[k] = ic
	return ic
}

// Ports are where the gateway's own listeners answer challenges.
type Ports struct {
	// Host is the address the HTTPS listener is bound to ("" for all).
	Host string
	// HTTP is the HTTP listener's port, 0 when it is off.
	HTTP int
	// TLS is the HTTPS listener's port.
	TLS int
}

// setPorts points the issuer's challenge solvers at the gateway's
// listeners. certmagic then tries to bind them, finds them taken, and
// relies on the gateway answering: HandleHTTPChallenge on HTTP, the
// site's GetCertificate for tls-alpn-01.
func (ic *issuerConfig) setPorts(p Ports) {
	ic.issuer.ListenHost = p.Host
	ic.issuer.AltHTTPPort = p.HTTP
	ic.issuer.AltTLSALPNPort = p.TLS
	if p.HTTP == 0 {
		ic.issuer.DisableHTTPChallenge = true
	}
}

func keyType(name string) certmagic.KeyType {
	if kt, ok := KeyTypes[name]; ok {
		return kt
	}
	return KeyTypes[config.DefaultACMEKeyType]
}

// Source returns the certificate source of a site whose hosts are
// certified by the CA in s. Issuance starts once Start has been called
// (at once if it has): the gateway's listeners must be bound first, or the
// ACME library would bind the challenge ports itself.
func (m *Manager) Source(s Settings, hosts []string) *Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	ic := m.config(s, hosts[0])
	src := &Source{m: m, ic: ic, hosts: slices.Clone(hosts)}
	for _, h := range hosts {
		if prev, ok := m.byName[h]; ok && prev != ic {
			m.log.Info("certificate settings changed; the current certificate serves until its renewal, which uses the new settings (tlsgate certs renew --force switches now)",
				"name", h, "ca", s.Directory)
		}
		m.byName[h] = ic
	}
	if m.started {
		m.manage(src)
	} else {
		m.pending = append(m.pending, src)
	}
	return src
}

// Start begins issuing and renewing for every source handed out so far,
// once the gateway's listeners are bound at p.
func (m *Manager) Start(p Ports) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started, m.ports = true, p
	for _, ic := range m.configs {
		ic.setPorts(p)
	}
	for _, src := range m.pending {
		m.manage(src)
	}
	m.pending = nil
}

func (m *Manager) manage(src *Source) {
	if src.ic.gate != nil {
		return // on demand: nothing is loaded or ordered before a handshake asks
	}
	for _, h := range src.hosts {
		k := managed{src.ic, h}
		if m.managing[k] {
			continue // a reload kept the site: its loop goes on
		}
		m.managing[k] = true
		go m.keepManaged(src.ic, h)
	}
}

// managed is a name and the config that manages it.
type managed struct {
	ic   *issuerConfig
	name string
}

// manageRetryMax bounds the wait between two attempts to load (or order)
// a certificate while storage fails: once storage answers again, a name
// is loaded or ordered within this (plus one storage timeout).
const manageRetryMax = 30 * time.Second

// keepManaged gets name's certificate into the cache, from storage or
// ordered when storage has none, after which certmagic's maintenance
// renews it. It runs in the background: a reload must not wait for a slow
// or unreachable shared storage. Any failure before the order (storage
// cannot be read or written, the issuance lock cannot be taken: etcd
// without a quorum) is retried here, every second at first and then at
// most every manageRetryMax, until the name is cached or no site uses ic
// for it any more. certmagic's ManageAsync would not: it reads storage
// once per name in a goroutine of its own and, when that read fails,
// only logs it and never manages the name (ManageAsync returns nil).
// Failed orders are certmagic's to retry, on its own schedule.
func (m *Manager) keepManaged(ic *issuerConfig, name string) {
	defer func() {
		m.mu.Lock()
		delete(m.managing, managed{ic, name})
		m.mu.Unlock()
	}()
	m.status.touch(name, ic.settings.Directory)
	wait := time.Second
	for attempt := 1; m.ctx.Err() == nil; attempt++ {
		m.mu.Lock()
		live := m.byName[name] == ic
		m.mu.Unlock()
		if !live {
			return
		}
		err := m.manageOnce(ic, name)
		if err == nil || m.ctx.Err() != nil {
			if attempt > 1 && err == nil {
				m.log.Info("certificate loaded or ordered after retrying", "name", name, "attempts", attempt)
			}
			return
		}
		level := slog.LevelDebug // while storage stays down: a warning every 10 attempts (5 minutes)
		if attempt%10 == 1 {
			level = slog.LevelWarn
		}
		m.log.Log(m.ctx, level, "cannot load or order the certificate yet; retrying", "name", name, "attempt", attempt, "in", wait.String(), "err", err)
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, manageRetryMax)
	}
}

// manageOnce caches name's certificate from storage, first ordering one
// when storage has none. An error means it is not cached.
func (m *Manager) manageOnce(ic *issuerConfig, name string) error {
	if m.cached(name) {
		return nil
	}
	_, err := m.opts.Storage.Load(m.ctx, certmagic.StorageKeys.SitePrivateKey(ic.issuer.IssuerKey(), name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Blocks until issued: certmagic retries failed orders itself (after
		// 1, 2, 2, 5, 10 minutes...). What it returns is a failure before
		// ordering (storage, the lock), or its giving up.
		if err := ic.magic.ObtainCertAsync(m.ctx, name); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	// Loads it into the cache, then updates its renewal information and
	// renews it if due.
	err = ic.magic.ManageSync(m.ctx, []string{name})
	if err != nil && m.cached(name) {
		return nil // a failed renewal: certmagic's maintenance retries it
	}
	return err
}

// cached reports whether the cache holds a certificate for name.
func (m *Manager) cached(name string) bool {
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if slices.Contains(c.Names, name) {
			return true
		}
	}
	return false
}

// Retain stops maintaining certificates for names no live site uses.
// Call it after a reload with the new state's sources.
func (m *Manager) Retain(live []*Source) {
	keep := map[string]bool{}
	for _, s := range live {
		for _, h := range s.hosts {
			keep[h] = true
		}
	}
	m.mu.Lock()
	var drop []certmagic.SubjectIssuer
	for n := range m.byName {
		if !keep[n] {
			delete(m.byName, n)
			drop = append(drop, certmagic.SubjectIssuer{Subject: n})
		}
	}
	m.mu.Unlock()
	if len(drop) > 0 {
		m.cache.RemoveManaged(drop)
	}
}

// HandleHTTPChallenge answers an ACME http-01 request for any name this
// process (or another sharing its storage) is solving. It reports whether
// it wrote a response.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if !certmagic.LooksLikeHTTPChallenge(r) {
		return false
	}
	m.mu.Lock()
	ic := m.byName[normalize(r.Host)]
	if ic == nil {
		ic = m.dynamic[normalize(r.Host)]
	}
	if ic == nil {
		// A token for a name no site serves: try every client, as another
		// node sharing our storage may have started it.
		for _, c := range m.configs {
			ic = c
			break
		}
	}
	m.mu.Unlock()
	if ic == nil {
		return false
	}
	return ic.issuer.HandleHTTPChallenge(w, r)
}

func normalize(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return strings.ToLower(strings.Trim(host, "[]"))
}

// Renew renews name's certificate from the CA in s now if it is due, or
// always with force, and waits for the outcome; with nothing in storage
// it orders one. It reports whether a certificate was issued. Call Start
// first: a running gateway sharing the storage answers the challenges
// when it holds the ports.
func (m *Manager) Renew(ctx context.Context, s Settings, name string, force bool) (bool, error) {
	s.OnDemand = nil // one name, renewed or ordered now: no gate
	m.mu.Lock()
	ic := m.config(s, name)
	m.byName[name] = ic
	m.mu.Unlock()
	cert, err := ic.magic.CacheManagedCertificate(ctx, name)
	if err != nil {
		return true, ic.magic.ObtainCertSync(ctx, name)
	}
	if !force && !cert.NeedsRenewal(ic.magic) {
		return false, nil
	}
	return true, ic.magic.RenewCertSync(ctx, name, force)
}

// Close stops renewal and releases the cache.
func (m *Manager) Close() {
	m.cancel()
	m.cache.Stop()
}

// Source is a site's ACME certificate source (certs.Source).
type Source struct {
	m     *Manager
	ic    *issuerConfig
	hosts []string

	warnMu   sync.Mutex
	lastWarn time.Time
}

var _ certs.Source = (*Source)(nil)

// Hosts are the names the source certifies.
func (s *Source) Hosts() []string { return s.hosts }

// GetCertificate implements certs.Source. It also answers tls-alpn-01
// challenge handshakes. Until a certificate has been issued the handshake
// fails (an internal_error alert) rather than showing a certificate for
// another name.
func (s *Source) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.ic.gate != nil {
		return s.onDemandCertificate(hello)
	}
	name := hello.ServerName
	if name == "" {
		// A client that connected by address sends no SNI: serve the
		// certificate of that address when the site has one (RFC 8738),
		// else the site's first name.
		name = s.hosts[0]
		if ip := localIP(hello); ip != "" && slices.Contains(s.hosts, ip) {
			name = ip
		}
		h := *hello
		h.ServerName = name
		hello = &h
	}
	cert, err := s.ic.magic.GetCertificate(hello)
	if err == nil && cert != nil && isChallenge(hello) {
		return cert, nil
	}
	if err == nil && (cert == nil || cert.Leaf == nil || !certs.Covers(cert.Leaf, name)) {
		err = errors.New("no certificate for this name in the cache")
	}
	if err != nil {
		s.warnNoCert(name, err)
		return nil, fmt.Errorf("no certificate for %s yet: %w", name, err)
	}
	return cert, nil
}

// localIP is the address the client connected to, as the config spells
// hosts (hostmap.Normalize), or "" when unknown.
func localIP(hello *tls.ClientHelloInfo) string {
	if hello.Conn == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(hello.Conn.LocalAddr().String())
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().WithZone("").String()
}

func isChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == ALPNProto
}

// warnNoCert logs a refused handshake at most once a minute per site.
func (s *Source) warnNoCert(name string, err error) {
	s.warnMu.Lock()
	defer s.warnMu.Unlock()
	if time.Since(s.lastWarn) < time.Minute {
		return
	}
	s.lastWarn = time.Now()
	st := s.m.status.get(name)
	args := []any{"name", name, "ca", s.ic.settings.Directory, "err", err}
	if st.LastError != "" {
		args = append(args, "last_attempt", st.LastAttempt.Format(time.RFC3339), "last_error", st.LastError)
	}
	s.m.log.Warn("refusing TLS handshakes for this name until its certificate is issued", args...)
}

// Leaf implements certs.Source: the certificate of the site's first name,
// or nil before one has been issued.
func (s *Source) Leaf() *x509.Certificate {
	for _, c := range s.m.cache.AllMatchingCertificates(s.hosts[0]) {
		if c.Leaf != nil {
			return c.Leaf
		}
	}
	return nil
}

// Close implements certs.Source. Maintenance belongs to the Manager,
// which keeps it across reloads (see Retain).
func (s *Source) Close() error { return nil }

// Refresh loads certificates that another process (tlsgate certs renew,
// another gateway sharing the storage) renewed, and serves them instead
// of the cached ones. Reload calls it.
func (m *Manager) Refresh(ctx context.Context) {
	m.mu.Lock()
	names := make(map[string]*issuerConfig, len(m.byName))
	for n, ic := range m.byName {
		names[n] = ic
	}
	m.mu.Unlock()
	for n, ic := range names {
		var old []certmagic.Certificate
		for _, c := range m.cache.AllMatchingCertificates(n) {
			if slices.Contains(c.Names, n) {
				old = append(old, c)
			}
		}
		fresh, err := ic.magic.CacheManagedCertificate(ctx, n)
		if err != nil {
			continue // not issued yet: the order in progress will cache it
		}
		var stale []string
		for _, c := range old {
			if c.Hash() != fresh.Hash() {
				stale = append(stale, c.Hash())
			}
		}
		if len(stale) > 0 {
			m.cache.Remove(stale)
			m.log.Info("serving the certificate found in storage", "name", n, "not_after", fresh.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}

// Stored returns the certificate chain stored for name from the CA at
// directory, leaf first.
func Stored(ctx context.Context, store storage.Storage, directory, name string) ([]*x509.Certificate, error) {
	issuer := (&certmagic.ACMEIssuer{CA: directory}).IssuerKey()
	data, err := store.Load(ctx, certmagic.StorageKeys.SiteCert(issuer, name))
	if err != nil {
		return nil, err
	}
	return certs.ParsePEMCertificates(data)
}

// Status returns the latest request outcome recorded for name.
func (m *Manager) Status(name string) Status { return m.status.get(name) }

// LeafFor returns the certificate served for host, or nil before one has
// been issued.
func (s *Source) LeafFor(host string) *x509.Certificate {
	for _, c := range s.m.cache.AllMatchingCertificates(host) {
		if c.Leaf != nil && certs.Covers(c.Leaf, host) {
			return c.Leaf
		}
	}
	return nil
}
