// Package config defines tlsgate's configuration file. The Config struct and
// its doc comments are the configuration reference: every key, its default,
// and what it means for security.
//
// Load decodes YAML strictly (unknown keys and wrong types are errors) and
// remembers where every value stood, so that Validate and later stages can
// report problems as "tlsgate.yaml:14:7: sites[0].routes[2].upstreams[0]: ...".
//
// It owns the file's syntax and per-key validity, nothing that needs a
// file's content beyond the config itself: reading certificates, CA
// bundles and OpenAPI documents is package plan's. It imports only the
// leaves that own facts it spells (tlspolicy's profile names, mtls's
// client-auth modes, ca's host rules, loopback) and must not import plan,
// server, proxy or anything that pulls in certmagic, etcd or Prometheus.
package config

import (
	"net/http"
	"time"

	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// Config is a whole tlsgate configuration. The zero value is not usable:
// call Load, or build one in code and call Defaults and Validate.
type Config struct {
	// DataDir holds state tlsgate creates: the internal CA and, later, ACME
	// accounts and certificates. Empty means the default data dir
	// ($TLSGATE_DATA_DIR, else $XDG_DATA_HOME/tlsgate, else
	// ~/.local/share/tlsgate). Changes only on restart:
	// a reload keeps the running value and says so.
	DataDir string `yaml:"data_dir"`

	// Listen names the addresses the gateway binds. Changes only on restart:
	// a reload keeps the running value and says so.
	Listen Listen `yaml:"listen"`

	// Sites are the hostnames served, each with its certificate, TLS profile
	// and routes. A TLS client is given the site whose hosts match its SNI.
	Sites []Site `yaml:"sites"`

	// TrustedProxies lists IP addresses or CIDR ranges of load balancers in
	// front of tlsgate. Only from these peers are X-Forwarded-For and
	// X-Request-ID kept and extended; from anyone else they are replaced,
	// because a client could otherwise spoof its address. Empty: trust nobody.
	TrustedProxies []string `yaml:"trusted_proxies"`

	// Timeouts bound how long a slow client or upstream can hold resources.
	Timeouts Timeouts `yaml:"timeouts"`

	// Limits bound request sizes.
	Limits Limits `yaml:"limits"`

	// Log controls logging.
	Log Log `yaml:"log"`

	// Admin is the admin listener: Prometheus metrics and the status page. Changes only on restart:
	// a reload keeps the running value and says so.
	Admin Admin `yaml:"admin"`

	// Storage is where state shared by a fleet of gateways lives: ACME
	// accounts, certificates, challenge tokens, issuance locks and
	// session-ticket keys. Default: data_dir (one gateway). With etcd,
	// every gateway using the same etcd and prefix shares them. Changes only on restart:
	// a reload keeps the running value and says so.
	Storage Storage `yaml:"storage"`

	// ACME holds defaults for every site whose certificate source is acme
	// (typically the account email, and the CA when it is not Let's
	// Encrypt). A site's own certificate.acme overrides them key by key.
	ACME ACME `yaml:"acme"`

	// CA configures the internal CA (DATA_DIR/ca): what the certificates
	// it issues say about revocation, and whether the gateway publishes its
	// CRL.
	CA CA `yaml:"ca"`

	// ECH is Encrypted Client Hello on the HTTPS listener: keys, their
	// rotation and publication in DNS.
	ECH ECH `yaml:"ech"`

	src *source // where values were read from; nil for configs built in code
}

// Listen holds the listener addresses.
type Listen struct {
	// HTTPS is the TLS listener, "host:port". Default ":443".
	HTTPS string `yaml:"https"`
	// HTTP is the plain-HTTP listener that only redirects to HTTPS (and will
	// answer ACME http-01 challenges). "off" disables it. Default ":80".
	HTTP string `yaml:"http"`
	// HTTP3 serves HTTP/3 (QUIC, RFC 9114) on UDP at listen.https's
	// address and port, beside the TCP listener, and advertises it on
	// every HTTPS response (Alt-Svc). "on" (the default) or "off". It
	// serves the same sites, certificates, routes, client-certificate
	// checks and headers as TCP, with TLS 1.3 only and without 0-RTT
	// (early data is replayable, so it never reaches an upstream). Open
	// the UDP port in the firewall as well as the TCP one. Changes only
	// on restart, as the rest of listen.
	HTTP3 string `yaml:"http3"`
	// HTTP3Port is the UDP port the Alt-Svc header names, when clients
	// reach HTTP/3 on another port than the one the gateway listens on
	// (a load balancer or NAT mapping UDP 443 to 8443): as Traefik's
	// http3.advertisedPort. Default 0: listen.https's port. It names a
	// port only: clients use it on the host they connected to.
	HTTP3Port int `yaml:"http3_advertised_port"`
}

// HTTP3Enabled reports whether the HTTP/3 listener is on.
func (l Listen) HTTP3Enabled() bool { return l.HTTP3 != ListenOff }

// ListenOn is the value of Listen.HTTP3 that enables it (the default).
const ListenOn = "on"

// CA configures the internal CA. The zero value adds no CRL distribution
// point to certificates and publishes nothing.
type CA struct {
	// CRLURL is the CRL distribution point (an http:// URL) put into every
	// certificate the internal CA issues from now on, server and client,
	// so that relying parties that check revocation (Windows, Java,
	// openssl -crl_download, testssl's "CRL or OCSP URI") know where its
	// CRL is. Certificates issued before keep what they carry. The value
	// is also recorded in DATA_DIR/ca/crl-url, so that 'tlsgate ca issue'
	// puts in the same URL; empty leaves that file as it is (see 'tlsgate
	// ca crl --crl-url'). Not https: a client would need the CRL to trust
	// the server that gives it.
	CRLURL string `yaml:"crl_url"`
	// ServeCRL makes the plain-HTTP listener (listen.http, which must be
	// on) answer GET and HEAD for crl_url's path with the internal CA's
	// current CRL, DER-encoded, as application/pkix-crl, whatever the Host
	// header (the CRL is public and signed). The gateway signs a fresh CRL
	// when the one on disk is past half its validity, so the list served
	// never expires while the gateway runs. Every other request to that
	// listener is answered as before (redirects to HTTPS). Requires
	// crl_url; the URL's host and port must reach listen.http.
	ServeCRL bool `yaml:"serve_crl"`
}

// ECH configures Encrypted Client Hello (draft-ietf-tls-esni) on the
// HTTPS listener. A client that found the gateway's ECHConfigList in the
// DNS HTTPS record of a name encrypts its real ClientHello (server name,
// ALPN) under the gateway's key and sends it inside an outer hello naming
// only PublicName: on-path observers see every connection go to the
// public name. The keys belong to the listener, not to a site: the
// gateway decrypts the hello before it knows the site. The site is then
// chosen by the inner server name, with that site's certificate,
// client-auth policy and session tickets, exactly as without ECH.
//
// ECH needs TLS 1.3: a client offering ECH never negotiates 1.2, and
// clients without the HTTPS record (or without ECH) connect as before.
//
// Keys are X25519 HPKE keys, kept in DATA_DIR/ech-keys.json (mode 0600),
// or with storage.etcd in etcd, encrypted like the session-ticket keys
// and rotated by one elected gateway, so every gateway of the fleet
// decrypts every client's hello. 'tlsgate ech show' prints what to
// publish.
//
// On by default (Enabled unset) when a public name is set or can be
// derived from the sites (see PublicName); off otherwise, which
// 'tlsgate config validate' does not treat as an error. Changes on
// reload, except storage (a restart).
type ECH struct {
	// Enabled turns ECH off with false. Unset or true: on when there is a
	// public name; true without one is an error.
	Enabled *bool `yaml:"enabled"`
	// PublicName is the outer server name: a DNS name of two labels or
	// more (clients refuse "localhost" or an IP address) that one of the
	// sites lists among its hosts, so that the gateway has a certificate
	// for it. A client whose config is stale (its key was retired) is
	// answered under this name with the current config and retries (the
	// "retry configs" of the draft); without such a certificate it could
	// not. Default: the first host of the default site, else of the first
	// site, that is such a name (not a wildcard, IP address or single
	// label); none there leaves ECH off. Every connection's outer SNI
	// shows it in clear: pick a name that says nothing about which site a
	// client wants, such as ech.example.com, listed in a site of its own
	// or with the others.
	PublicName string `yaml:"public_name"`
	// Rotate is how long a key stays current (published and sent as retry
	// config). Default 24h; at least 1m.
	Rotate time.Duration `yaml:"rotate"`
	// Grace is how long a key still decrypts after the next one replaced
	// it, for clients holding the old HTTPS record: set it above the
	// record's TTL plus the time resolvers and clients keep it. A client
	// past it is sent the current config and retries once, a round trip
	// more. Default 48h.
	Grace time.Duration `yaml:"grace"`
	// Publish, when set, keeps the HTTPS records of Names current: at
	// start and after every rotation the gateway replaces each name's
	// HTTPS record set by DNS UPDATE through acme.dns (which must be
	// rfc2136), with one record "1 . alpn=h3,h2,http/1.1 ech=<current
	// config list>" (h3 while listen.http3 is on). With ECH turned off
	// (enabled: false) the records are rewritten without ech=. The TSIG
	// key's ACL must allow HTTPS records of these names. Without it,
	// publish what 'tlsgate ech show' prints.
	Publish *ECHPublish `yaml:"publish"`
}

// ECHPublish names the DNS HTTPS records the gateway keeps current.
type ECHPublish struct {
	// Names are the owner names of the HTTPS records, such as
	// api.example.com: the names clients connect to. Their whole HTTPS
	// record set is replaced. Required.
	Names []string `yaml:"names"`
	// Zone is the zone the names are in, such as example.com: the zone of
	// the DNS UPDATE. Required.
	Zone string `yaml:"zone"`
	// TTL of the records. Default 5m; keep it well under ech.grace.
	TTL time.Duration `yaml:"ttl"`
	// Port, when set, adds port=PORT to the record, for a gateway that
	// clients reach on a port other than 443.
	Port int `yaml:"port"`
}

// Default ECH settings.
const (
	DefaultECHRotate     = 24 * time.Hour
	DefaultECHGrace      = 48 * time.Hour
	DefaultECHPublishTTL = 5 * time.Minute
)

// Admin configures the admin listener, which serves Prometheus metrics at
// /metrics and a status page at / (certificates and their expiry, the
// handshake mix, client-certificate failures, upstream health). It has no
// authentication and shows no secrets; still, keep it off the internet.
type Admin struct {
	// Listen is "host:port" (e.g. "127.0.0.1:9180"), or "off" (the
	// default). Metrics are only collected when it is on.
	Listen string `yaml:"listen"`
	// AllowRemote permits an address other than loopback. Without it such
	// an address is refused, so metrics are never exposed by mistake.
	AllowRemote bool `yaml:"allow_remote"`
	// Hosts are the names, besides IP addresses and localhost (and names
	// under .localhost), by which clients may reach the admin listener,
	// such as the DNS name Prometheus scrapes: [gw1.internal]. A request
	// whose Host header is any other name gets 421 Misdirected Request on
	// every path, metrics and /healthz included. This stops DNS rebinding:
	// a web page open in a browser on a machine that can reach the
	// listener re-points its own name at the listener's address and reads
	// what it answers, with the page's name in Host. Names are compared
	// case-insensitively, without a trailing dot or port. Empty (the
	// default): IP addresses and localhost only.
	Hosts []string `yaml:"hosts"`
}

// Storage selects the shared-state backend.
type Storage struct {
	// Etcd, when set, keeps shared state in an etcd cluster (v3 API).
	Etcd *Etcd `yaml:"etcd"`
}

// Etcd configures cluster storage on etcd.
type Etcd struct {
	// Endpoints are the members' client URLs, e.g.
	// https://10.0.0.1:2379. Required.
	Endpoints []string `yaml:"endpoints"`
	// Prefix is prepended to every key tlsgate writes. Default "/tlsgate/".
	// Fleets sharing one etcd keep apart by prefix.
	Prefix string `yaml:"prefix"`
	// TLS secures the connection to etcd: the CA that signed the members'
	// certificates, and a client certificate when etcd requires one.
	TLS EtcdTLS `yaml:"tls"`
	// Username and PasswordFile authenticate to etcd when it has auth on.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// EncryptionKeyFile holds the key (32 random bytes, base64; make one
	// with 'head -c 32 /dev/urandom | base64') that encrypts every value
	// tlsgate stores (AES-256-GCM), so private keys are never in etcd in
	// clear. Every gateway of the fleet needs the same file. Required.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// TicketRotation is how often the fleet's session-ticket key rotates
	// (three are kept, so a ticket resumes for up to two rotations).
	// Default 12h.
	TicketRotation time.Duration `yaml:"ticket_rotation"`
	// Node names this gateway in 'tlsgate cluster status'. Default: the
	// host name and the HTTPS port.
	Node string `yaml:"node"`
}

// EtcdTLS holds the client TLS files for etcd.
type EtcdTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Default etcd settings.
const (
	DefaultEtcdPrefix     = "/tlsgate/"
	DefaultTicketRotation = 12 * time.Hour
)

// Enabled reports whether the admin listener is on.
func (a Admin) Enabled() bool { return a.Listen != "" && a.Listen != ListenOff }

// DefaultAdmin is the address the docs and `tlsgate demo` use.
const DefaultAdmin = "127.0.0.1:9180"

// ListenOff is the value of Listen.HTTP that disables the redirect listener.
const ListenOff = "off"

// Site is one or more hostnames served with one certificate and route table.
type Site struct {
	// Hosts are the names this site answers to: DNS names, "*.example.com"
	// wildcards (one label) or IP addresses. Required. A name may belong to
	// one site only. A site with acme on_demand may also list "*": every
	// SNI name no other site lists (see OnDemand).
	Hosts []string `yaml:"hosts"`

	// Default makes this site answer TLS clients that send no SNI and whose
	// destination IP is not one of any site's hosts. At most one site may be
	// the default. Off by default: such clients get an "unrecognized name"
	// alert. Their requests' Host must be an IP address or one of the
	// site's hosts; any other name gets 421, as with SNI, so a client
	// cannot hand the upstream a host name of its choosing.
	Default bool `yaml:"default"`

	// TLS selects the protocol profile and the certificate.
	TLS SiteTLS `yaml:"tls"`

	// HSTS configures the Strict-Transport-Security header sent on every
	// HTTPS response of this site.
	HSTS HSTS `yaml:"hsts"`

	// Routes map path prefixes to upstreams. The longest matching prefix wins.
	Routes []Route `yaml:"routes"`

	// RoutesFrom derives more routes from an OpenAPI document: one per
	// path (under the servers' base path), requiring a client certificate
	// where the operations' security requirements name a mutualTLS
	// scheme. A document with error-level findings of 'tlsgate lint' is
	// refused. 'tlsgate config explain' prints the derived routes.
	RoutesFrom *RoutesFrom `yaml:"routes_from"`

	// ClientAuth lists the CAs whose client certificates this site trusts.
	// When set, the TLS handshake asks clients for a certificate, and each
	// route's client_auth decides at request time what it needs.
	ClientAuth ClientAuth `yaml:"client_auth"`

	// IdentityHeaders renames the headers that carry the verified client
	// identity to upstreams. Whatever the names, copies sent by clients are
	// always removed, on every route.
	IdentityHeaders IdentityHeaders `yaml:"identity_headers"`

	// Handler is not a config key: the Go API (package tlsgate) sets it to
	// serve the site in-process. A site with a Handler needs no routes;
	// with routes as well, the handler answers what no route matches.
	Handler http.Handler `yaml:"-"`
}

// RoutesFrom names an OpenAPI document and where its routes go.
type RoutesFrom struct {
	// OpenAPI is the document (YAML or JSON; OpenAPI 2.0, 3.0 or 3.1),
	// relative to the config file's directory. Required.
	OpenAPI string `yaml:"openapi"`
	// Upstreams receive the derived routes' requests. Required.
	Upstreams []string `yaml:"upstreams"`
	// UpstreamTLS configures https upstreams, as a route's.
	UpstreamTLS UpstreamTLS `yaml:"upstream_tls"`
}

// ClientAuth is a site's trust for client certificates (mutual TLS).
type ClientAuth struct {
	// CA lists PEM bundles of CAs that issue client certificates.
	CA []string `yaml:"ca"`
	// InternalCA trusts the internal CA (`tlsgate ca`) and applies its CRL
	// (DATA_DIR/ca/crl.pem, created empty if missing).
	InternalCA bool `yaml:"internal_ca"`
	// CRL lists certificate revocation lists (PEM or DER), each signed by one
	// of the trusted CAs or by an intermediate under one (the crl.pem of
	// `tlsgate ca crl`, signed by the internal CA's intermediate, goes with
	// its root.pem in ca). Every certificate of the client's chain is
	// checked, not only the leaf: a root's CRL that revokes an intermediate
	// refuses what the intermediate issued. A CRL in the name of a CA of ca
	// that this CA did not sign refuses to load; one from an intermediate
	// that ca does not list is checked against the intermediate clients
	// present, and never applied to a chain it does not verify against.
	// They are re-read when they change; a revoked certificate is refused
	// from the next request on.
	CRL []string `yaml:"crl"`
}

// IsZero reports whether no client CA is configured.
func (c ClientAuth) IsZero() bool { return len(c.CA) == 0 && !c.InternalCA && len(c.CRL) == 0 }

// IdentityHeaders names the identity headers; empty fields keep the
// defaults shown.
type IdentityHeaders struct {
	Verify      string `yaml:"verify"`      // X-Client-Verify: SUCCESS, NONE or FAILED:reason
	DN          string `yaml:"dn"`          // X-Client-DN: the subject, RFC 4514
	SANURI      string `yaml:"san_uri"`     // X-Client-SAN-URI
	SANDNS      string `yaml:"san_dns"`     // X-Client-SAN-DNS
	Cert        string `yaml:"cert"`        // X-Client-Cert: URL-encoded PEM, as nginx's $ssl_client_escaped_cert
	Fingerprint string `yaml:"fingerprint"` // X-Client-Fingerprint: SHA-256, hex
}

// SiteTLS is a site's TLS settings.
type SiteTLS struct {
	// Profile is "intermediate" (TLS 1.2 and 1.3, ECDHE key exchange with
	// AEAD ciphers only: Mozilla's intermediate list; the default) or
	// "modern" (TLS 1.3 only). Nothing weaker exists: TLS 1.0 and 1.1
	// cannot be enabled.
	Profile string `yaml:"profile"`

	// Certificate says where the site's certificate comes from.
	Certificate Certificate `yaml:"certificate"`
}

// TLS profile names, as the config spells them. Package tlspolicy owns
// them and says what each allows.
const (
	ProfileIntermediate = string(tlspolicy.Intermediate)
	ProfileModern       = string(tlspolicy.Modern)
)

// Certificate is a certificate source.
type Certificate struct {
	// Source is "files" (Cert and Key, reloaded when they change),
	// "internal" (issued and renewed by the local CA in DataDir; for
	// development and internal services) or "acme" (obtained and renewed
	// from an ACME CA such as Let's Encrypt, stored in DataDir/acme).
	// Default: "files" when Cert or Key is set, "acme" when ACME is,
	// else "internal".
	Source string `yaml:"source"`
	// Cert is the PEM certificate chain, leaf first (fullchain.pem).
	Cert string `yaml:"cert"`
	// Key is the PEM private key. It must not be readable by other users.
	Key string `yaml:"key"`
	// ACME configures source acme; keys left out take the top-level acme:
	// values, then the defaults.
	ACME ACME `yaml:"acme"`
}

// Certificate sources.
const (
	SourceFiles    = "files"
	SourceInternal = "internal"
	SourceACME     = "acme"
)

// ACME says which ACME CA (RFC 8555) issues a site's certificates and how
// it may check that we control the names. Every certificate is renewed
// automatically: when the CA's renewal information (ARI) says so, else
// when a third of its lifetime is left. A failed renewal is retried with
// back-off while the current certificate keeps serving.
//
// A site's hosts may include IP addresses (RFC 8738): the certificate then
// has an IP address SAN, validated by http-01 (http://ADDRESS/ on port 80)
// or tls-alpn-01 (port 443), never dns-01. Clients that connect to an
// address send no SNI; the gateway answers them with the certificate of
// the address they connected to. CAs that issue IP certificates usually do
// so only under a short-lived profile: Let's Encrypt only under
// "shortlived" (6 days, renewed with about 2 days left), and only for
// public addresses; Validate refuses other IP hosts for its directories.
type ACME struct {
	// Directory is the CA's directory URL (https). Default Let's Encrypt
	// production, https://acme-v02.api.letsencrypt.org/directory. Try a
	// new setup on staging first:
	// https://acme-staging-v02.api.letsencrypt.org/directory (untrusted
	// certificates, much higher rate limits).
	Directory string `yaml:"directory"`
	// Email is the account's contact address: the CA writes to it about
	// problems with the account or its certificates. Recommended.
	Email string `yaml:"email"`
	// EAB is the External Account Binding some CAs require (ZeroSSL,
	// Google Trust Services, many private CAs).
	EAB EAB `yaml:"eab"`
	// CARoots lists PEM files of the roots that sign the CA's own HTTPS
	// API certificate, for private CAs (step-ca, Pebble). When set they
	// replace the system roots for talking to the CA.
	CARoots []string `yaml:"ca_roots"`
	// KeyType of the certificate's key: ecdsa-p256 (default), ecdsa-p384,
	// rsa-2048 or rsa-4096.
	KeyType string `yaml:"key_type"`
	// Challenges the CA may use to validate the names: http-01 (answered
	// on listen.http, which must be reachable as port 80 of every name)
	// and tls-alpn-01 (answered on listen.https, reachable as port 443).
	// Default: both, or tls-alpn-01 alone when listen.http is off.
	// dns-01 publishes a TXT record through the dns: provider; it is the
	// only challenge for wildcard names (*.example.com) and needs no
	// listener reachable from the CA. When dns-01 is listed it is the
	// only one used: the others are ignored.
	Challenges []string `yaml:"challenges"`
	// Profile asks the CA for a certificate profile, e.g. Let's Encrypt's
	// "shortlived" (6-day certificates; required for IP addresses) or
	// "tlsserver". Every order names it, renewals included, so each
	// certificate has the profile's lifetime. Default: the CA's (a CA
	// may pick any of its profiles for an order that names none).
	Profile string `yaml:"profile"`
	// DNS is how dns-01 publishes its TXT records. A site's dns: block
	// replaces the top-level one as a whole.
	DNS DNSProvider `yaml:"dns"`
	// OnDemand, in a site's acme: block only (it is not inherited from
	// the top-level acme:), obtains each name's certificate during the
	// first TLS handshake that asks for it, instead of at start-up: for
	// names not known in advance, such as customers' own domains pointed
	// at the gateway. See OnDemand. Off (nil) by default.
	OnDemand *OnDemand `yaml:"on_demand"`
}

// DNSProvider says how the dns-01 challenge writes
// _acme-challenge.<domain> TXT records, and where it checks that they are
// visible before asking the CA to look.
type DNSProvider struct {
	// Provider is "rfc2136" (DNS UPDATE signed with a TSIG key, sent to
	// Server: BIND, Knot, PowerDNS, Windows DNS) or "exec" (Command is run
	// for each record). Required with dns-01.
	Provider string `yaml:"provider"`
	// Server is the zone's primary, host:port (port 53 if left out), that
	// accepts the updates. rfc2136 only; required.
	Server string `yaml:"server"`
	// KeyName is the TSIG key's name as the server knows it, such as
	// "acme-update.". rfc2136 only; required.
	KeyName string `yaml:"key_name"`
	// KeyAlgorithm is the TSIG algorithm: hmac-sha256 (default),
	// hmac-sha1, hmac-sha224, hmac-sha384 or hmac-sha512. rfc2136 only.
	KeyAlgorithm string `yaml:"key_algorithm"`
	// KeyFile holds the TSIG key's base64 secret (the secret: value of
	// tsig-keygen's or keymgr's output), so it stays out of the config.
	// Whoever reads it can change the zone as far as the server's ACL for
	// the key allows: limit that ACL to _acme-challenge names and keep the
	// file readable by tlsgate alone. rfc2136 only; required.
	KeyFile string `yaml:"key_file"`
	// Command is run without a shell as COMMAND... present FQDN VALUE to
	// add a record and COMMAND... cleanup FQDN VALUE to remove it (lego's
	// exec provider convention; FQDN ends with a dot), with tlsgate's
	// environment. Exit status 0 means done; its standard error goes into
	// the error otherwise. exec only; required.
	Command []string `yaml:"command"`
	// Resolvers are DNS servers (host:port) asked to find the zone and to
	// check that the record is visible before the CA is told to look.
	// Default: the system's resolvers to find the zone, then the zone's
	// own name servers (its NS records, port 53). Set it for a hidden
	// primary or split-horizon DNS, e.g. to the primary itself.
	Resolvers []string `yaml:"resolvers"`
	// PropagationTimeout bounds the wait for the record to be visible on
	// every checked server. Default 2m.
	PropagationTimeout time.Duration `yaml:"propagation_timeout"`
}

// IsZero reports whether nothing is set.
func (d DNSProvider) IsZero() bool {
	return d.Provider == "" && d.Server == "" && d.KeyName == "" && d.KeyAlgorithm == "" && d.KeyFile == "" &&
		len(d.Command) == 0 && len(d.Resolvers) == 0 && d.PropagationTimeout == 0
}

// DNS provider names: the provider values.
const (
	DNSProviderRFC2136 = "rfc2136"
	DNSProviderExec    = "exec"
)

// DNSProviders are the accepted provider values.
var DNSProviders = []string{DNSProviderRFC2136, DNSProviderExec}

// TSIGAlgorithms are the accepted key_algorithm values; the first is the
// default.
var TSIGAlgorithms = []string{"hmac-sha256", "hmac-sha1", "hmac-sha224", "hmac-sha384", "hmac-sha512"}

// OnDemand is on-demand TLS, as Caddy's on_demand_tls: the certificate
// of a name is ordered during the first handshake whose SNI names it, once
// the ask endpoint has allowed the name. The handshake waits for the order
// (a few seconds with a healthy CA); a refused name gets a TLS alert
// (internal_error) and no order is made.
//
// Hosts: the site's hosts say which SNI names reach it, as for any site.
// An on-demand site may list "*.customers.example.com" (each name under
// it, one label deep, gets a certificate of its own, not a wildcard
// certificate) and "*", which matches every SNI name that no other site
// lists: the catch-all site Caddy users know. At most one site may have
// "*"; clients that send no SNI never reach it (it cannot be the default).
//
// Which names get certificates is the ask endpoint's decision, never
// the client's: without one, anyone who points a DNS name at the gateway
// could have it order certificates until the CA's rate limits stop every
// site. A name is decided in this order: a refusal remembered from the
// ask endpoint (refusal_cache) refuses; a name whose last order failed
// is refused until its back-off ends; then the ask endpoint is asked;
// then a new order must fit under rate and max_concurrent.
//
// Names already held (a certificate in storage, from this or another
// gateway of the fleet) are served without rate or concurrency limits
// and keep being served when the ask endpoint is down or unreachable; a
// held name is asked again when it is first loaded after a start and
// before each renewal (certmagic renews on-demand certificates from a
// handshake, when due), and a definite "no" (non-2xx, but not 5xx or
// 429) stops serving it.
type OnDemand struct {
	// Ask is an http:// or https:// URL the gateway GETs with
	// ?domain=NAME added (as Caddy does) before ordering a certificate
	// for NAME. A 2xx answer allows the name; any other status refuses
	// it, and so do a connection error, a timeout, a 5xx and a 429 (fail
	// closed). These last four are the endpoint failing, not a "no": they
	// are not remembered, and a held name stays served through them.
	// Required.
	Ask string `yaml:"ask"`
	// AskTimeout bounds one ask request. Default 3s.
	AskTimeout time.Duration `yaml:"ask_timeout"`
	// Rate bounds new orders: at most Orders in any window of Per (a
	// sliding window), across the site. A name allowed by the ask
	// endpoint beyond it is refused (not remembered: the next handshake
	// may find room). Default 10 per 1m.
	Rate OnDemandRate `yaml:"rate"`
	// MaxConcurrent caps the orders in flight at once for the site;
	// handshakes for more new names are refused meanwhile. Default 4.
	MaxConcurrent int `yaml:"max_concurrent"`
	// RefusalCache is how long the ask endpoint's "no" for a name is
	// remembered: handshakes for it are refused without asking again.
	// Default 1m. Errors of the ask endpoint are not remembered.
	RefusalCache time.Duration `yaml:"refusal_cache"`
	// Backoff spaces the orders of a name whose order failed (the CA
	// could not validate it, say): no new order for it before Initial
	// has passed, doubling after each further failure up to Max.
	Backoff OnDemandBackoff `yaml:"backoff"`
}

// OnDemandRate is a number of orders per interval.
type OnDemandRate struct {
	// Orders allowed per interval. Default 10.
	Orders int `yaml:"orders"`
	// Per is the interval (a sliding window). Default 1m.
	Per time.Duration `yaml:"per"`
}

// OnDemandBackoff is the per-name back-off after a failed order.
type OnDemandBackoff struct {
	// Initial is the wait after the first failure. Default 1m.
	Initial time.Duration `yaml:"initial"`
	// Max is the longest wait. Default 1h.
	Max time.Duration `yaml:"max"`
}

// Default on-demand settings, and why. 10 orders a minute lets a handful
// of new customers through at once yet caps a flood at 600 orders an hour;
// Let's Encrypt allows an account 300 new orders per 3 hours, so a gateway
// that expects steady growth should set a lower sustained rate (e.g. 90
// per 1h). 4 orders in flight keep a burst of handshakes from holding
// many goroutines that each wait on the CA. A 3 s ask keeps the first
// handshake inside clients' usual 10 s handshake timeout. A 1 m refusal
// cache and back-off start absorb floods yet let an operator's fix take
// effect within a minute; back-off stops at 1 h so a name fixed later is
// retried the same day.
const (
	DefaultOnDemandOrders        = 10
	DefaultOnDemandPer           = time.Minute
	DefaultOnDemandMaxConcurrent = 4
	DefaultOnDemandAskTimeout    = 3 * time.Second
	DefaultOnDemandRefusalCache  = time.Minute
	DefaultOnDemandBackoff       = time.Minute
	DefaultOnDemandBackoffMax    = time.Hour
)

// Defaults fills o's unset fields.
func (o *OnDemand) Defaults() {
	setDur(&o.AskTimeout, DefaultOnDemandAskTimeout)
	setDur(&o.RefusalCache, DefaultOnDemandRefusalCache)
	setDur(&o.Rate.Per, DefaultOnDemandPer)
	setDur(&o.Backoff.Initial, DefaultOnDemandBackoff)
	setDur(&o.Backoff.Max, DefaultOnDemandBackoffMax)
	if o.Rate.Orders == 0 {
		o.Rate.Orders = DefaultOnDemandOrders
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = DefaultOnDemandMaxConcurrent
	}
}

// CatchAll is the host of an on-demand site that matches every SNI name
// no other site lists.
const CatchAll = "*"

// EAB is an External Account Binding: a key ID and HMAC key from the CA.
type EAB struct {
	KeyID string `yaml:"key_id"`
	// MACKeyFile holds the base64url HMAC key, so the secret stays out of
	// the config.
	MACKeyFile string `yaml:"mac_key_file"`
}

// IsZero reports whether nothing is set.
func (a ACME) IsZero() bool {
	return a.Directory == "" && a.Email == "" && a.EAB == (EAB{}) && len(a.CARoots) == 0 &&
		a.KeyType == "" && len(a.Challenges) == 0 && a.Profile == "" && a.DNS.IsZero() && a.OnDemand == nil
}

// ACME challenge types (RFC 8555 section 8). Package acme solves them
// under these names.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
	ChallengeDNS01     = "dns-01"
	// DefaultACMEDirectory is Let's Encrypt production.
	DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
	// LetsEncryptShortLived is Let's Encrypt's profile of 6-day
	// certificates, the only one under which it certifies IP addresses.
	LetsEncryptShortLived = "shortlived"
)

// ACME key types: the key_type values. Package acme maps each to the key
// it generates; these are the only names for them.
const (
	ACMEKeyECDSAP256 = "ecdsa-p256"
	ACMEKeyECDSAP384 = "ecdsa-p384"
	ACMEKeyRSA2048   = "rsa-2048"
	ACMEKeyRSA4096   = "rsa-4096"
	// DefaultACMEKeyType is P-256: every client verifies it, and its
	// handshakes are cheaper than RSA's.
	DefaultACMEKeyType = ACMEKeyECDSAP256
)

// ACMEKeyTypes are the accepted key_type values.
var ACMEKeyTypes = []string{ACMEKeyECDSAP256, ACMEKeyECDSAP384, ACMEKeyRSA2048, ACMEKeyRSA4096}

// SiteACME returns site i's ACME settings: its own keys, then the
// top-level acme: keys, then the defaults.
func (c *Config) SiteACME(i int) ACME {
	a := c.Sites[i].TLS.Certificate.ACME
	g := c.ACME
	if a.Directory == "" {
		a.Directory = g.Directory
	}
	if a.Email == "" {
		a.Email = g.Email
	}
	if a.EAB == (EAB{}) {
		a.EAB = g.EAB
	}
	if len(a.CARoots) == 0 {
		a.CARoots = g.CARoots
	}
	if a.KeyType == "" {
		a.KeyType = g.KeyType
	}
	if len(a.Challenges) == 0 {
		a.Challenges = g.Challenges
	}
	if a.Profile == "" {
		a.Profile = g.Profile
	}
	if a.DNS.IsZero() {
		a.DNS = g.DNS
	}
	if a.Directory == "" {
		a.Directory = DefaultACMEDirectory
	}
	if a.KeyType == "" {
		a.KeyType = DefaultACMEKeyType
	}
	if len(a.Challenges) == 0 {
		a.Challenges = []string{ChallengeTLSALPN01}
		if c.Listen.HTTP != ListenOff {
			a.Challenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}
		}
	}
	return a
}

// HSTS is the Strict-Transport-Security policy.
type HSTS struct {
	// MaxAge in seconds. Default 31536000 (one year). 0 sends max-age=0,
	// which tells browsers to forget an earlier policy.
	MaxAge *int `yaml:"max_age"`
	// IncludeSubDomains adds includeSubDomains. Default true.
	IncludeSubDomains *bool `yaml:"include_subdomains"`
	// Preload adds preload. Default false: preloading is hard to undo, so it
	// must be chosen. Requires MaxAge >= 31536000 and IncludeSubDomains.
	Preload bool `yaml:"preload"`
}

// Route sends requests under a path prefix to upstreams.
type Route struct {
	// Path is a prefix starting with "/". "/api/" matches /api/ and below;
	// "/api" also matches /api itself. Default "/".
	Path string `yaml:"path"`
	// Upstreams are base URLs (http:// or https://), used round-robin. An
	// upstream that fails to connect is taken out of rotation and retried
	// later with back-off. A path in the URL is prepended to the request path.
	Upstreams []string `yaml:"upstreams"`
	// StripPrefix removes Path from the request path before forwarding.
	StripPrefix bool `yaml:"strip_prefix"`
	// UpstreamTLS configures connections to https:// upstreams.
	UpstreamTLS UpstreamTLS `yaml:"upstream_tls"`
	// ClientAuth is "none" (the default), "optional" (a presented
	// certificate is verified and reported to the upstream) or "require"
	// (only a valid certificate from a CA in the site's client_auth, and on
	// the allow-list if one is given, gets through; others get 403).
	// The values are package mtls's modes (mtls.Mode); the field is a
	// plain string so that a mistyped value reads "expected a string".
	ClientAuth string `yaml:"client_auth"`
	// Allow restricts a require route to some client identities.
	Allow Allow `yaml:"allow"`
}

// Allow is a route's allow-list of client identities. Any match admits;
// an entry ending in "*" matches by prefix (spiffe://example.org/* admits
// a SPIFFE trust domain).
type Allow struct {
	Subjects []string `yaml:"subjects"` // RFC 4514 subjects, e.g. "CN=payments,O=Example"
	DNS      []string `yaml:"dns"`      // DNS SANs
	URIs     []string `yaml:"uris"`     // URI SANs
}

// UpstreamTLS secures the hop from the gateway to an https:// upstream.
// The upstream's certificate is always verified unless InsecureSkipVerify
// is set, which logs a warning at every start.
type UpstreamTLS struct {
	// CA is a PEM bundle of the CAs that sign the upstreams' certificates.
	// Empty means the system roots.
	CA string `yaml:"ca"`
	// ServerName is the name sent as SNI and checked against the upstream's
	// certificate. Empty means the host of the upstream URL.
	ServerName string `yaml:"server_name"`
	// ClientCert and ClientKey are a PEM chain and key the gateway presents
	// to upstreams that require client certificates (mutual TLS).
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
	// InternalClientCert, instead of client_cert/client_key, has the
	// internal CA issue the gateway a client certificate with this name
	// (subject CN, and DNS SAN when it is a DNS name), valid for a day and
	// renewed automatically. A name is letters, digits, '.', '-', '_' and
	// '@', beginning with a letter or digit.
	InternalClientCert string `yaml:"internal_client_cert"`
	// InsecureSkipVerify turns off verification of the upstream's
	// certificate: anyone on the path can then read and change the traffic.
	// For debugging only; a warning is logged at every start.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// IsZero reports whether nothing is configured.
func (u UpstreamTLS) IsZero() bool { return u == UpstreamTLS{} }

// Timeouts; zero values take the defaults shown. A reload applies each to
// new requests, except those marked restart-only (they configure the
// listeners, made once).
type Timeouts struct {
	// ReadHeader bounds the TLS handshake plus reading request headers.
	// Default 10s. Changes only on restart:
	// a reload keeps the running value and says so.
	ReadHeader time.Duration `yaml:"read_header"`
	// BodyRead bounds the wait between two reads of a request body (like
	// nginx's client_body_timeout), so a slow upload may run long but a
	// stalled one is cut. Default 60s.
	BodyRead time.Duration `yaml:"body_read"`
	// Idle is how long a keep-alive connection may wait for its next
	// request. Default 120s. Changes only on restart:
	// a reload keeps the running value and says so.
	Idle time.Duration `yaml:"idle"`
	// UpstreamConnect bounds connecting (and TLS handshake) to an upstream.
	// Default 5s.
	UpstreamConnect time.Duration `yaml:"upstream_connect"`
	// UpstreamResponse bounds the wait for an upstream's response headers;
	// past it the client gets 504. Default 60s.
	UpstreamResponse time.Duration `yaml:"upstream_response"`
	// Send bounds the wait between two successful writes to a client (like
	// nginx's send_timeout): a client that stops reading an answer is
	// disconnected (HTTP/2: its stream is reset) after this long, and the
	// upstream connection serving it is released, instead of both being
	// held for as long as the client likes. A slow client that keeps
	// reading is never cut. Default 60s. Changes only on restart:
	// a reload keeps the running value and says so.
	Send time.Duration `yaml:"send"`
	// Shutdown is how long in-flight requests may take to finish on SIGTERM.
	// Default 30s. A reload applies it.
	Shutdown time.Duration `yaml:"shutdown"`
}

// Limits on request and response sizes.
type Limits struct {
	// MaxHeaderBytes bounds the request line and headers. Default 65536. Changes only on restart:
	// a reload keeps the running value and says so.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxUpstreamHeaderBytes bounds an upstream response's status line and
	// headers (and those of each 1xx answer before it). Past it the
	// upstream connection is closed and the client gets 502 "the upstream
	// sent too big a header", as nginx answers past proxy_buffer_size, so
	// a broken or hostile upstream cannot make the gateway hold an
	// unbounded header in memory. Default 1048576 (1 MiB).
	MaxUpstreamHeaderBytes int `yaml:"max_upstream_header_bytes"`
}

// Log settings.
type Log struct {
	// Format is "json", "text", or "auto" (text on a terminal, else JSON).
	// Default "auto". Changes only on restart:
	// a reload keeps the running value and says so.
	Format string `yaml:"format"`
	// Level is "debug", "info", "warn" or "error". Default "info". Changes only on restart:
	// a reload keeps the running value and says so.
	Level string `yaml:"level"`
	// Access logs one line per request. Default true.
	Access *bool `yaml:"access"`
}

// Default values.
const (
	DefaultHTTPS            = ":443"
	DefaultHTTP             = ":80"
	DefaultHSTSMaxAge       = 31536000
	DefaultReadHeader       = 10 * time.Second
	DefaultBodyRead         = 60 * time.Second
	DefaultIdle             = 120 * time.Second
	DefaultUpstreamConnect  = 5 * time.Second
	DefaultUpstreamResponse = 60 * time.Second
	DefaultSend             = 60 * time.Second // nginx's send_timeout
	DefaultShutdown         = 30 * time.Second
	// 64 KiB of headers is far beyond any legitimate API request and keeps a
	// client from pinning megabytes per connection (Go's default is 1 MiB).
	DefaultMaxHeaderBytes = 64 << 10
	// 1 MiB of upstream response head: nginx's default proxy_buffer_size
	// (4 or 8 KiB) turns away APIs with a few large cookies, CSP or Link
	// headers; Go's http.Transport allows 10 MiB, which is 10 MiB held per
	// in-flight request from one bad upstream. 1 MiB is 16 times the
	// client-side limit and as much as Go's http.Server accepts from a
	// client; a header that size is an upstream bug or an attack.
	DefaultMaxUpstreamHeaderBytes = 1 << 20
)

// Defaults fills every unset field with its default. Load calls it.
func (c *Config) Defaults() {
	if c.Listen.HTTPS == "" {
		c.Listen.HTTPS = DefaultHTTPS
	}
	if c.Listen.HTTP == "" {
		c.Listen.HTTP = DefaultHTTP
	}
	if c.Listen.HTTP3 == "" {
		c.Listen.HTTP3 = ListenOn
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		if s.TLS.Profile == "" {
			s.TLS.Profile = ProfileIntermediate
		}
		if s.TLS.Certificate.Source == "" {
			switch {
			case s.TLS.Certificate.Cert != "" || s.TLS.Certificate.Key != "":
				s.TLS.Certificate.Source = SourceFiles
			case !s.TLS.Certificate.ACME.IsZero():
				s.TLS.Certificate.Source = SourceACME
			default:
				s.TLS.Certificate.Source = SourceInternal
			}
		}
		if od := s.TLS.Certificate.ACME.OnDemand; od != nil {
			od.Defaults()
		}
		if s.HSTS.MaxAge == nil {
			v := DefaultHSTSMaxAge
			s.HSTS.MaxAge = &v
		}
		if s.HSTS.IncludeSubDomains == nil {
			v := true
			s.HSTS.IncludeSubDomains = &v
		}
		for j := range s.Routes {
			if s.Routes[j].Path == "" {
				s.Routes[j].Path = "/"
			}
			if s.Routes[j].ClientAuth == "" {
				s.Routes[j].ClientAuth = string(mtls.None)
			}
		}
	}
	if e := c.Storage.Etcd; e != nil {
		if e.Prefix == "" {
			e.Prefix = DefaultEtcdPrefix
		}
		setDur(&e.TicketRotation, DefaultTicketRotation)
	}
	setDur(&c.ECH.Rotate, DefaultECHRotate)
	setDur(&c.ECH.Grace, DefaultECHGrace)
	if p := c.ECH.Publish; p != nil {
		setDur(&p.TTL, DefaultECHPublishTTL)
	}
	t := &c.Timeouts
	setDur(&t.ReadHeader, DefaultReadHeader)
	setDur(&t.BodyRead, DefaultBodyRead)
	setDur(&t.Idle, DefaultIdle)
	setDur(&t.UpstreamConnect, DefaultUpstreamConnect)
	setDur(&t.UpstreamResponse, DefaultUpstreamResponse)
	setDur(&t.Send, DefaultSend)
	setDur(&t.Shutdown, DefaultShutdown)
	if c.Limits.MaxHeaderBytes == 0 {
		c.Limits.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Limits.MaxUpstreamHeaderBytes == 0 {
		c.Limits.MaxUpstreamHeaderBytes = DefaultMaxUpstreamHeaderBytes
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Access == nil {
		v := true
		c.Log.Access = &v
	}
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// AccessLog reports whether per-request logging is on.
func (c *Config) AccessLog() bool { return c.Log.Access == nil || *c.Log.Access }
