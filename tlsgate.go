// Package tlsgate serves HTTPS for a Go program the way the tlsgate
// gateway does, in the same process: certificates from ACME (or from a
// local CA for localhost and IP addresses), TLS 1.2/1.3 with AEAD suites
// only, HSTS and security headers, a redirect from HTTP to HTTPS that
// also answers ACME http-01 challenges, certificate files reloaded when
// they change, session-ticket keys rotated, client certificates verified
// (with CRLs) and handed to the handler, and a graceful shutdown.
//
// The smallest use serves a handler for a public name, with a Let's
// Encrypt certificate, until ctx is done:
//
//	err := tlsgate.ListenAndServe(ctx, handler, "api.example.com")
//
// A Server gives the same with every choice open; a Config runs a whole
// tlsgate YAML config (what `tlsgate serve` does, and is built on).
//
// The security checks of the gateway apply to requests before the handler
// sees them: the path is normalised (dot segments, encoded slashes and
// backslashes refused), methods must be tokens (CONNECT and TRACE are
// refused), client copies of identity and forwarding headers are removed,
// and every HTTPS answer carries HSTS, nosniff, DENY framing and a
// referrer policy. RequireClientCert enforces client certificates per
// route as middleware; Identity gives a handler the verified certificate.
//
// The package keeps no global state and prints nothing: logs go to
// Server.Logger, metrics to Server.Metrics.
package tlsgate

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/loopback"
	"github.com/tlsgate/tlsgate/internal/server"
)

// ListenAndServe serves h over HTTPS for hosts on :443, with a redirect
// (and ACME http-01 challenges) on :80, until ctx is done; then it lets
// in-flight requests finish for up to 30 seconds. Certificates come from
// Let's Encrypt, or from a local CA in the default data directory when
// every host is localhost, a name under .localhost, or an IP address.
func ListenAndServe(ctx context.Context, h http.Handler, hosts ...string) error {
	return (&Server{Hosts: hosts, Handler: h}).ListenAndServe(ctx)
}

// Profile names a TLS profile.
type Profile string

// TLS profiles. Nothing weaker exists: TLS 1.0 and 1.1 cannot be enabled.
const (
	// Intermediate is TLS 1.2 and 1.3 with ECDHE key exchange and AEAD
	// ciphers only (Mozilla's intermediate list): every client of the last
	// decade connects, with forward secrecy.
	Intermediate Profile = "intermediate"
	// Modern is TLS 1.3 only.
	Modern Profile = "modern"
)

// ACME configures certificates from an ACME CA (RFC 8555). Every field
// is optional.
type ACME struct {
	// Email is the account's contact address, where the CA writes about
	// problems with the account or its certificates. Recommended.
	Email string
	// Directory is the CA's directory URL. Empty: Let's Encrypt
	// production. Try a new setup on Let's Encrypt staging first: its
	// rate limits are much higher.
	Directory string
	// CARootFiles are PEM files of the roots that sign the CA's own HTTPS
	// certificate, for private CAs (step-ca, Pebble); they then replace
	// the system roots for talking to the CA.
	CARootFiles []string
}

// ClientCAs is the trust for client certificates (mutual TLS). With any
// field set, the handshake asks clients for a certificate; a presented
// one is verified on every request (chain, validity, CRLs), and the
// result is given to the handler (Identity). Without a certificate, or
// with one that fails, a request still reaches the handler, unless a
// RequireClientCert middleware stands in front of it.
type ClientCAs struct {
	// Files are PEM bundles of CAs that issue client certificates; every
	// certificate in them is trusted as an anchor.
	Files []string
	// LocalCA trusts the local CA of the data directory (created on first
	// use; `tlsgate ca` manages it) and applies its CRL.
	LocalCA bool
	// CRLFiles are revocation lists (PEM or DER) signed by a trusted CA;
	// they are re-read when they change, and a revoked certificate is
	// refused from the next request on.
	CRLFiles []string
}

func (c ClientCAs) isZero() bool {
	return len(c.Files) == 0 && !c.LocalCA && len(c.CRLFiles) == 0
}

// A Server serves HTTPS. Set its fields, then call ListenAndServe, or
// Listen and Serve. Fields must not change after Listen. A Server serves
// once.
//
// Either Hosts and Handler describe what it serves, or Config does (a
// tlsgate YAML config, with sites, routes and upstreams); with Config set,
// the fields from Hosts to ClientCAs must be left zero.
type Server struct {
	// Hosts are the names served: DNS names, "*.example.com" wildcards
	// (one label; not with ACME) and IP addresses. TLS clients that ask
	// for another name are refused in the handshake, and requests whose
	// Host is not one of them get 421 (a client that sends no SNI may
	// name an IP address in Host). Public names and local ones (IP
	// addresses, localhost) cannot be mixed without CertFile: no ACME CA
	// certifies the local ones. Required unless Config is set.
	Hosts []string

	// Handler answers requests. Required unless Config is set.
	Handler http.Handler

	// Config, instead of the fields from Hosts to ClientCAs, describes the
	// gateway: see LoadConfig.
	Config *Config

	// Addr is the HTTPS address, "host:port". Empty means ":443", or
	// "127.0.0.1:443" when every host is localhost, under .localhost or a
	// loopback address (such names are not served to the network).
	Addr string
	// HTTPAddr is the plain-HTTP address, which only redirects to HTTPS
	// (301, or 308 for methods other than GET and HEAD, so that a body is
	// not lost) and answers ACME http-01 challenges. Empty means ":80"
	// (loopback as for Addr); "off" turns it off (ACME then validates by
	// tls-alpn-01 on Addr).
	HTTPAddr string
	// AdminAddr serves Prometheus metrics at /metrics, a status page at /
	// and /healthz. Empty or "off" (the default) turns it off. Only a
	// loopback address is accepted: it has no authentication.
	AdminAddr string

	// DataDir holds the state the server creates: the local CA, and ACME
	// accounts and certificates. Empty means $TLSGATE_DATA_DIR, else
	// $XDG_DATA_HOME/tlsgate, else ~/.local/share/tlsgate.
	DataDir string

	// CertFile and KeyFile, when set, are the PEM certificate chain and
	// key to serve; they are reloaded when either file changes, and a
	// pair that cannot serve Hosts is refused while the previous one keeps
	// serving. The key file must not be readable by other users. Empty:
	// ACME, or the local CA when every host is local (localhost, a name
	// under .localhost, or an IP address), whose certificates last 7
	// days and renew by themselves.
	CertFile, KeyFile string

	// ACME configures certificates from an ACME CA; see ACME.
	ACME ACME

	// Profile is the TLS profile. Empty means Intermediate.
	Profile Profile

	// ClientCAs, when set, asks clients for certificates; see ClientCAs.
	ClientCAs ClientCAs

	// ShutdownTimeout is how long in-flight requests may take to finish
	// once ctx is done. Zero means 30 seconds; past it they are cut.
	// Connections a handler hijacked (WebSockets) are the handler's to
	// close.
	ShutdownTimeout time.Duration

	// Logger receives the server's logs: lifecycle at Info, one line per
	// request at Info (msg "request"), problems that need a human at
	// Error. Nil discards them.
	Logger *slog.Logger

	// Metrics, when set, receives the server's Prometheus metrics
	// (handshakes, requests, client-certificate checks, certificate
	// expiry, ACME renewals). Registering fails when it already holds a
	// server's. Nil: no metrics, unless AdminAddr is on (then a registry
	// of the server's own).
	Metrics prometheus.Registerer

	// Version is shown on the status page. Empty shows "dev".
	Version string

	mu  sync.Mutex
	srv *server.Server
}

// ListenAndServe binds the addresses and serves until ctx is done, then
// shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Listen checks the fields, builds the server (reading certificates,
// opening the local CA or the ACME storage) and binds its addresses. No
// request is served until Serve. Every problem is reported at once.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("tlsgate: Listen called twice")
	}
	cfg, path, err := s.config()
	if err != nil {
		return err
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := server.New(cfg, server.Options{Log: log, ConfigPath: path, Registerer: s.Metrics, Version: s.Version})
	if err != nil {
		if s.Config == nil {
			return fieldError(err)
		}
		return err
	}
	if err := srv.Listen(); err != nil {
		srv.Close()
		return err
	}
	s.srv = srv
	return nil
}

// Serve serves on the bound addresses (Listen binds them first if it was
// not called) until ctx is done, then stops accepting and lets in-flight
// requests finish within ShutdownTimeout (or the config's
// timeouts.shutdown). It returns nil after a clean shutdown.
//
// While it serves, once a burst of at least 256 client connections has
// fallen to half for 5 seconds, it returns the memory the burst grew to
// the OS (forced collections of the whole process, then
// runtime/debug.FreeOSMemory), at most once a minute, never with
// $GOGC=off.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		if err := s.Listen(); err != nil {
			return err
		}
		srv = s.srv
	}
	return srv.Serve(ctx)
}

// Reload re-reads certificates (and the config file of a Config from
// LoadConfig) and swaps them in when all are valid; otherwise it returns
// why and the server keeps serving as before. Established connections
// are untouched. Certificate files are also reloaded by themselves when
// they change.
func (s *Server) Reload() error {
	srv, err := s.live()
	if err != nil {
		return err
	}
	return srv.Reload()
}

// Addrs are the addresses a Server bound.
type Addrs struct {
	// HTTPS is the TLS listener.
	HTTPS net.Addr
	// HTTP is the redirect listener; nil when off.
	HTTP net.Addr
	// Admin is the admin listener; nil when off.
	Admin net.Addr
	// HTTP3 is the HTTP/3 (QUIC, UDP) listener, on HTTPS's address and
	// port; nil when off.
	HTTP3 net.Addr
}

// Addrs returns the bound addresses (useful with port 0); zero before
// Listen.
func (s *Server) Addrs() Addrs {
	srv, err := s.live()
	if err != nil {
		return Addrs{}
	}
	return Addrs{HTTPS: srv.HTTPSAddr(), HTTP: srv.HTTPAddr(), Admin: srv.AdminAddr(), HTTP3: srv.HTTP3Addr()}
}

// LocalCA returns the local CA's root certificate, creating the CA in the
// data directory if there is none, and the path of its PEM file: the
// certificate clients trust to reach hosts served from the local CA. Call
// it after Listen.
func (s *Server) LocalCA() (root *x509.Certificate, path string, err error) {
	auth, err := s.localCA()
	if err != nil {
		return nil, "", err
	}
	return auth.Root(), auth.RootPath(), nil
}

// IssueClientCert has the local CA issue a client certificate for name
// (its subject CN; URIs, such as SPIFFE IDs, go in its URI SANs), valid
// for validity (zero: 30 days), and returns the PEM chain and key. It is
// for development and tests, like mkcert; `tlsgate ca issue` records and
// revokes such certificates. Call it after Listen.
func (s *Server) IssueClientCert(name string, uris []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	auth, err := s.localCA()
	if err != nil {
		return nil, nil, err
	}
	return ca.IssueClient(auth, name, uris, validity)
}

// ECHConfigList is the Encrypted Client Hello config clients should use
// now (the ech= value of a DNS HTTPS record, undecoded), or nil when ECH
// is off or the server is not listening.
func (s *Server) ECHConfigList() []byte {
	srv, err := s.live()
	if err != nil {
		return nil
	}
	return srv.ECHConfigList()
}

func (s *Server) localCA() (*ca.Authority, error) {
	srv, err := s.live()
	if err != nil {
		return nil, err
	}
	return srv.CA()
}

func (s *Server) live() (*server.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil, errors.New("tlsgate: the server is not listening (call Listen first)")
	}
	return s.srv, nil
}

// config turns the fields into a validated config (or takes Config's),
// with the config file to re-read on Reload.
func (s *Server) config() (*config.Config, string, error) {
	if s.Config != nil {
		if len(s.Hosts) > 0 || s.Handler != nil || s.Addr != "" || s.HTTPAddr != "" || s.AdminAddr != "" ||
			s.DataDir != "" || s.CertFile != "" || s.KeyFile != "" ||
			s.ACME.Email != "" || s.ACME.Directory != "" || len(s.ACME.CARootFiles) > 0 ||
			s.Profile != "" || !s.ClientCAs.isZero() {
			return nil, "", errors.New("tlsgate: Server.Config describes the whole gateway: leave Hosts, Handler, addresses, DataDir, certificates, ACME, Profile and ClientCAs unset")
		}
		return s.Config.cfg, s.Config.path, nil
	}
	if len(s.Hosts) == 0 {
		return nil, "", errors.New("tlsgate: Server.Hosts is empty: name the hosts to serve, such as api.example.com")
	}
	if s.Handler == nil {
		return nil, "", errors.New("tlsgate: Server.Handler is nil")
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return nil, "", errors.New("tlsgate: Server.CertFile and KeyFile go together")
	}
	site := config.Site{
		Hosts:   s.Hosts,
		Default: true, // the only site: clients without SNI get it too
		Handler: s.Handler,
		TLS:     config.SiteTLS{Profile: string(s.Profile)},
		ClientAuth: config.ClientAuth{CA: s.ClientCAs.Files, InternalCA: s.ClientCAs.LocalCA,
			CRL: s.ClientCAs.CRLFiles},
	}
	local := localHosts(s.Hosts)
	switch {
	case s.CertFile != "":
		site.TLS.Certificate = config.Certificate{Source: config.SourceFiles, Cert: s.CertFile, Key: s.KeyFile}
	case len(local) == len(s.Hosts):
		site.TLS.Certificate.Source = config.SourceInternal
	case len(local) > 0:
		return nil, "", fmt.Errorf("tlsgate: Server.Hosts mixes public names with %s, which no ACME CA certifies: serve them from a second Server, or give CertFile and KeyFile", strings.Join(local, ", "))
	default:
		site.TLS.Certificate.Source = config.SourceACME
	}
	addr, httpAddr := s.Addr, s.HTTPAddr
	if onlyLoopback(s.Hosts) {
		// Names that resolve to this machine only: do not serve them to
		// the network (a client without SNI reaches the site by IP).
		if addr == "" {
			addr = "127.0.0.1:443"
		}
		if httpAddr == "" {
			httpAddr = "127.0.0.1:80"
		}
	}
	cfg := &config.Config{
		DataDir: s.DataDir,
		Listen:  config.Listen{HTTPS: addr, HTTP: httpAddr},
		Admin:   config.Admin{Listen: s.AdminAddr},
		Sites:   []config.Site{site},
		ACME:    config.ACME{Email: s.ACME.Email, Directory: s.ACME.Directory, CARoots: s.ACME.CARootFiles},
	}
	cfg.Timeouts.Shutdown = s.ShutdownTimeout
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, "", fieldError(err)
	}
	return cfg, "", nil
}

// fieldNames translate the config keys of the config a Server's fields
// make into the fields, so that an error names what the caller set.
var fieldNames = strings.NewReplacer(
	"sites[0].tls.certificate.acme.", "Server.ACME.",
	"sites[0].tls.certificate.cert", "Server.CertFile",
	"sites[0].tls.certificate.key", "Server.KeyFile",
	"sites[0].tls.certificate", "Server.CertFile",
	"sites[0].tls.profile", "Server.Profile",
	"sites[0].client_auth.ca", "Server.ClientCAs.Files",
	"sites[0].client_auth.crl", "Server.ClientCAs.CRLFiles",
	"sites[0].client_auth.internal_ca", "Server.ClientCAs.LocalCA",
	"sites[0].client_auth", "Server.ClientCAs",
	"sites[0].hosts", "Server.Hosts",
	"listen.https", "Server.Addr",
	"listen.http", "Server.HTTPAddr",
	"admin.listen", "Server.AdminAddr",
	"timeouts.shutdown", "Server.ShutdownTimeout",
	"acme.ca_roots", "Server.ACME.CARootFiles",
	"acme.directory", "Server.ACME.Directory",
	"acme.email", "Server.ACME.Email",
	"data_dir", "Server.DataDir",
)

// fieldError is err with the config's keys named as Server fields.
func fieldError(err error) error {
	return errors.New("tlsgate: " + fieldNames.Replace(err.Error()))
}

// localHosts returns the hosts no public CA certifies: IP addresses,
// localhost and names under .localhost.
func localHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		n := config.NormalizeHost(h)
		if _, err := netip.ParseAddr(n); err == nil || loopback.Name(n) {
			out = append(out, h)
		}
	}
	return out
}

// onlyLoopback reports whether every host is this machine's: localhost,
// a name under .localhost or a loopback address.
func onlyLoopback(hosts []string) bool {
	for _, h := range hosts {
		if n := config.NormalizeHost(h); !loopback.Host(n) && !loopback.Name(n) {
			return false
		}
	}
	return true
}
