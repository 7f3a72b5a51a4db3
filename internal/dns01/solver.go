// Package dns01 solves the ACME dns-01 challenge (RFC 8555 section 8.4),
// the only challenge that proves control of a whole domain and so the
// only way to a wildcard certificate. The Solver publishes the TXT record
// _acme-challenge.<domain> through a Provider (RFC2136 for DNS UPDATE with
// TSIG, Exec for an operator's hook, or any libdns provider), waits until
// the zone's servers serve it, and removes it after validation.
//
// Flow: Present follows a CNAME on _acme-challenge.<domain> (delegation to
// a validation zone, as lego and acme.sh do), finds the zone of the final
// name by walking up to its SOA, and appends the TXT there. Wait polls
// the zone's authoritative servers, or the configured check servers, until
// every one answers with the value. CleanUp deletes exactly that value:
// the certificate for example.com and *.example.com put two values on one
// name at once.
//
// It imports miekg/dns and the libdns interfaces; it knows nothing of
// certmagic or the config, so it is testable against a real DNS server
// alone (internal/testpeer.StartKnot).
package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libdns/libdns"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"
	"github.com/miekg/dns"
)

// Provider adds and removes DNS records: certmagic.DNSProvider. RFC2136
// and Exec implement it, and so does every libdns provider package.
type Provider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// Defaults of Solver's zero fields.
const (
	// DefaultPropagationTimeout bounds Wait. Two minutes covers a primary
	// notifying its secondaries and their transfers; a DNS host with slow
	// propagation needs more (propagation_timeout).
	DefaultPropagationTimeout = 2 * time.Minute
	// DefaultPollInterval is the pause between two propagation checks.
	DefaultPollInterval = 2 * time.Second
	// DefaultTTL of the TXT record: short, as no one should cache it.
	DefaultTTL = 60 * time.Second
	// maxCNAME bounds the CNAME chain followed from _acme-challenge:
	// one hop is the usual delegation; a loop must end.
	maxCNAME = 8
	// queryTimeout bounds one DNS query of a lookup or check.
	queryTimeout = 5 * time.Second
)

// Solver is an acmez.Solver (and acmez.Waiter) for dns-01, meant for
// certmagic.ACMEIssuer.DNS01Solver. Its fields must not change once it is
// in use; its methods may be called concurrently, for many challenges.
type Solver struct {
	// Provider writes the records. Required.
	Provider Provider
	// Resolvers are the DNS servers (host:port; a host alone means port 53)
	// asked everything: the CNAME and SOA lookups and the propagation
	// check. Empty means: lookups through the servers of
	// /etc/resolv.conf, and the propagation check against the zone's
	// authoritative servers (its NS records, port 53, no recursion). Set
	// it when those are not reachable from here or do not show the
	// update yet (a hidden primary, split-horizon DNS), e.g. to the
	// primary itself.
	Resolvers []string
	// PropagationTimeout bounds Wait; 0 means DefaultPropagationTimeout.
	PropagationTimeout time.Duration
	// PollInterval is the pause between checks; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// TTL of the TXT record; 0 means DefaultTTL.
	TTL time.Duration
	// Log, when set, gets one line per record added and removed.
	Log *slog.Logger

	mu      sync.Mutex
	records map[string]presented // by challenge key; guarded by mu

	// Tests only (export_test.go): the servers that stand in for
	// /etc/resolv.conf, and the port the zone's name servers are asked
	// on ("" means 53), so the default path runs against a test server
	// that cannot bind port 53.
	systemResolvers []string
	authPort        string
}

// presented is a TXT record Present made, for Wait and CleanUp.
type presented struct {
	fqdn  string // the record's name, absolute (after following CNAMEs)
	zone  string // its zone, absolute
	value string
}

var (
	_ acmez.Solver = (*Solver)(nil)
	_ acmez.Waiter = (*Solver)(nil)
)

// RecordName returns the name whose TXT record validates domain:
// _acme-challenge.<domain>., the wildcard label removed.
func RecordName(domain string) string {
	return dns.Fqdn("_acme-challenge." + strings.TrimPrefix(strings.ToLower(domain), "*."))
}

func challengeKey(c acme.Challenge) string {
	return c.Identifier.Value + "\x00" + c.DNS01KeyAuthorization()
}

// Present adds the challenge's TXT record.
func (s *Solver) Present(ctx context.Context, c acme.Challenge) error {
	if s.Provider == nil {
		return errors.New("dns-01: no DNS provider configured")
	}
	name := RecordName(c.Identifier.Value)
	value := c.DNS01KeyAuthorization()
	target, err := s.followCNAME(ctx, name)
	if err != nil {
		return err
	}
	zone, err := s.findZone(ctx, target)
	if err != nil {
		return err
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	rec := libdns.TXT{Name: libdns.RelativeName(target, zone), TTL: ttl, Text: value}
	if _, err := s.Provider.AppendRecords(ctx, zone, []libdns.Record{rec}); err != nil {
		return fmt.Errorf("dns-01 for %s: adding TXT %s: %w", c.Identifier.Value, strings.TrimSuffix(target, "."), err)
	}
	s.mu.Lock()
	if s.records == nil {
		s.records = map[string]presented{}
	}
	s.records[challengeKey(c)] = presented{fqdn: target, zone: zone, value: value}
	s.mu.Unlock()
	if s.Log != nil {
		args := []any{"name", c.Identifier.Value, "record", strings.TrimSuffix(target, "."), "zone", strings.TrimSuffix(zone, ".")}
		if target != name {
			args = append(args, "cname_of", strings.TrimSuffix(name, "."))
		}
		s.Log.Info("dns-01 record added", args...)
	}
	return nil
}

// Wait returns once every check server answers the TXT record with the
// value Present added, or fails after the propagation timeout with what
// each server last answered.
func (s *Solver) Wait(ctx context.Context, c acme.Challenge) error {
	s.mu.Lock()
	rec, ok := s.records[challengeKey(c)]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("dns-01 for %s: Wait without Present", c.Identifier.Value)
	}
	timeout := s.PropagationTimeout
	if timeout <= 0 {
		timeout = DefaultPropagationTimeout
	}
	interval := s.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	deadline := time.Now().Add(timeout)
	servers, recursive := s.Resolvers, true
	if len(servers) == 0 {
		recursive = false
		ns, err := s.authoritative(ctx, rec.zone)
		if err != nil {
			return fmt.Errorf("dns-01 for %s: finding the servers of zone %s to check propagation: %w (set resolvers to the servers to ask)", c.Identifier.Value, strings.TrimSuffix(rec.zone, "."), err)
		}
		servers = ns
	}
	servers = withPort(servers)
	const hasIt = "has it"
	last := map[string]string{} // what each server answered last
	for {
		pending := 0
		for _, srv := range servers {
			if last[srv] == hasIt {
				continue
			}
			got, err := s.txt(ctx, srv, rec.fqdn, recursive)
			switch {
			case err != nil:
				last[srv] = err.Error()
			case slices.Contains(got, rec.value):
				last[srv] = hasIt
			case len(got) == 0:
				last[srv] = "no TXT record"
			default:
				last[srv] = fmt.Sprintf("other values %q", got)
			}
			if last[srv] != hasIt {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().Add(interval).After(deadline) {
			var b strings.Builder
			for i, srv := range servers {
				if i > 0 {
					b.WriteString("; ")
				}
				fmt.Fprintf(&b, "%s: %s", srv, last[srv])
			}
			return fmt.Errorf("dns-01 for %s: TXT %s not visible on every server after %v (%s): is the zone's primary updating its secondaries, or do resolvers name servers that do not see the update?",
				c.Identifier.Value, strings.TrimSuffix(rec.fqdn, "."), timeout, b.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// CleanUp removes the record Present added, and only that value.
func (s *Solver) CleanUp(ctx context.Context, c acme.Challenge) error {
	k := challengeKey(c)
	s.mu.Lock()
	rec, ok := s.records[k]
	delete(s.records, k)
	s.mu.Unlock()
	if !ok {
		return nil // Present failed before adding anything
	}
	del := libdns.TXT{Name: libdns.RelativeName(rec.fqdn, rec.zone), Text: rec.value}
	if _, err := s.Provider.DeleteRecords(ctx, rec.zone, []libdns.Record{del}); err != nil {
		return fmt.Errorf("dns-01 for %s: removing TXT %s: %w", c.Identifier.Value, strings.TrimSuffix(rec.fqdn, "."), err)
	}
	if s.Log != nil {
		s.Log.Info("dns-01 record removed", "name", c.Identifier.Value, "record", strings.TrimSuffix(rec.fqdn, "."))
	}
	return nil
}

// lookupServers are the servers asked for CNAME, SOA and NS records.
func (s *Solver) lookupServers() ([]string, error) {
	if len(s.Resolvers) > 0 {
		return withPort(s.Resolvers), nil
	}
	if len(s.systemResolvers) > 0 {
		return s.systemResolvers, nil
	}
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("no resolvers configured and none in /etc/resolv.conf (%v): set resolvers", err)
	}
	out := make([]string, len(cfg.Servers))
	for i, srv := range cfg.Servers {
		out[i] = net.JoinHostPort(srv, cfg.Port)
	}
	return out, nil
}

// followCNAME returns where name's CNAME chain ends (name itself when it
// has none).
func (s *Solver) followCNAME(ctx context.Context, name string) (string, error) {
	servers, err := s.lookupServers()
	if err != nil {
		return "", err
	}
	seen := []string{name}
	for range maxCNAME {
		r, err := query(ctx, servers, name, dns.TypeCNAME, true)
		if err != nil {
			return "", fmt.Errorf("dns-01: looking up a CNAME of %s: %w", strings.TrimSuffix(name, "."), err)
		}
		next := ""
		for _, rr := range r.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, name) {
				next = strings.ToLower(cn.Target)
			}
		}
		if next == "" {
			return name, nil
		}
		if slices.Contains(seen, next) {
			return "", fmt.Errorf("dns-01: CNAME loop at %s: %s", strings.TrimSuffix(next, "."), strings.Join(seen, " -> "))
		}
		seen = append(seen, next)
		name = next
	}
	return "", fmt.Errorf("dns-01: more than %d CNAMEs from %s: %s", maxCNAME, seen[0], strings.Join(seen, " -> "))
}

// findZone returns the zone fqdn belongs to: the nearest enclosing name
// with an SOA record in the answer (certmagic's FindZoneByFQDN's walk,
// without its process-wide cache).
func (s *Solver) findZone(ctx context.Context, fqdn string) (string, error) {
	servers, err := s.lookupServers()
	if err != nil {
		return "", err
	}
	var lastErr error
	for _, i := range dns.Split(fqdn) {
		domain := fqdn[i:]
		r, err := query(ctx, servers, domain, dns.TypeSOA, true)
		if err != nil {
			lastErr = err
			continue
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			return "", fmt.Errorf("dns-01: finding the zone of %s: %s answered %s for %s", strings.TrimSuffix(fqdn, "."), strings.Join(servers, ", "), dns.RcodeToString[r.Rcode], domain)
		}
		for _, rr := range r.Answer {
			if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, domain) {
				return strings.ToLower(domain), nil
			}
		}
	}
	if lastErr != nil {
		return "", fmt.Errorf("dns-01: finding the zone of %s (asked %s): %w", strings.TrimSuffix(fqdn, "."), strings.Join(servers, ", "), lastErr)
	}
	return "", fmt.Errorf("dns-01: no zone holds %s: %s know no SOA record above it", strings.TrimSuffix(fqdn, "."), strings.Join(servers, ", "))
}

// authoritative returns the addresses (port 53) of zone's name servers.
func (s *Solver) authoritative(ctx context.Context, zone string) ([]string, error) {
	servers, err := s.lookupServers()
	if err != nil {
		return nil, err
	}
	r, err := query(ctx, servers, zone, dns.TypeNS, true)
	if err != nil {
		return nil, err
	}
	port := s.authPort
	if port == "" {
		port = "53"
	}
	var out []string
	for _, rr := range r.Answer {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			a, err := query(ctx, servers, ns.Ns, t, true)
			if err != nil {
				continue
			}
			for _, rr := range a.Answer {
				switch v := rr.(type) {
				case *dns.A:
					out = append(out, net.JoinHostPort(v.A.String(), port))
				case *dns.AAAA:
					out = append(out, net.JoinHostPort(v.AAAA.String(), port))
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no addresses for the NS records of %s", zone)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// txt returns the TXT values server answers for name.
func (s *Solver) txt(ctx context.Context, server, name string, recursive bool) ([]string, error) {
	r, err := query(ctx, []string{server}, name, dns.TypeTXT, recursive)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("answered %s", dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, name) {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

// query asks each server in turn until one answers; UDP first, TCP when
// the answer is truncated.
func query(ctx context.Context, servers []string, name string, qtype uint16, recursive bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = recursive
	m.SetEdns0(4096, false)
	var errs []error
	for _, srv := range servers {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		r, _, err := (&dns.Client{Net: "udp", Timeout: queryTimeout}).ExchangeContext(qctx, m, srv)
		if err == nil && r.Truncated {
			r, _, err = (&dns.Client{Net: "tcp", Timeout: queryTimeout}).ExchangeContext(qctx, m, srv)
		}
		cancel()
		if err == nil {
			return r, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", srv, err))
	}
	return nil, errors.Join(errs...)
}

// withPort adds port 53 to addresses without one.
func withPort(servers []string) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
		}
		out[i] = s
	}
	return out
}
