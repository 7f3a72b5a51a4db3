package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"

	"github.com/tlsgate/tlsgate/internal/mtls"
	"golang.org/x/net/http/httpguts"
)

// Header hygiene: what becomes of a client's request headers on the way to
// an upstream, and of an upstream's response headers on the way back. Both
// paths apply these rules: the direct path as it writes the upstream
// request's head (appendHead in direct.go) and copies the answer, the
// ReverseProxy path in its Rewrite and ModifyResponse hooks
// (reverseproxy.go). TestDirectMatchesReverseProxy and FuzzDirect hold the
// two to the same bytes.
//
// Requests: hop-by-hop headers and the ones Connection lists are dropped
// (hopHeaders, connectionListed), and so is every header the gateway sets
// itself or that an upstream could take for the gateway's word
// (notForwarded: forwarding headers, the identity headers of every site,
// the request ID, underscore names, path overrides). X-Forwarded-For
// carries a chain only from a trusted proxy (forwardedFor). Trailers are
// held to the same rules (trailersFor). Upgrade is relayed for WebSocket
// only.
//
// Responses: hop-by-hop headers are dropped, the site's security headers
// and request ID replace any the upstream sent (isPolicyHeader), and an
// answer without a Content-Type is not given one (noSniff).

// notForwarded reports whether the client's request header k never
// reaches an upstream as sent: the gateway sets the forwarding headers,
// the identity headers and the request ID itself; Host and Content-Length
// are the transport's; and names with underscores are dropped, as nginx
// does by default, because CGI, WSGI and PHP upstreams read
// X_Forwarded_For as X-Forwarded-For, which would let a client forge a
// trusted header.
func (s *Site) notForwarded(k string) bool {
	switch k {
	case "Forwarded", "X-Request-Id", "Host", "Content-Length",
		// Part of an h2c upgrade, which is never relayed (see dropUpgrade).
		"Http2-Settings",
		// The client address nginx's realip module and many apps trust,
		// and path overrides that Symfony, Zend and IIS URL Rewrite take
		// instead of the request line: a public route's request would be
		// served as another path.
		"X-Real-Ip", "X-Original-Url", "X-Rewrite-Url",
		// Other client-address headers that frameworks trust (chi's
		// RealIP takes True-Client-IP first), set by CDNs in front of
		// their origins: from a client they are a forged address.
		"True-Client-Ip", "X-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip", "X-Cluster-Client-Ip":
		return true
	}
	if strings.HasPrefix(k, "X-Forwarded-") {
		// The whole family: For, Host and Proto are the gateway's own;
		// Prefix, Port, Ssl, Scheme, Server and the rest are trusted by
		// frameworks (Spring's ForwardedHeaderFilter, Rails) for the
		// scheme, port and base path of the request.
		return true
	}
	if strings.IndexByte(k, '_') >= 0 || s.idh.Has(k) {
		return true
	}
	if s.otherIdentity != nil {
		_, ok := s.otherIdentity[k]
		return ok
	}
	return false
}

// forwards reports whether the client's request header k goes to the
// upstream as sent; listed holds the names the request's Connection
// header lists (connectionListed).
func (s *Site) forwards(k string, listed []string) bool {
	return !s.notForwarded(k) && !slices.Contains(hopHeaders, k) && !slices.Contains(listed, k)
}

// relays reports whether the upstream's response header k goes to the
// client as sent; listed holds the names the response's Connection header
// lists.
func relays(k string, listed []string) bool {
	return !slices.Contains(hopHeaders, k) && !slices.Contains(listed, k) && !isPolicyHeader(k)
}

// hopHeaders are the hop-by-hop headers ReverseProxy removes in both
// directions (RFC 9110, 7.6.1, and the older RFC 2616 list).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// connectionListed returns the canonical header names listed in the
// Connection header of h: hop-by-hop too. They are appended to buf[:0]
// up to its capacity: ok is false for a longer list (on the direct path, a
// request with one takes the ReverseProxy path). A nil buf has no bound.
func connectionListed(h http.Header, buf []string) (names []string, ok bool) {
	names = buf[:0]
	for _, f := range h["Connection"] {
		for name := range strings.SplitSeq(f, ",") {
			if name = textproto.TrimString(name); name != "" {
				if buf != nil && len(names) == cap(names) {
					return names, false
				}
				names = append(names, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	return names, true
}

// dropUpgrade removes from a client's request headers h an Upgrade that
// asks for anything but WebSocket. An "Upgrade: h2c" that an upstream
// accepted would turn the connection into an HTTP/2 tunnel whose further
// requests no route check ever sees (the h2c smuggling class). The request
// goes on as a plain one; the hop-by-hop rules drop what its Connection
// header lists.
func dropUpgrade(h http.Header) {
	if up := h["Upgrade"]; up != nil && !webSocketUpgrade(up) {
		delete(h, "Upgrade")
	}
}

// webSocketUpgrade reports whether an Upgrade header asks for WebSocket
// and nothing else, the one protocol switch the gateway relays.
func webSocketUpgrade(values []string) bool {
	return len(values) == 1 && strings.EqualFold(strings.TrimSpace(values[0]), "websocket")
}

// safeHeaderText reports whether s has no control characters, so it cannot
// split or end a header line.
func safeHeaderText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// otherIdentityHeaders returns the canonical names among names (the
// identity headers of every site) that are not in own, the site's: they
// are removed from requests like the site's own (notForwarded). It
// returns nil when there are none.
func otherIdentityHeaders(names []string, own mtls.HeaderNames) map[string]struct{} {
	var other map[string]struct{}
	for _, k := range names {
		if k = http.CanonicalHeaderKey(k); k != "" && !own.Has(k) {
			if other == nil {
				other = map[string]struct{}{}
			}
			other[k] = struct{}{}
		}
	}
	return other
}

// trustSet is Options.TrustedProxies: the peers whose X-Forwarded-For
// chain and X-Request-ID are passed on.
type trustSet []netip.Prefix

func (t trustSet) contains(remoteAddr string) bool {
	if len(t) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// setForwarded sets X-Forwarded-For/-Host/-Proto on the outbound request.
// httputil.ReverseProxy has already removed the incoming Forwarded and
// X-Forwarded-For/-Host/-Proto headers, and rewrite every other client
// header notForwarded names (all of X-Forwarded-*, X-Real-Ip, path
// overrides); a chain from a trusted proxy is restored and extended,
// anything else a client sent is gone.
func (s *Site) setForwarded(pr *httputil.ProxyRequest) {
	pr.SetXForwarded()
	if xff, ok := s.forwardedFor(pr.In); ok {
		pr.Out.Header["X-Forwarded-For"] = []string{xff}
	}
}

// forwardedFor returns the X-Forwarded-For value for the upstream: the
// client's address, after the chain a trusted proxy passed on. ok is false
// when the client's address is unknown (then no header is sent).
func (s *Site) forwardedFor(in *http.Request) (xff string, ok bool) {
	ip, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		return "", false
	}
	if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 && s.trust.contains(in.RemoteAddr) {
		return strings.Join(prior, ", ") + ", " + ip, true
	}
	return ip, true
}

// trailersFor returns the trailer map for the upstream request: the
// client's declared trailer names that an upstream may get (values are
// filled in as the body ends), or nil when there are none. Trailers are
// held to the same rules as headers (identity and forwarding headers are
// the gateway's), and to RFC 9110, 6.5.1: no framing, routing,
// authentication or content fields.
func (s *Site) trailersFor(in http.Header) http.Header {
	var out http.Header
	for k := range in {
		if s.notForwarded(k) || !httpguts.ValidTrailerHeader(k) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		if out == nil {
			out = http.Header{}
		}
		out[k] = nil
	}
	return out
}

// trailerBody copies the client's trailer values into the upstream
// request's trailer map when the client's body ends: the client's map is
// filled only then. Only names already in to are copied.
type trailerBody struct {
	io.ReadCloser
	from, to http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		for k := range b.to {
			b.to[k] = b.from[k]
		}
	}
	return n, err
}

// securityHeaderNames are set by the gateway on every HTTPS response;
// copies from upstreams are dropped so the site's policy is the only one.
var securityHeaderNames = []string{"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"}

// securityHeaders returns the headers a site with the HSTS policy hsts
// sets on every HTTPS response (securityHeaderNames).
func securityHeaders(hsts HSTS) http.Header {
	return http.Header{
		"Strict-Transport-Security": {hsts.Header()},
		"X-Content-Type-Options":    {"nosniff"},
		// An API has no reason to be framed; DENY stops clickjacking of
		// anything HTML it returns.
		"X-Frame-Options": {"DENY"},
		"Referrer-Policy": {"strict-origin-when-cross-origin"},
	}
}

// setPolicyHeaders puts the site's own response headers on h, replacing
// any copies: the request ID (ids), and over TLS the security headers.
// Plain HTTP (the loopback sidecar) gets no HSTS or other browser policy,
// which belongs to HTTPS responses only. It runs again whenever net/http
// cleared h (after a 1xx answer was passed on).
func (s *Site) setPolicyHeaders(h http.Header, ids []string, overTLS bool) {
	if overTLS {
		for k, v := range s.security {
			h[k] = v
		}
	}
	h["X-Request-Id"] = ids
}

// isPolicyHeader reports whether the site sets response header k itself:
// the upstream's copy is dropped.
func isPolicyHeader(k string) bool {
	return k == "X-Request-Id" || slices.Contains(securityHeaderNames, k)
}

// dropPolicyHeaders removes from h, an upstream's response header, the
// headers the site sets itself (isPolicyHeader).
func dropPolicyHeaders(h http.Header) {
	for _, k := range securityHeaderNames {
		delete(h, k)
	}
	delete(h, "X-Request-Id")
}

// noSniff sets a nil Content-Type in dst, the client's response header
// map, when relayed (the upstream's header as it reaches the client) has
// none: an upstream answer without a Content-Type reaches the client
// without one. net/http would otherwise guess one from the first bytes written, an
// invention of the gateway's that contradicts the "X-Content-Type-Options:
// nosniff" it sends, and that depends on timing for streamed answers
// (whether the headers were flushed before the first bytes). nginx passes
// the upstream's headers as they are, too. A nil value in the header map
// is net/http's documented way to suppress it.
func noSniff(dst, relayed http.Header) {
	if _, ok := relayed["Content-Type"]; !ok {
		dst["Content-Type"] = nil
	}
}
