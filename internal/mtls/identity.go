package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"iter"
	"net/http"
	"slices"
	"strings"
)

// Allow is a route's allow-list. A certificate is allowed when any entry
// matches: Subjects against its subject (RFC 4514 string, as "CN=payments,O=Example"),
// DNS against its DNS SANs, URIs against its URI SANs. An entry ending in
// "*" matches by prefix, so "spiffe://example.org/*" admits a whole SPIFFE
// trust domain. An empty Allow admits every verified certificate.
type Allow struct {
	Subjects []string
	DNS      []string
	URIs     []string
}

// Empty reports whether the list has no entries.
func (a Allow) Empty() bool { return len(a.Subjects)+len(a.DNS)+len(a.URIs) == 0 }

// Permits reports whether leaf matches the list.
func (a Allow) Permits(leaf *x509.Certificate) bool {
	if a.Empty() {
		return true
	}
	if matchAny(a.Subjects, leaf.Subject.String()) {
		return true
	}
	for _, d := range leaf.DNSNames {
		if matchAny(a.DNS, d) {
			return true
		}
	}
	for _, u := range leaf.URIs {
		if matchAny(a.URIs, u.String()) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, v string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(v, prefix) {
				return true
			}
		} else if p == v {
			return true
		}
	}
	return false
}

// HeaderNames are the request headers that carry the client identity to
// upstreams. The zero value of a field means its default name.
type HeaderNames struct {
	Verify      string // X-Client-Verify: SUCCESS, NONE or FAILED:reason
	DN          string // X-Client-DN: subject, RFC 4514
	SANURI      string // X-Client-SAN-URI: URI SANs, comma-separated
	SANDNS      string // X-Client-SAN-DNS: DNS SANs, comma-separated
	Cert        string // X-Client-Cert: PEM, URL-encoded like nginx's $ssl_client_escaped_cert
	Fingerprint string // X-Client-Fingerprint: SHA-256 of the DER, lower-case hex
}

// WithDefaults fills unset names.
func (n HeaderNames) WithDefaults() HeaderNames {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
		*s = http.CanonicalHeaderKey(*s)
	}
	def(&n.Verify, "X-Client-Verify")
	def(&n.DN, "X-Client-DN")
	def(&n.SANURI, "X-Client-SAN-URI")
	def(&n.SANDNS, "X-Client-SAN-DNS")
	def(&n.Cert, "X-Client-Cert")
	def(&n.Fingerprint, "X-Client-Fingerprint")
	return n
}

func (n HeaderNames) all() [6]string {
	return [6]string{n.Verify, n.DN, n.SANURI, n.SANDNS, n.Cert, n.Fingerprint}
}

// Configured returns the names set in n (empty fields, which take the
// defaults, left out), each once.
func (n HeaderNames) Configured() []string {
	var out []string
	for _, k := range n.all() {
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// defaultNames are stripped even when a site renames its headers: an
// upstream (or a second reader behind it) may still trust the usual names.
var defaultNames = HeaderNames{}.WithDefaults()

// Strip removes every identity header from h, under the configured and the
// default names: a client's copy must never reach an upstream, whatever
// the route's mode. It is the header-map form of Has, which the proxy
// applies as it copies a request's headers.
func (n HeaderNames) Strip(h http.Header) {
	for _, k := range n.all() {
		delete(h, k)
	}
	for _, k := range defaultNames.all() {
		delete(h, k)
	}
}

// Has reports whether the canonical header name k is an identity header
// under the configured or the default names: one a client must not send.
func (n HeaderNames) Has(k string) bool {
	for _, name := range n.all() {
		if k == name {
			return true
		}
	}
	for _, name := range defaultNames.all() {
		if k == name {
			return true
		}
	}
	return false
}

// Set writes the identity of r into h, after Strip. Identity fields are
// written only for a verified certificate: an upstream never sees a subject
// the gateway did not verify. The values' slices may be shared between
// requests of one connection: treat them as read-only.
func (n HeaderNames) Set(h http.Header, r Result) {
	for k, v := range n.Fields(r) {
		h[k] = v
	}
}

// Fields yields the identity headers of r, as Set writes them, for
// writers that put headers on the wire without a header map.
func (n HeaderNames) Fields(r Result) iter.Seq2[string, []string] {
	return func(yield func(string, []string) bool) {
		if !yield(n.Verify, verifyValue(r)) || !r.OK {
			return
		}
		id := r.ident
		if id == nil {
			id = newIdentity(r.Leaf)
		}
		if !yield(n.DN, id.dn) {
			return
		}
		if id.uris != nil && !yield(n.SANURI, id.uris) {
			return
		}
		if id.dns != nil && !yield(n.SANDNS, id.dns) {
			return
		}
		if yield(n.Cert, id.cert) {
			yield(n.Fingerprint, id.fingerprint)
		}
	}
}

var (
	successValue = []string{"SUCCESS"}
	noneValue    = []string{"NONE"}
)

func verifyValue(r Result) []string {
	switch {
	case r.OK:
		return successValue
	case r.Leaf == nil:
		return noneValue
	}
	return []string{r.Verify()}
}

func newIdentity(leaf *x509.Certificate) *identity {
	id := &identity{dn: []string{leaf.Subject.String()}, cert: []string{EscapedPEM(leaf.Raw)}}
	// The lists are comma-separated: a name must not be able to hold the
	// separator, or a certificate for "spiffe://evil/x,spiffe://org/pay"
	// reads as two identities, one it does not hold, to an upstream that
	// splits the list.
	if len(leaf.URIs) > 0 {
		uris := make([]string, len(leaf.URIs))
		for i, u := range leaf.URIs {
			uris[i] = listSafeURI(u.String())
		}
		id.uris = []string{strings.Join(uris, ",")}
	}
	var dns []string
	for _, n := range leaf.DNSNames {
		if hostChars(n) {
			dns = append(dns, n)
		}
	}
	if len(dns) > 0 {
		id.dns = []string{strings.Join(dns, ",")}
	}
	sum := sha256.Sum256(leaf.Raw)
	id.fingerprint = []string{hex.EncodeToString(sum[:])}
	return id
}

// listSafeURI percent-encodes in u what could split or end a list entry
// or a header value: commas, spaces, controls and non-ASCII bytes. %2C and
// "," are different URIs, so an encoded one never matches the identity
// whose name it imitates.
func listSafeURI(u string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c == ',' || c <= ' ' || c >= 0x7f {
			if b.Len() == 0 {
				b.WriteString(u[:i])
			}
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		} else if b.Len() > 0 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return u
	}
	return b.String()
}

// hostChars reports whether a DNS SAN holds only what host names (and
// wildcards) are made of; others are left out of the identity list.
func hostChars(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '*') {
			return false
		}
	}
	return true
}

// EscapedPEM returns der as PEM, percent-encoded the way nginx encodes
// $ssl_client_escaped_cert: every byte except ALPHA, DIGIT, "-", ".", "_"
// and "~" becomes %XX (upper-case hex).
func EscapedPEM(der []byte) string {
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p) * 3 / 2)
	for _, c := range p {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
