package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tlsgate/tlsgate/internal/loopback"
)

// hostGuard stops DNS rebinding against a listener that has no
// authentication of its own (the admin listener) or that lends its
// identity to whoever reaches it (the sidecar's client certificate).
//
// The attack: a page on attacker.example, open in a browser on this
// machine, has the name attacker.example re-resolve to 127.0.0.1. The
// browser's same-origin policy then lets the page read what
// http://attacker.example:PORT/ answers, and the listener on 127.0.0.1:PORT
// answers it. The one thing the listener can see is the Host header, which
// carries the attacker's name. So a request is served only when its Host
// is:
//
//   - an IP literal (v4, or v6 in brackets): rebinding needs a name the
//     attacker controls, and no browser sends an IP for a name;
//   - localhost or a name under .localhost, which RFC 6761 reserves for
//     loopback and browsers resolve without DNS;
//   - a name the operator listed (admin.hosts, proxy --allow-host), or the
//     host of the listen address when that is a name.
//
// Host is compared case-insensitively, without a trailing dot or port. An
// empty Host (HTTP/1.0 without the header) is served: browsers always send
// one, so it cannot come from a rebinding page. Anything else gets 421
// Misdirected Request, before any other handler runs: the request was not
// meant for this listener, which is what 421 says (RFC 9110 15.5.20), and
// the gateway's main listener answers a Host it does not serve the same
// way. 403 would suggest that some credential could make it pass.
type hostGuard struct {
	names map[string]bool // normalised extra names; read-only after newHostGuard
	allow string          // how an operator admits another name, for the refusal
	next  http.Handler
}

// newHostGuard guards next. listen is the listener's address; names are
// the extra names admitted; allow says how to admit another, e.g. "add it
// to admin.hosts".
func newHostGuard(next http.Handler, listen string, names []string, allow string) *hostGuard {
	g := &hostGuard{names: map[string]bool{}, allow: allow, next: next}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		if _, err := netip.ParseAddr(h); err != nil {
			g.names[normalizeHost(h)] = true
		}
	}
	for _, n := range names {
		g.names[normalizeHost(n)] = true
	}
	return g
}

func (g *hostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	if g.allowed(host) {
		g.next.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusMisdirectedRequest)
	fmt.Fprintf(w, "misdirected request: host %q is not a name of this listener (a guard against DNS rebinding); "+
		"IP addresses and localhost are always accepted; to accept this name, %s\n", host, g.allow)
}

func (g *hostGuard) allowed(host string) bool {
	if host == "" || loopback.Name(host) || g.names[host] {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// hostOnly is the normalised host of a Host header: without port or IPv6
// brackets, lower case, without a trailing dot.
func hostOnly(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	return normalizeHost(h)
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}
