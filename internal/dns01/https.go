package dns01

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// HTTPSRecord is the service-binding record (RFC 9460) that tells
// clients how to reach a name: ALPN protocols, a port, and the ECH
// configs (draft-ietf-tls-svcb-ech) to encrypt their ClientHello with.
type HTTPSRecord struct {
	// Name is the owner name, such as api.example.com.
	Name string
	// TTL of the record.
	TTL time.Duration
	// ALPN lists the protocols, such as h2 and http/1.1.
	ALPN []string
	// Port, when not 0, is the port clients connect to.
	Port int
	// ECH is the ECHConfigList.
	ECH []byte
}

// String is the record in zone-file syntax, as an operator would add it:
// "api.example.com. 300 IN HTTPS 1 . alpn="h3,h2,http/1.1" ech="..."".
func (r HTTPSRecord) String() string {
	return r.rr().String()
}

func (r HTTPSRecord) rr() *dns.HTTPS {
	rr := &dns.HTTPS{SVCB: dns.SVCB{
		Hdr:      dns.RR_Header{Name: dns.Fqdn(strings.ToLower(r.Name)), Rrtype: dns.TypeHTTPS, Class: dns.ClassINET, Ttl: uint32(r.TTL / time.Second)},
		Priority: 1,
		Target:   ".",
	}}
	if len(r.ALPN) > 0 {
		rr.Value = append(rr.Value, &dns.SVCBAlpn{Alpn: r.ALPN})
	}
	if r.Port != 0 {
		rr.Value = append(rr.Value, &dns.SVCBPort{Port: uint16(r.Port)})
	}
	if len(r.ECH) > 0 {
		rr.Value = append(rr.Value, &dns.SVCBECHConfig{ECH: r.ECH})
	}
	return rr
}

// ReplaceHTTPS makes rec the only HTTPS record of its name in zone, in
// one DNS UPDATE (the old set is deleted and the new record added
// atomically, so resolvers never see the name without one).
func (p *RFC2136) ReplaceHTTPS(ctx context.Context, zone string, rec HTTPSRecord) error {
	rr := rec.rr()
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: rr.Hdr.Name, Rrtype: dns.TypeHTTPS, Class: dns.ClassINET}}})
	m.Insert([]dns.RR{rr})
	return p.exchange(ctx, m, "update", []dns.RR{rr})
}

// LookupECH asks server (host:port) for name's HTTPS records and returns
// the ECHConfigList of the first that has one, nil if none does. It asks
// with recursion desired, so server may be a resolver or the zone's own
// server.
func LookupECH(ctx context.Context, server, name string) ([]byte, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeHTTPS)
	m.RecursionDesired = true
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, fmt.Errorf("asking %s for the HTTPS record of %s: %w", server, name, err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("asking %s for the HTTPS record of %s: %s", server, name, dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		h, ok := rr.(*dns.HTTPS)
		if !ok {
			continue
		}
		for _, kv := range h.Value {
			if e, ok := kv.(*dns.SVCBECHConfig); ok && len(e.ECH) > 0 {
				return e.ECH, nil
			}
		}
	}
	return nil, nil
}

// SystemResolver is the first name server of /etc/resolv.conf, host:port.
func SystemResolver() (string, error) {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("reading /etc/resolv.conf: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("/etc/resolv.conf names no name server")
	}
	return net.JoinHostPort(strings.TrimSpace(cc.Servers[0]), strconv.Itoa(portOr53(cc.Port))), nil
}

func portOr53(p string) int {
	if n, err := strconv.Atoi(p); err == nil && n > 0 {
		return n
	}
	return 53
}
