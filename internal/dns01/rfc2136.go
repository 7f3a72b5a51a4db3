package dns01

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"
)

// TSIG algorithms RFC2136 accepts, as the config names them.
const (
	HMACSHA1   = "hmac-sha1"
	HMACSHA224 = "hmac-sha224"
	HMACSHA256 = "hmac-sha256"
	HMACSHA384 = "hmac-sha384"
	HMACSHA512 = "hmac-sha512"
)

// Algorithms maps the accepted key_algorithm values to their TSIG names.
// hmac-sha256 is the default: what tsig-keygen and keymgr make, and what
// every server supports.
var Algorithms = map[string]string{
	HMACSHA1:   dns.HmacSHA1,
	HMACSHA224: dns.HmacSHA224,
	HMACSHA256: dns.HmacSHA256,
	HMACSHA384: dns.HmacSHA384,
	HMACSHA512: dns.HmacSHA512,
}

// DefaultTimeout bounds one update exchange when RFC2136.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// RFC2136 adds and removes records by DNS UPDATE (RFC 2136) signed with
// TSIG (RFC 8945), over TCP, at the zone's primary server: BIND, Knot,
// PowerDNS, Windows DNS and most self-hosted servers accept it. It
// implements libdns.RecordAppender and libdns.RecordDeleter
// (certmagic.DNSProvider). Its fields must not change once it is in use;
// its methods may be called concurrently.
//
// The secret lets its holder change any name the server's ACL grants the
// key: give the key an ACL limited to _acme-challenge names (update-policy
// in BIND, acl.update-owner in Knot) and keep the key file private.
type RFC2136 struct {
	// Server is the primary's address, host:port; a host alone means port
	// 53.
	Server string
	// KeyName is the TSIG key's name, as the server knows it
	// ("acme-update." — a trailing dot is added if missing).
	KeyName string
	// KeyAlgorithm is one of Algorithms' keys; "" means hmac-sha256.
	KeyAlgorithm string
	// Secret is the key's base64 secret (the caller reads it from a file).
	Secret string
	// Timeout bounds each update exchange; 0 means DefaultTimeout.
	Timeout time.Duration
}

var (
	_ libdns.RecordAppender = (*RFC2136)(nil)
	_ libdns.RecordDeleter  = (*RFC2136)(nil)
)

// Check reports a setting that can never work, without contacting the
// server.
func (p *RFC2136) Check() error {
	if p.Server == "" {
		return errors.New("no server: give the primary's host:port")
	}
	if p.KeyName == "" {
		return errors.New("no key_name: give the TSIG key's name as the server knows it")
	}
	if _, ok := Algorithms[p.algorithmName()]; !ok {
		return fmt.Errorf("%q is not a TSIG algorithm: use hmac-sha256 (default), hmac-sha1, hmac-sha224, hmac-sha384 or hmac-sha512", p.KeyAlgorithm)
	}
	if _, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p.Secret)); err != nil || strings.TrimSpace(p.Secret) == "" {
		return errors.New("the TSIG secret is not base64 (the secret: line of tsig-keygen's or keymgr's output)")
	}
	return nil
}

func (p *RFC2136) algorithmName() string {
	a := strings.TrimSuffix(strings.ToLower(p.KeyAlgorithm), ".")
	if a == "" {
		return HMACSHA256
	}
	return a
}

func (p *RFC2136) server() string {
	if _, _, err := net.SplitHostPort(p.Server); err != nil {
		return net.JoinHostPort(strings.Trim(p.Server, "[]"), "53")
	}
	return p.Server
}

func (p *RFC2136) keyName() string { return dns.Fqdn(strings.ToLower(p.KeyName)) }

// AppendRecords adds recs to zone in one update and returns them.
// Adding a record that exists already is no error (DNS UPDATE semantics).
func (p *RFC2136) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, err := toRRs(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Insert(rrs)
	if err := p.exchange(ctx, m, "update", rrs); err != nil {
		return nil, err
	}
	return recs, nil
}

// DeleteRecords removes exactly recs (name, type and data) from zone in
// one update, leaving other records of the same name and type alone, and
// returns them.
func (p *RFC2136) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	rrs, err := toRRs(zone, recs)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.Remove(rrs)
	if err := p.exchange(ctx, m, "deletion", rrs); err != nil {
		return nil, err
	}
	return recs, nil
}

// exchange sends a signed update and turns a refusal into an error that
// names the server, the records, the key and the likely fix.
func (p *RFC2136) exchange(ctx context.Context, m *dns.Msg, what string, rrs []dns.RR) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("DNS update at %s: %w", p.Server, err)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := p.keyName()
	m.SetTsig(key, Algorithms[p.algorithmName()], 300, time.Now().Unix())
	c := &dns.Client{
		Net:        "tcp",
		Timeout:    timeout,
		TsigSecret: map[string]string{key: strings.TrimSpace(p.Secret)},
	}
	server := p.server()
	r, _, err := c.ExchangeContext(ctx, m, server)
	subject := describe(rrs)
	if r == nil {
		return fmt.Errorf("DNS server %s: sending the %s of %s: %w", server, what, subject, err)
	}
	var tsigErr uint16
	if t := r.IsTsig(); t != nil {
		tsigErr = t.Error
	}
	if tsigErr == dns.RcodeBadTime {
		return fmt.Errorf("DNS server %s refused the %s of %s: TSIG key %q not accepted (%s/BADTIME): the clocks of this host and the server differ by more than 5 minutes",
			server, what, subject, key, dns.RcodeToString[r.Rcode])
	}
	zone := strings.TrimSuffix(m.Question[0].Name, ".")
	if tsigErr == dns.RcodeBadSig || tsigErr == dns.RcodeBadKey {
		return fmt.Errorf("DNS server %s refused the %s of %s: TSIG key %q not accepted (%s/%s) — check key_name, key_algorithm and the secret in key_file",
			server, what, subject, key, dns.RcodeToString[r.Rcode], dns.RcodeToString[int(tsigErr)])
	}
	if r.Rcode == dns.RcodeNotAuth {
		if r.IsTsig() != nil && err == nil {
			// The answer is signed with our key: the key is fine.
			return fmt.Errorf("DNS server %s refused the %s of %s (NOTAUTH): it is not authoritative for zone %s — is server the zone's primary?",
				server, what, subject, zone)
		}
		return fmt.Errorf("DNS server %s refused the %s of %s (NOTAUTH): it is not authoritative for zone %s, or did not accept TSIG key %q — check server, key_name, key_algorithm and the secret in key_file",
			server, what, subject, zone, key)
	}
	if err != nil {
		// The answer did not verify: the server signed it with another key.
		return fmt.Errorf("DNS server %s: the answer to the %s of %s: %w (check key_name, key_algorithm and the secret in key_file)", server, what, subject, err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeRefused:
		return fmt.Errorf("DNS server %s refused the %s of %s (REFUSED): does its ACL allow updates with TSIG key %q for zone %s?", server, what, subject, key, zone)
	case dns.RcodeNotZone:
		return fmt.Errorf("DNS server %s refused the %s of %s (NOTZONE): the name is not in zone %s", server, what, subject, zone)
	default:
		return fmt.Errorf("DNS server %s refused the %s of %s in zone %s (%s)", server, what, subject, zone, dns.RcodeToString[r.Rcode])
	}
}

// describe names records for an error: "_acme-challenge.example.com TXT".
func describe(rrs []dns.RR) string {
	var names []string
	for _, rr := range rrs {
		n := strings.TrimSuffix(rr.Header().Name, ".") + " " + dns.TypeToString[rr.Header().Rrtype]
		if len(names) == 0 || names[len(names)-1] != n {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// toRRs converts libdns records of zone to DNS resource records.
func toRRs(zone string, recs []libdns.Record) ([]dns.RR, error) {
	zone = dns.Fqdn(zone)
	out := make([]dns.RR, 0, len(recs))
	for _, rec := range recs {
		rr := rec.RR()
		name := dns.Fqdn(libdns.AbsoluteName(rr.Name, zone))
		ttl := uint32(rr.TTL / time.Second)
		if strings.EqualFold(rr.Type, "TXT") {
			out = append(out, &dns.TXT{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
				Txt: splitTXT(rr.Data),
			})
			continue
		}
		d, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, ttl, rr.Type, rr.Data))
		if err != nil {
			return nil, fmt.Errorf("record %s %s %q: %w", name, rr.Type, rr.Data, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// splitTXT cuts a TXT value into the 255-byte strings DNS carries.
func splitTXT(s string) []string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	return append(parts, s)
}
