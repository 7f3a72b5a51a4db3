package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/ech"
)

// ECHPublicName is the public name ECH runs under: ech.public_name, else
// the first host of the default site, then of the first site, that
// clients accept as a public name (a DNS name of two labels or more, not
// a wildcard). Empty when there is none.
func (c *Config) ECHPublicName() string {
	if c.ECH.PublicName != "" {
		return NormalizeHost(c.ECH.PublicName)
	}
	var order []*Site
	for i := range c.Sites {
		if c.Sites[i].Default {
			order = append(order, &c.Sites[i])
		}
	}
	for i := range c.Sites {
		order = append(order, &c.Sites[i])
	}
	for _, s := range order {
		for _, h := range s.Hosts {
			h = NormalizeHost(h)
			if ech.CheckPublicName(h) == nil && checkHostName(h) == nil {
				return h
			}
		}
	}
	return ""
}

// ECHEnabled reports whether the gateway serves ECH: ech.enabled is not
// false and there is a public name.
func (c *Config) ECHEnabled() bool {
	if c.ECH.Enabled != nil && !*c.ECH.Enabled {
		return false
	}
	return c.ECHPublicName() != ""
}

// ECHHidesNothing reports whether the public name is the only name the
// gateway serves (addresses aside): on-path observers then learn the
// server name anyway, and ECH hides only the rest of the hello.
func (c *Config) ECHHidesNothing() bool {
	pub := c.ECHPublicName()
	for _, s := range c.Sites {
		for _, h := range s.Hosts {
			h = NormalizeHost(h)
			if h == pub {
				continue
			}
			if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err != nil {
				return false // another name, a wildcard or the catch-all
			}
		}
	}
	return true
}

// ECHSettings are the key settings of ech.
func (c *Config) ECHSettings() ech.Settings {
	longest := 0
	for _, s := range c.Sites {
		for _, h := range s.Hosts {
			if h != "*" {
				longest = max(longest, len(strings.TrimPrefix(NormalizeHost(h), "*.")))
			}
		}
	}
	s := ech.Settings{PublicName: c.ECHPublicName(), MaxNameLength: min(longest, 255), Rotate: c.ECH.Rotate, Grace: c.ECH.Grace}
	if s.Rotate <= 0 { // a config built in code without Defaults
		s.Rotate = DefaultECHRotate
	}
	return s
}

// servesHost reports whether a site serves name (listed, under a
// one-label wildcard, or by an on-demand catch-all site).
func (c *Config) servesHost(name string) bool {
	for _, s := range c.Sites {
		for _, h := range s.Hosts {
			if coversHost(h, name) || NormalizeHost(h) == CatchAll {
				return true
			}
		}
	}
	return false
}

// coversHost reports whether a site host h gives a certificate for name:
// h is name, or a one-label wildcard above it.
func coversHost(h, name string) bool {
	h = NormalizeHost(h)
	if h == name {
		return true
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		if _, parent, ok := strings.Cut(name, "."); ok && parent == rest {
			return true
		}
	}
	return false
}

func (c *Config) validateECH(add func(string, string, ...any)) {
	e := c.ECH
	switch {
	case e.Enabled != nil && !*e.Enabled:
		// No public name needed; ech.publish is still checked below: it
		// withdraws the ech= value.
	case e.PublicName != "":
		name := NormalizeHost(e.PublicName)
		if err := ech.CheckPublicName(name); err != nil {
			add("ech.public_name", "%v", err)
		} else if err := checkHostName(name); err != nil {
			add("ech.public_name", "%q %v", e.PublicName, err)
		} else {
			covered := false
			for _, s := range c.Sites {
				for _, h := range s.Hosts {
					covered = covered || coversHost(h, name)
				}
			}
			if !covered {
				add("ech.public_name", "%q is not a host of any site: clients with a stale ECH config complete their handshake under this name to get the current one, so the gateway needs its certificate; add it to a site's hosts", e.PublicName)
			}
		}
	case e.Enabled != nil && *e.Enabled && c.ECHPublicName() == "" && len(c.Sites) > 0:
		add("ech.public_name", "ech.enabled is true but no site has a host usable as the public name (a DNS name of two labels or more): set ech.public_name to one of the sites' hosts")
	}
	if e.Rotate < time.Minute {
		add("ech.rotate", "must be at least 1m (default 24h)")
	}
	if e.Grace < 0 {
		add("ech.grace", "must be a positive duration such as 48h")
	}
	if p := e.Publish; p != nil {
		if c.ACME.DNS.Provider != DNSProviderRFC2136 {
			add("ech.publish", "publishing the HTTPS record uses acme.dns, which must be provider: rfc2136 (DNS UPDATE with a TSIG key); or remove publish and publish what 'tlsgate ech show' prints")
		}
		zone := NormalizeHost(p.Zone)
		if zone == "" {
			add("ech.publish.zone", "required: the zone the names are in, such as example.com")
		} else if err := checkHostName(zone); err != nil {
			add("ech.publish.zone", "%q %v", p.Zone, err)
		}
		if len(p.Names) == 0 {
			add("ech.publish.names", "required: the names whose HTTPS record carries the ECH config, such as [api.example.com]")
		}
		for i, n := range p.Names {
			n = NormalizeHost(n)
			path := fmt.Sprintf("ech.publish.names[%d]", i)
			if err := checkHostName(n); err != nil || strings.HasPrefix(n, "*") {
				add(path, "%q is not a DNS name", p.Names[i])
			} else if zone != "" && n != zone && !strings.HasSuffix(n, "."+zone) {
				add(path, "%q is not in zone %s", p.Names[i], zone)
			} else if !c.servesHost(n) {
				// The update replaces every HTTPS record of the name: one
				// the gateway does not serve would lose its own records,
				// and its clients would send ECH to a server without
				// these keys.
				add(path, "%q is not a host of any site: the gateway would replace that name's HTTPS records with its own; list only names its sites serve", p.Names[i])
			}
		}
		if p.TTL < time.Second || (e.Grace > 0 && p.TTL >= e.Grace) {
			add("ech.publish.ttl", "must be at least 1s and well under ech.grace (%s), so resolvers drop a config before its key is gone", e.Grace)
		}
		if p.Port < 0 || p.Port > 65535 {
			add("ech.publish.port", "%d is not a port", p.Port)
		}
	}
}
