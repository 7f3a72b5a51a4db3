package config

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/loopback"
	"github.com/tlsgate/tlsgate/internal/mtls"
)

// Validate checks the config's own values (not the files it names) and
// returns every problem at once, joined, each an *Error with its place.
// It expects Defaults to have run.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, c.Errorf(path, format, args...))
	}

	if err := checkHostPort(c.Listen.HTTPS); err != nil {
		add("listen.https", "%v", err)
	}
	if c.Listen.HTTP != ListenOff {
		if err := checkHostPort(c.Listen.HTTP); err != nil {
			add("listen.http", "%v (or \"off\" to disable the redirect listener)", err)
		} else if c.Listen.HTTP == c.Listen.HTTPS && !strings.HasSuffix(c.Listen.HTTP, ":0") {
			add("listen.http", "the same address as listen.https: give each listener its own port")
		}
	}

	if p := c.Listen.HTTP3Port; p < 0 || p > 65535 {
		add("listen.http3_advertised_port", "%d is not a port: give the UDP port clients reach HTTP/3 on (1-65535), or 0 for listen.https's", p)
	} else if p != 0 && !c.Listen.HTTP3Enabled() {
		add("listen.http3_advertised_port", "is set but listen.http3 is off: nothing is advertised")
	}
	if c.Listen.HTTP3 != ListenOn && c.Listen.HTTP3 != ListenOff {
		add("listen.http3", "%q: use on or off", c.Listen.HTTP3)
	}

	if c.Admin.Enabled() {
		if err := checkHostPort(c.Admin.Listen); err != nil {
			add("admin.listen", "%v (or \"off\")", err)
		} else if host, _, _ := net.SplitHostPort(c.Admin.Listen); !c.Admin.AllowRemote && !loopback.Host(host) {
			add("admin.listen", "%q is reachable from other machines and the admin listener has no authentication: use %s, or set admin.allow_remote: true behind a firewall", c.Admin.Listen, DefaultAdmin)
		}
	}
	for i, h := range c.Admin.Hosts {
		if err := checkAdminHost(h); err != nil {
			add(fmt.Sprintf("admin.hosts[%d]", i), "%q %v", h, err)
		}
	}

	if e := c.Storage.Etcd; e != nil {
		if len(e.Endpoints) == 0 {
			add("storage.etcd.endpoints", "list the etcd members' client URLs, such as https://10.0.0.1:2379")
		}
		for i, ep := range e.Endpoints {
			u, err := url.Parse(ep)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(fmt.Sprintf("storage.etcd.endpoints[%d]", i), "%q is not an etcd client URL: write it as https://HOST:2379", ep)
			} else if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
				add(fmt.Sprintf("storage.etcd.endpoints[%d]", i), "%q is plain HTTP to another machine: use https and storage.etcd.tls (values are encrypted, but locks and metadata are not)", ep)
			}
		}
		if e.EncryptionKeyFile == "" {
			add("storage.etcd.encryption_key_file", "required: a file with 32 random bytes in base64 (head -c 32 /dev/urandom | base64), the same on every gateway")
		}
		if (e.TLS.Cert == "") != (e.TLS.Key == "") {
			add("storage.etcd.tls", "a client certificate needs both cert and key")
		}
		if (e.Username == "") != (e.PasswordFile == "") {
			add("storage.etcd.username", "etcd authentication needs both username and password_file")
		}
		if e.TicketRotation < time.Second {
			add("storage.etcd.ticket_rotation", "must be at least a second (default 12h)")
		}
		if !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") {
			add("storage.etcd.prefix", "%q: a prefix starts and ends with /, such as /tlsgate/", e.Prefix)
		}
	}

	for i, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an IP address or CIDR range such as 10.0.0.0/8", p)
		}
	}

	if !c.ACME.IsZero() {
		c.validateACME("acme", c.ACME, add)
		if c.ACME.OnDemand != nil {
			add("acme.on_demand", "on-demand TLS is set per site: move it to the site's tls.certificate.acme.on_demand")
		}
	}

	if c.CA.CRLURL != "" {
		if err := ca.CheckCRLURL(c.CA.CRLURL); err != nil {
			add("ca.crl_url", "%v", err)
		} else if u, _ := url.Parse(c.CA.CRLURL); c.CA.ServeCRL && (u.Path == "" || u.Path == "/" || strings.HasPrefix(u.Path, "/.well-known/")) {
			add("ca.crl_url", "%q: to serve the CRL, give it a path of its own, such as /tlsgate.crl (not / nor under /.well-known/)", c.CA.CRLURL)
		}
	}
	if c.CA.ServeCRL {
		if c.CA.CRLURL == "" {
			add("ca.serve_crl", "needs ca.crl_url: the URL certificates name, whose path the HTTP listener answers")
		}
		if c.Listen.HTTP == ListenOff {
			add("ca.serve_crl", "the CRL is served on listen.http, which is off: give it an address (such as :80)")
		}
	}

	if len(c.Sites) == 0 {
		add("sites", "no sites: add at least one site with hosts: and routes: (see examples/)")
	}
	owner := map[string]string{} // host -> path of the site that has it
	defaults := 0
	for i := range c.Sites {
		c.validateSite(i, owner, add)
		if c.Sites[i].Default {
			defaults++
			if defaults > 1 {
				add(fmt.Sprintf("sites[%d].default", i), "only one site may be the default")
			}
		}
	}

	c.validateECH(add)

	t := c.Timeouts
	for _, d := range []struct {
		key string
		neg bool
	}{
		{"read_header", t.ReadHeader < 0}, {"body_read", t.BodyRead < 0}, {"idle", t.Idle < 0},
		{"upstream_connect", t.UpstreamConnect < 0}, {"upstream_response", t.UpstreamResponse < 0},
		{"shutdown", t.Shutdown < 0}, {"send", t.Send < 0},
	} {
		if d.neg {
			add("timeouts."+d.key, "must be positive")
		}
	}
	if c.Limits.MaxHeaderBytes < 4096 {
		add("limits.max_header_bytes", "%d is too small for real clients: use at least 4096", c.Limits.MaxHeaderBytes)
	}
	if c.Limits.MaxUpstreamHeaderBytes < 4096 {
		add("limits.max_upstream_header_bytes", "%d is too small for real upstreams: use at least 4096", c.Limits.MaxUpstreamHeaderBytes)
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		add("log.format", "%q is not a log format: use json, text or auto", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not a log level: use debug, info, warn or error", c.Log.Level)
	}
	return errors.Join(errs...)
}

func (c *Config) validateSite(i int, owner map[string]string, add func(string, string, ...any)) {
	s := &c.Sites[i]
	sp := fmt.Sprintf("sites[%d]", i)
	if len(s.Hosts) == 0 {
		add(sp+".hosts", "a site needs at least one host name, such as api.example.com")
	}
	for j, h := range s.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", sp, j)
		norm := NormalizeHost(h)
		if norm == CatchAll {
			if s.TLS.Certificate.ACME.OnDemand == nil {
				add(hp, "\"*\" (every name) needs on-demand certificates: add tls.certificate.acme.on_demand with an ask URL, or list the names")
				continue
			}
		} else if err := checkHostName(norm); err != nil {
			add(hp, "%q %v", h, err)
			continue
		}
		if prev, dup := owner[norm]; dup && norm == CatchAll {
			add(hp, "\"*\" is already a host of %s: only one site can take every unlisted name", prev)
			continue
		} else if dup {
			add(hp, "%q is already a host of %s: a host belongs to one site", h, prev)
			continue
		}
		owner[norm] = sp
	}

	switch s.TLS.Profile {
	case ProfileIntermediate, ProfileModern:
	case "old", "legacy", "compatible", "tls1.0", "tls1.1":
		add(sp+".tls.profile", "%q is not offered: TLS 1.0 and 1.1 are broken and cannot be enabled; use intermediate (TLS 1.2+1.3) or modern (TLS 1.3)", s.TLS.Profile)
	default:
		add(sp+".tls.profile", "%q is not a profile: use intermediate (TLS 1.2+1.3, the default) or modern (TLS 1.3 only)", s.TLS.Profile)
	}

	cp := sp + ".tls.certificate"
	cert := s.TLS.Certificate
	switch cert.Source {
	case SourceFiles:
		if cert.Cert == "" {
			add(cp+".cert", "source files needs cert: the PEM certificate chain (fullchain.pem)")
		}
		if cert.Key == "" {
			add(cp+".key", "source files needs key: the PEM private key")
		}
	case SourceInternal:
		if cert.Cert != "" || cert.Key != "" {
			add(cp+".source", "source internal issues its own certificate: remove cert: and key:, or use source: files")
		}
		// The internal CA refuses what its rules do not allow (an
		// underscore, say): say so here, not at start-up.
		for j, h := range s.Hosts {
			if n := NormalizeHost(h); checkHostName(n) == nil {
				if err := ca.CheckHost(n, true); err != nil {
					add(fmt.Sprintf("sites[%d].hosts[%d]", i, j), "%v, and the internal CA certifies only such names: rename it, or use source files", err)
				}
			}
		}
	case SourceACME:
		if cert.Cert != "" || cert.Key != "" {
			add(cp+".source", "source acme gets its certificate from the CA: remove cert: and key:, or use source: files")
		}
		c.validateACMESite(i, add)
	default:
		add(cp+".source", "%q is not a certificate source: use files, internal or acme", cert.Source)
	}
	if cert.Source != SourceACME && !cert.ACME.IsZero() {
		add(cp+".acme", "acme: settings are only used with source: acme (this site's source is %s)", cert.Source)
	}

	if s.HSTS.MaxAge != nil && *s.HSTS.MaxAge < 0 {
		add(sp+".hsts.max_age", "must be 0 or more seconds")
	}
	if s.HSTS.Preload {
		if s.HSTS.MaxAge != nil && *s.HSTS.MaxAge < DefaultHSTSMaxAge {
			add(sp+".hsts.max_age", "preload requires max_age of at least 31536000 (one year)")
		}
		if s.HSTS.IncludeSubDomains != nil && !*s.HSTS.IncludeSubDomains {
			add(sp+".hsts.include_subdomains", "preload requires include_subdomains: true")
		}
	}

	validateIdentityHeaders(sp+".identity_headers", s.IdentityHeaders, add)
	if ca := s.ClientAuth; len(ca.CRL) > 0 && len(ca.CA) == 0 && !ca.InternalCA {
		add(sp+".client_auth.crl", "CRLs need the CAs that sign them: add ca: or internal_ca: true")
	}
	if len(s.Routes) == 0 && s.RoutesFrom == nil && s.Handler == nil {
		add(sp+".routes", "a site needs at least one route, such as {path: /, upstreams: [http://127.0.0.1:9000]}, or routes_from: an OpenAPI document")
	}
	if rf := s.RoutesFrom; rf != nil {
		rp := sp + ".routes_from"
		if rf.OpenAPI == "" {
			add(rp+".openapi", "name the OpenAPI document (YAML or JSON) to derive routes from")
		}
		if len(rf.Upstreams) == 0 {
			add(rp+".upstreams", "the derived routes need at least one upstream URL, such as http://127.0.0.1:9000")
		}
		for k, u := range rf.Upstreams {
			if err := CheckUpstream(u); err != nil {
				add(fmt.Sprintf("%s.upstreams[%d]", rp, k), "%v", err)
			}
		}
	}
	paths := map[string]int{}
	for j, r := range s.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", sp, j)
		if !strings.HasPrefix(r.Path, "/") {
			add(rp+".path", "%q must start with /", r.Path)
		} else if prev, dup := paths[r.Path]; dup {
			add(rp+".path", "%q is also the path of routes[%d]", r.Path, prev)
		} else {
			paths[r.Path] = j
		}
		if len(r.Upstreams) == 0 {
			add(rp+".upstreams", "a route needs at least one upstream URL, such as http://127.0.0.1:9000")
		}
		https := false
		for k, u := range r.Upstreams {
			if err := CheckUpstream(u); err != nil {
				add(fmt.Sprintf("%s.upstreams[%d]", rp, k), "%v", err)
			}
			https = https || strings.HasPrefix(strings.ToLower(u), "https://")
		}
		ut := r.UpstreamTLS
		if !ut.IsZero() && !https && len(r.Upstreams) > 0 {
			add(rp+".upstream_tls", "applies only to https:// upstreams, and this route has none")
		}
		if ut.InternalClientCert != "" && ut.ClientCert != "" {
			add(rp+".upstream_tls.internal_client_cert", "choose one: client_cert/client_key from files, or internal_client_cert from the internal CA")
		}
		if ut.InternalClientCert != "" {
			if err := ca.CheckClientName(ut.InternalClientCert); err != nil {
				add(rp+".upstream_tls.internal_client_cert", "%v", err)
			}
		}
		if (ut.ClientCert == "") != (ut.ClientKey == "") {
			add(rp+".upstream_tls", "client_cert and client_key go together")
		}
		mode := mtls.Mode(r.ClientAuth)
		switch mode {
		case mtls.None, mtls.Optional, mtls.Require:
		default:
			add(rp+".client_auth", "%q is not a client-auth mode: use none, optional or require", r.ClientAuth)
		}
		if mode != mtls.None && s.ClientAuth.IsZero() {
			add(rp+".client_auth", "%s needs trusted client CAs: add client_auth: {ca: [FILE]} or {internal_ca: true} to the site", r.ClientAuth)
		}
		if a := r.Allow; len(a.Subjects)+len(a.DNS)+len(a.URIs) > 0 && mode != mtls.Require {
			add(rp+".allow", "an allow-list only applies with client_auth: require")
		}
		if ut.InsecureSkipVerify && ut.CA != "" {
			add(rp+".upstream_tls.insecure_skip_verify", "contradicts ca: with verification off the CA is not used; remove one of them")
		}
	}
}

// CheckUpstream reports whether u is a usable upstream base URL.
func CheckUpstream(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		return fmt.Errorf("%q must be an http:// or https:// URL with a host, like http://127.0.0.1:9000", u)
	}
	if p.RawQuery != "" || p.Fragment != "" || p.User != nil {
		return fmt.Errorf("%q must not carry a query, fragment or credentials", u)
	}
	return nil
}

// NormalizeHost lower-cases a host name and drops a trailing dot.
func NormalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

func checkHostName(h string) error {
	if h == "" {
		return errors.New("is empty")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return errors.New("is not a valid host: a wildcard may only be the whole first label, as in *.example.com")
	}
	if strings.ContainsAny(name, ":/ ") {
		return errors.New("is not a host name: give the name only, without scheme, port or path")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("is not a valid DNS name")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("has the character %q, not allowed in DNS names (use punycode for IDNs)", r)
			}
		}
	}
	return nil
}

// checkAdminHost checks an admin.hosts entry: a DNS name, compared as
// the admin listener compares Host headers (see Admin.Hosts).
func checkAdminHost(h string) error {
	norm := NormalizeHost(h)
	switch {
	case norm == "":
		return errors.New("is empty: list DNS names, such as gw1.internal")
	case strings.HasPrefix(norm, "["), strings.Count(norm, ":") > 1:
		return errors.New("is an IP address, which the admin listener always accepts: list names only")
	case strings.Contains(norm, "*"):
		return errors.New("is a wildcard: list each name the admin listener is reached by")
	}
	if _, err := netip.ParseAddr(norm); err == nil {
		return errors.New("is an IP address, which the admin listener always accepts: list names only")
	}
	return checkHostName(norm)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. :443 or 127.0.0.1:8443)", addr)
	}
	if port == "" {
		// net.Listen would pick a random port for "127.0.0.1:".
		return fmt.Errorf("%q has no port (e.g. :443 or 127.0.0.1:8443)", addr)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
			return fmt.Errorf("%q: listen on an IP address (or none, for all interfaces), not a name", addr)
		}
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: %q is not a port", addr, port)
	}
	return nil
}

// ParsePrefix parses an IP address or CIDR range. IPv6 zones (fe80::1%eth0)
// are refused: a peer address never matches a zoned prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		// Peers are compared unmapped, so an IPv4-mapped range such as
		// ::ffff:10.0.0.0/104 must become 10.0.0.0/8 to ever match.
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped range needs a prefix length of at least 96", s)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: an IPv6 zone is not allowed", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// validateACME checks one acme: block as written (top-level or a site's).
func (c *Config) validateACME(path string, a ACME, add func(string, string, ...any)) {
	if a.Directory != "" {
		u, err := url.Parse(a.Directory)
		switch {
		case err != nil || u.Host == "":
			add(path+".directory", "%q is not a URL: give the CA's ACME directory, such as %s", a.Directory, DefaultACMEDirectory)
		case u.Scheme != "https":
			add(path+".directory", "%q: ACME directories are served over https (RFC 8555)", a.Directory)
		}
	}
	if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t<>") || strings.HasPrefix(a.Email, "mailto:")) {
		add(path+".email", "%q is not an email address: write it plainly, as ops@example.com", a.Email)
	}
	if (a.EAB.KeyID == "") != (a.EAB.MACKeyFile == "") {
		add(path+".eab", "External Account Binding needs both key_id and mac_key_file (the CA gives you both)")
	}
	if a.KeyType != "" && !slices.Contains(ACMEKeyTypes, a.KeyType) {
		add(path+".key_type", "%q is not a key type: use %s", a.KeyType, strings.Join(ACMEKeyTypes, ", "))
	}
	for k, ch := range a.Challenges {
		cp := fmt.Sprintf("%s.challenges[%d]", path, k)
		switch ch {
		case ChallengeHTTP01:
			if c.Listen.HTTP == ListenOff {
				add(cp, "http-01 is answered on listen.http, which is off: enable listen.http or use tls-alpn-01")
			}
		case ChallengeTLSALPN01:
		case ChallengeDNS01:
		default:
			add(cp, "%q is not a challenge type: use http-01, tls-alpn-01 or dns-01", ch)
		}
	}
	if !a.DNS.IsZero() {
		validateDNSProvider(path+".dns", a.DNS, add)
	}
}

// dnsServerAddr reports whether s is host:port, or (if hostOnly is
// allowed) a host name or IP address alone.
func dnsServerAddr(s string, hostOnly bool) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if !hostOnly || s == "" || strings.ContainsAny(s, " /[]") {
			return false
		}
		if _, err := netip.ParseAddr(s); err == nil {
			return true
		}
		return !strings.Contains(s, ":")
	}
	n, err := strconv.Atoi(port)
	return host != "" && err == nil && n > 0 && n < 65536
}

// validateDNSProvider checks a dns: block as written.
func validateDNSProvider(path string, d DNSProvider, add func(string, string, ...any)) {
	switch d.Provider {
	case "":
		add(path+".provider", "no DNS provider: use rfc2136 (DNS UPDATE with a TSIG key) or exec (a command of yours)")
	case DNSProviderRFC2136:
		if d.Server == "" {
			add(path+".server", "rfc2136 needs the server that accepts the updates (the zone's primary, host:port)")
		} else if !dnsServerAddr(d.Server, true) {
			add(path+".server", "%q is not host:port (e.g. ns1.example.com:53)", d.Server)
		}
		if d.KeyName == "" {
			add(path+".key_name", "rfc2136 needs the TSIG key's name, as the server knows it (e.g. acme-update.)")
		}
		if d.KeyFile == "" {
			add(path+".key_file", "rfc2136 needs the file holding the TSIG key's base64 secret")
		}
		if d.KeyAlgorithm != "" && !slices.Contains(TSIGAlgorithms, strings.ToLower(d.KeyAlgorithm)) {
			add(path+".key_algorithm", "%q is not a TSIG algorithm: use %s", d.KeyAlgorithm, strings.Join(TSIGAlgorithms, ", "))
		}
		if len(d.Command) > 0 {
			add(path+".command", "command is for provider exec: remove it, or set provider: exec")
		}
	case DNSProviderExec:
		if len(d.Command) == 0 || d.Command[0] == "" {
			add(path+".command", "exec needs the command to run, as a list: [/usr/local/bin/dns-hook] (run as COMMAND present|cleanup FQDN VALUE)")
		}
		for _, k := range []struct{ key, v string }{{"server", d.Server}, {"key_name", d.KeyName}, {"key_algorithm", d.KeyAlgorithm}, {"key_file", d.KeyFile}} {
			if k.v != "" {
				add(path+"."+k.key, "%s is for provider rfc2136: remove it, or set provider: rfc2136", k.key)
			}
		}
	default:
		add(path+".provider", "%q is not a DNS provider: use %s", d.Provider, strings.Join(DNSProviders, " or "))
	}
	for k, r := range d.Resolvers {
		if !dnsServerAddr(r, false) {
			add(fmt.Sprintf("%s.resolvers[%d]", path, k), "%q is not host:port (e.g. 10.0.0.53:53)", r)
		}
	}
	if d.PropagationTimeout < 0 {
		add(path+".propagation_timeout", "must be a positive duration such as 2m")
	}
}

// validateACMESite checks a site with source acme: its own acme: block,
// and that a CA can certify its hosts.
func (c *Config) validateACMESite(i int, add func(string, string, ...any)) {
	s := &c.Sites[i]
	sp := fmt.Sprintf("sites[%d]", i)
	own := s.TLS.Certificate.ACME
	c.validateACME(sp+".tls.certificate.acme", own, add)
	a := c.SiteACME(i)
	dns01 := slices.Contains(a.Challenges, ChallengeDNS01)
	if dns01 && a.DNS.IsZero() {
		if len(own.Challenges) > 0 {
			add(sp+".tls.certificate.acme.challenges", "dns-01 needs a DNS provider to publish its TXT records: add a dns: block (provider: rfc2136 or exec) to this acme: block or the top-level one")
		} else {
			// Once per site, at the site: several may inherit acme.challenges.
			add(sp+".tls.certificate", "dns-01 (from acme.challenges) needs a DNS provider to publish its TXT records: add a dns: block (provider: rfc2136 or exec) to acme:")
		}
	}
	// RFC 8738: an IP address is validated by http-01 or tls-alpn-01;
	// dns-01 has no name to put a TXT record under. With dns-01 listed it
	// is the only challenge offered (package acme), so it must be absent.
	ipValidatable := !dns01 && (slices.Contains(a.Challenges, ChallengeHTTP01) || slices.Contains(a.Challenges, ChallengeTLSALPN01))
	le := letsEncrypt(a.Directory)
	od := own.OnDemand
	if od != nil {
		validateOnDemand(sp+".tls.certificate.acme.on_demand", od, add)
		if s.Default {
			add(sp+".default", "an on-demand site cannot be the default: a client without SNI names no certificate to obtain")
		}
	}
	for j, h := range s.Hosts {
		n := NormalizeHost(h)
		hp := fmt.Sprintf("%s.hosts[%d]", sp, j)
		switch {
		case od != nil && (n == CatchAll || strings.HasPrefix(n, "*.")):
			// On demand, each name under the pattern gets its own
			// certificate: no wildcard certificate, no dns-01.
		case strings.HasPrefix(n, "*.") && !dns01:
			add(hp, "%q: wildcard certificates need the dns-01 challenge (the CA checks a TXT record, not a server): add dns-01 with a dns provider to challenges, or list the names", h)
		case !strings.Contains(n, ".") && net.ParseIP(n) == nil,
			loopback.Name(n),
			strings.HasSuffix(n, ".local"), strings.HasSuffix(n, ".internal"),
			strings.HasSuffix(n, ".home.arpa"), strings.HasSuffix(n, ".invalid"):
			add(hp, "%q is not a public name, so no ACME CA can validate it: use source internal for it (a separate site)", h)
		case net.ParseIP(n) != nil && !ipValidatable:
			add(hp, "%q is an IP address, which dns-01 cannot validate (RFC 8738): use challenges http-01 and/or tls-alpn-01 without dns-01 for this site (a site of its own if other hosts need dns-01)", h)
		}
		if ip, err := netip.ParseAddr(n); err == nil && le {
			switch {
			case !ip.IsGlobalUnicast() || ip.IsPrivate():
				add(hp, "%q is not a public address, so Let's Encrypt cannot validate it: use source internal for it (a separate site), or a private ACME CA", h)
			case a.Profile != LetsEncryptShortLived:
				add(hp, "%q is an IP address: Let's Encrypt certifies addresses only under the %s profile (6-day certificates): set profile: %s in this site's acme: block", h, LetsEncryptShortLived, LetsEncryptShortLived)
			}
		}
	}
}

// letsEncrypt reports whether directory is Let's Encrypt's, production
// or staging: a public CA with rules of its own for IP addresses.
func letsEncrypt(directory string) bool {
	u, err := url.Parse(directory)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "acme-v02.api.letsencrypt.org" || h == "acme-staging-v02.api.letsencrypt.org"
}

// validateIdentityHeaders refuses identity header names that are not
// header names, name two fields alike, or take a header the gateway sets
// itself: the upstream would get one value where it expects another.
func validateIdentityHeaders(p string, h IdentityHeaders, add func(path, format string, args ...any)) {
	fields := []struct{ key, name string }{
		{"verify", h.Verify}, {"dn", h.DN}, {"san_uri", h.SANURI},
		{"san_dns", h.SANDNS}, {"cert", h.Cert}, {"fingerprint", h.Fingerprint},
	}
	seen := map[string]string{}
	for _, f := range fields {
		if f.name == "" {
			continue
		}
		if !validHeaderName(f.name) {
			add(p+"."+f.key, "%q is not a header name: use letters, digits and '-' (such as X-Client-DN)", f.name)
			continue
		}
		canon := http.CanonicalHeaderKey(f.name)
		if reservedHeaders[canon] {
			add(p+"."+f.key, "%s is set by the gateway itself: choose another name", f.name)
		}
		if prev, ok := seen[canon]; ok {
			add(p+"."+f.key, "%s is already the name of %s (header names ignore case): each identity header needs its own name", f.name, prev)
		}
		seen[canon] = f.key
	}
}

// reservedHeaders are request headers the gateway or HTTP itself sets.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Proxy-Authorization": true, "Proxy-Authenticate": true, "Te": true, "Trailer": true,
	"Upgrade": true, "Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Host": true,
	"X-Forwarded-Proto": true, "X-Request-Id": true, "User-Agent": true,
}

// validHeaderName accepts the names an identity header can have: letters,
// digits and '-' (no '_': the gateway drops such names, as nginx does).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validateOnDemand checks a site's on_demand block (Defaults has run).
func validateOnDemand(p string, o *OnDemand, add func(string, string, ...any)) {
	if o.Ask == "" {
		add(p+".ask", "required: the URL the gateway asks (GET ?domain=NAME, 2xx allows) before ordering a certificate for a name; without it any client could make the gateway order certificates")
	} else if u, err := url.Parse(o.Ask); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add(p+".ask", "%q is not an http:// or https:// URL, like http://127.0.0.1:9000/allowed", o.Ask)
	} else if u.User != nil || u.Fragment != "" {
		add(p+".ask", "%q must not carry credentials or a fragment", o.Ask)
	}
	if o.AskTimeout < 0 {
		add(p+".ask_timeout", "must be positive (default %s)", DefaultOnDemandAskTimeout)
	}
	if o.Rate.Orders < 0 {
		add(p+".rate.orders", "must be at least 1 (default %d)", DefaultOnDemandOrders)
	}
	if o.Rate.Per < time.Second {
		add(p+".rate.per", "must be at least 1s (default %s)", DefaultOnDemandPer)
	}
	if o.MaxConcurrent < 0 {
		add(p+".max_concurrent", "must be at least 1 (default %d)", DefaultOnDemandMaxConcurrent)
	}
	if o.RefusalCache < 0 {
		add(p+".refusal_cache", "must be positive (default %s)", DefaultOnDemandRefusalCache)
	}
	if o.Backoff.Initial < 0 {
		add(p+".backoff.initial", "must be positive (default %s)", DefaultOnDemandBackoff)
	}
	if o.Backoff.Max < o.Backoff.Initial {
		add(p+".backoff.max", "%s is shorter than backoff.initial %s", o.Backoff.Max, o.Backoff.Initial)
	}
}
