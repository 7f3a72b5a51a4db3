package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"strings"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/acme/ondemand"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/storage"
)

// On-demand TLS, certmagic's way: the site's certmagic.Config has an
// OnDemandConfig whose DecisionFunc is the site's ondemand.Gate. For a
// name not in the cache, certmagic asks the DecisionFunc, then loads the
// name from storage or, failing that, orders it while the handshake
// waits (one order per name at a time: certmagic's obtainCertWaitChans).
// A cached on-demand certificate is renewed from a handshake when due,
// after asking the DecisionFunc again; certmagic's background maintenance
// leaves on-demand certificates alone.
//
// What certmagic does not do, and this file adds: it no longer limits
// the rate or number of on-demand orders (the gate does), and it retries
// a failed order inside the same handshake after a minute, and again,
// for up to 180 s; here an on-demand order is one attempt: its failure
// ends the handshake at once and starts the name's back-off.

// onDemand makes ic the on-demand config of site. m.mu is held.
func (m *Manager) onDemand(ic *issuerConfig, site string) {
	ic.site = site
	ic.tickets = map[string]*ondemand.Ticket{}
	if m.opts.OnDemand != nil {
		ic.obs = m.opts.OnDemand(site)
	}
	var obs ondemand.Observer
	if ic.obs != nil {
		obs = ic.obs
	}
	gate, err := ondemand.New(*ic.settings.OnDemand, obs, m.log.With("site", site))
	if err != nil {
		// config.Validate refuses such a policy; fail closed regardless.
		m.log.Error("on-demand TLS is off for this site: every new name is refused", "site", site, "err", err)
	}
	ic.gate = gate
	ic.magic.OnDemand = &certmagic.OnDemandConfig{
		DecisionFunc: func(ctx context.Context, name string) error { return m.decide(ctx, ic, name) },
	}
}

// errNoGate refuses every name of a site whose gate could not be made.
var errNoGate = errors.New("on-demand TLS is misconfigured for this site")

// decide is the DecisionFunc of ic.
func (m *Manager) decide(ctx context.Context, ic *issuerConfig, name string) error {
	if ic.gate == nil {
		return errNoGate
	}
	t, err := ic.gate.Decide(ctx, name, ic.held(ctx, name))
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.dynamic[name] = ic
	m.mu.Unlock()
	if t != nil {
		ic.ticketsMu.Lock()
		if old := ic.tickets[name]; old != nil {
			old.Done(false) // never ended (the order did not start): free its slot
		}
		ic.tickets[name] = t
		ic.ticketsMu.Unlock()
		if h, ok := ctx.Value(ticketKey{}).(*ticketHolder); ok {
			h.t = t
		}
	}
	return nil
}

// ticketKey carries a handshake's ticketHolder: the ticket of the order
// its own decision admitted, if any. Only that one is the handshake's to
// end: one that waited for another handshake's order of the same name
// and gave up (its context ended, certmagic's 2-minute wait ran out)
// must not end that order's ticket while the order runs on.
type ticketKey struct{}

type ticketHolder struct{ t *ondemand.Ticket }

// held reports whether storage has a certificate for name from ic's CA:
// its certificate, key and metadata, as certmagic requires before it
// loads rather than orders (so that a held name never becomes an order
// past the gate's limits). A storage error counts as not held: the name
// is then decided as new, which fails closed.
func (ic *issuerConfig) held(ctx context.Context, name string) bool {
	issuer := ic.issuer.IssuerKey()
	for _, k := range []string{certmagic.StorageKeys.SiteCert(issuer, name),
		certmagic.StorageKeys.SitePrivateKey(issuer, name), certmagic.StorageKeys.SiteMeta(issuer, name)} {
		if !ic.magic.Storage.Exists(ctx, k) {
			return false
		}
	}
	return true
}

// release ends name's admitted order, if one is open.
func (ic *issuerConfig) release(name string, ok bool) {
	ic.ticketsMu.Lock()
	t := ic.tickets[name]
	delete(ic.tickets, name)
	ic.ticketsMu.Unlock()
	t.Done(ok)
}

// releaseTicket ends t, name's order admitted by this handshake (nil:
// none was).
func (ic *issuerConfig) releaseTicket(name string, t *ondemand.Ticket, ok bool) {
	if t == nil {
		return
	}
	ic.ticketsMu.Lock()
	if ic.tickets[name] == t {
		delete(ic.tickets, name)
	}
	ic.ticketsMu.Unlock()
	t.Done(ok)
}

// cancelKey carries the cancel function of an on-demand handshake's
// context, so that a failed order ends the handshake (see onOrderFailed).
type cancelKey struct{}

// onOrderFailed is told of a failed on-demand order: it ends the order's
// attempt, so certmagic does not retry it within the handshake, and
// starts the name's back-off.
func (ic *issuerConfig) onOrderFailed(ctx context.Context, name string) {
	if h, ok := ctx.Value(ticketKey{}).(*ticketHolder); ok {
		ic.releaseTicket(name, h.t, false)
	} else {
		ic.release(name, false)
	}
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

// onDemandCertificate is GetCertificate of an on-demand site.
func (s *Source) onDemandCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalize(hello.ServerName)
	if name == "" {
		return nil, errors.New("no server name (SNI): an on-demand site cannot tell which certificate to obtain")
	}
	if isChallenge(hello) {
		return s.ic.magic.GetCertificate(hello)
	}
	if !hostName(strings.ToLower(hello.ServerName)) {
		// certmagic would map it (IDNA, spaces trimmed) to another name,
		// ask for and order that one, and the ticket of the order would
		// never be given back under this one; or order a wildcard.
		return nil, fmt.Errorf("server name (SNI) %q is not a DNS host name (ASCII letters, digits and hyphens; A-labels for IDNs): no certificate is obtained for it", hello.ServerName)
	}
	parent := hello.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	ctx = context.WithValue(ctx, cancelKey{}, context.CancelFunc(cancel))
	own := &ticketHolder{}
	ctx = context.WithValue(ctx, ticketKey{}, own)
	cert, err := s.ic.magic.GetCertificateWithContext(ctx, hello)
	ok := err == nil && cert != nil && cert.Leaf != nil && certs.Covers(cert.Leaf, name)
	s.ic.releaseTicket(name, own.t, ok)
	if err == nil && !ok {
		err = errors.New("no certificate for this name in the cache")
	}
	if err != nil {
		return nil, fmt.Errorf("no certificate for %s: %w", name, err)
	}
	return cert, nil
}

// hostName reports whether name (lower case) is a DNS host name as SNI
// carries it (RFC 6066 section 3, RFC 5890 A-labels): labels of 1 to 63
// letters, digits and inner hyphens, 253 characters in all, no wildcard,
// not an IP address. certmagic keeps such a name as it is, so the name
// asked about, ordered and released is the client's.
func hostName(name string) bool {
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return false
	}
	for l := range strings.SplitSeq(name, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// OnDemand reports whether the source obtains certificates on demand
// (its hosts are then patterns, not certificate names).
func (s *Source) OnDemand() bool { return s.ic.gate != nil }

// Held lists the names with a certificate in store from the CA at
// directory: on-demand names are known only from there.
func Held(ctx context.Context, store storage.Storage, directory string) ([]string, error) {
	issuer := (&certmagic.ACMEIssuer{CA: directory}).IssuerKey()
	keys, err := store.List(ctx, certmagic.StorageKeys.CertsPrefix(issuer), false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var names []string
	for _, k := range keys {
		names = append(names, path.Base(k))
	}
	return names, nil
}
