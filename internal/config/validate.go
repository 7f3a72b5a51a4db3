package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
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

	for i, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an IP address or CIDR range such as 10.0.0.0/8", p)
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

	t := c.Timeouts
	for _, d := range []struct {
		key string
		neg bool
	}{
		{"read_header", t.ReadHeader < 0}, {"body_read", t.BodyRead < 0}, {"idle", t.Idle < 0},
		{"upstream_connect", t.UpstreamConnect < 0}, {"upstream_response", t.UpstreamResponse < 0},
		{"shutdown", t.Shutdown < 0},
	} {
		if d.neg {
			add("timeouts."+d.key, "must be positive")
		}
	}
	if c.Limits.MaxHeaderBytes < 4096 {
		add("limits.max_header_bytes", "%d is too small for real clients: use at least 4096", c.Limits.MaxHeaderBytes)
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
		if err := checkHostName(norm); err != nil {
			add(hp, "%q %v", h, err)
			continue
		}
		if prev, dup := owner[norm]; dup {
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
	case "acme":
		add(cp+".source", "ACME is not available in this version: use files or internal")
	default:
		add(cp+".source", "%q is not a certificate source: use files or internal", cert.Source)
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

	if ca := s.ClientAuth; len(ca.CRL) > 0 && len(ca.CA) == 0 && !ca.InternalCA {
		add(sp+".client_auth.crl", "CRLs need the CAs that sign them: add ca: or internal_ca: true")
	}
	if len(s.Routes) == 0 {
		add(sp+".routes", "a site needs at least one route, such as {path: /, upstreams: [http://127.0.0.1:9000]}")
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
		if (ut.ClientCert == "") != (ut.ClientKey == "") {
			add(rp+".upstream_tls", "client_cert and client_key go together")
		}
		switch r.ClientAuth {
		case "none", "optional", "require":
		default:
			add(rp+".client_auth", "%q is not a client-auth mode: use none, optional or require", r.ClientAuth)
		}
		if r.ClientAuth != "none" && s.ClientAuth.IsZero() {
			add(rp+".client_auth", "%s needs trusted client CAs: add client_auth: {ca: [FILE]} or {internal_ca: true} to the site", r.ClientAuth)
		}
		if a := r.Allow; len(a.Subjects)+len(a.DNS)+len(a.URIs) > 0 && r.ClientAuth != "require" {
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
