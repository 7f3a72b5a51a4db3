// Package mtls decides who a TLS client is: it verifies client
// certificates against a site's trusted CAs and revocation lists, matches
// them against per-route allow-lists, and writes the verified identity into
// request headers for the upstream (after removing any copy the client
// sent).
//
// Verification happens at request time, not in the handshake, so that one
// host can serve public routes and routes that require a certificate, and
// a refused request learns why (no certificate, untrusted issuer, expired,
// revoked, not allowed for this route).
//
// It owns the client-auth modes (None, Optional, Require) that config,
// plan and proxy spell. It imports nothing of this module.
package mtls

import (
	"crypto/x509"
	"errors"
	"time"
)

// Mode is a route's client-authentication mode.
type Mode string

const (
	// None: no certificate is needed; one presented is still verified and
	// reported in the identity headers.
	None Mode = "none"
	// Optional: a presented certificate is verified and reported; a bad one
	// does not stop the request (X-Client-Verify: FAILED:reason).
	Optional Mode = "optional"
	// Require: only a valid, allowed certificate gets through; anything
	// else is answered 403.
	Require Mode = "require"
)

// Reasons a certificate is refused. They appear after "FAILED:" in
// X-Client-Verify and in 403 answers.
const (
	ReasonNone       = "no certificate"
	ReasonUntrusted  = "untrusted issuer"
	ReasonExpired    = "expired"
	ReasonNotYet     = "not yet valid"
	ReasonRevoked    = "revoked"
	ReasonNotAllowed = "not allowed for this route"
	ReasonInvalid    = "invalid certificate"
)

// Result is the outcome of verifying a client.
type Result struct {
	// Leaf is the client's certificate, nil when none was presented.
	Leaf *x509.Certificate
	// OK reports a certificate that chains to a trusted CA, is within its
	// validity period and is not revoked.
	OK bool
	// Reason says why OK is false (ReasonNone when no certificate).
	Reason string

	ident  *identity // header values, computed once per connection
	chains [][]link  // the verified chains, for the revocation check
	// until is when the verification stops holding: the latest, over the
	// verified chains, of the earliest NotAfter on each (an intermediate
	// may expire before the leaf). Zero unless OK.
	until time.Time
}

// identity holds the header values of a verified leaf, ready to share:
// a connection's requests all send the same ones, and computing them (PEM
// encoding, escaping, hashing) costs more than the rest of the check.
type identity struct {
	dn, uris, dns, cert, fingerprint []string
}

// Verify value of X-Client-Verify: SUCCESS, NONE or FAILED:reason.
func (r Result) Verify() string {
	switch {
	case r.OK:
		return "SUCCESS"
	case r.Leaf == nil:
		return "NONE"
	}
	return "FAILED:" + r.Reason
}

// Verifier checks client certificates for one site. It is safe for
// concurrent use.
type Verifier struct {
	auth  *authorities
	crls  *CRLSet
	inter []*x509.Certificate // see NewVerifierWith
}

// NewVerifier trusts cas, every one of them a trust anchor (an
// intermediate listed here is trusted without its root); crls may be nil.
func NewVerifier(cas []*x509.Certificate, crls *CRLSet) *Verifier {
	return &Verifier{auth: newAuthorities(cas), crls: crls}
}

// NewVerifierWith is NewVerifier with intermediates that complete the
// chains clients present: a client that sends only its leaf, signed by
// one of them, is verified as if it had sent the intermediate too. They
// are not trust anchors: a chain through one must still end at one of
// cas, and each is checked against the CRLs like any presented
// intermediate. The gateway passes the internal CA's intermediate, so
// that the NAME.pem `tlsgate ca issue` writes works as well as
// NAME.chain.pem.
func NewVerifierWith(cas, intermediates []*x509.Certificate, crls *CRLSet) *Verifier {
	return &Verifier{auth: newAuthorities(cas), crls: crls, inter: intermediates}
}

// Roots is the pool of trusted client CAs (for the TLS CertificateRequest).
func (v *Verifier) Roots() *x509.CertPool { return v.auth.pool }

// CAs returns the trusted client CA certificates. The caller must not
// modify them.
func (v *Verifier) CAs() []*x509.Certificate { return v.auth.certs }

// link is one certificate of a verified chain, with what its revocation
// lookup needs, computed once per connection.
type link struct {
	serial string
	// keys are the scopes a CRL entry revoking it is filed under: its
	// issuer's name and key, and that name under each trust anchor of the
	// chain.
	keys [][32]byte
	// issuer is the next certificate of the chain, whose key signed this
	// one (nil for a trusted certificate that ends the chain); a CRL kept
	// aside for its name is checked against it.
	issuer      *x509.Certificate
	issuerScope [32]byte
}

// chain verifies the chain of certs (leaf first) at now, without the
// revocation check.
func (v *Verifier) chain(certs []*x509.Certificate, now time.Time) Result {
	if len(certs) == 0 {
		return Result{Reason: ReasonNone}
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	for _, c := range v.inter {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.auth.pool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err == nil {
		r := Result{Leaf: leaf, OK: true}
		for _, ch := range chains {
			end := ch[0].NotAfter
			for _, c := range ch[1:] {
				if c.NotAfter.Before(end) {
					end = c.NotAfter
				}
			}
			if end.After(r.until) {
				r.until = end
			}
		}
		if v.crls != nil {
			r.chains = v.links(chains)
		}
		return r
	}
	var inv x509.CertificateInvalidError
	var unk x509.UnknownAuthorityError
	switch {
	case errors.As(err, &unk):
		return Result{Leaf: leaf, Reason: ReasonUntrusted}
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if now.Before(leaf.NotBefore) {
			return Result{Leaf: leaf, Reason: ReasonNotYet}
		}
		return Result{Leaf: leaf, Reason: ReasonExpired}
	}
	return Result{Leaf: leaf, Reason: ReasonInvalid}
}

// links lists, for each verified chain, the certificates a CRL may revoke:
// every one but a trust anchor that no other trusted certificate signed
// (a self-signed root).
func (v *Verifier) links(chains [][]*x509.Certificate) [][]link {
	out := make([][]link, 0, len(chains))
	for _, ch := range chains {
		anchors := v.auth.anchorsOf(ch)
		var ls []link
		for i, c := range ch {
			var issuers []*x509.Certificate
			var next *x509.Certificate
			if i+1 < len(ch) {
				next = ch[i+1]
				issuers = []*x509.Certificate{next}
			} else if e := v.auth.byDER[string(c.Raw)]; e != nil {
				issuers = e.issuers // an anchor that a trusted CA signed
			}
			if len(issuers) == 0 {
				continue
			}
			l := link{serial: string(c.SerialNumber.Bytes()), issuer: next}
			for _, p := range issuers {
				l.keys = append(l.keys, keyScope(p))
			}
			if next != nil {
				l.issuerScope = l.keys[0]
			}
			for _, a := range anchors {
				l.keys = append(l.keys, anchorScope(a, c.RawIssuer))
			}
			ls = append(ls, l)
		}
		out = append(out, ls)
	}
	return out
}

// revoked applies the revocation lists to a chain that verified. Every
// certificate of a chain is checked (leaf and intermediates, as nginx's
// ssl_crl with CRL_CHECK_ALL), and the client is refused when every chain
// that verified has a revoked certificate.
//
// One clean chain is enough, as in RFC 5280 path validation: a client
// that presents an extra, cross-signed path only gets through if a
// trusted CA still vouches for every certificate of that path. A revoked
// leaf stays revoked on every path, since its entry is filed under its
// issuer's name and key, which a cross-signed copy of the issuer shares.
func (v *Verifier) revoked(r Result) Result {
	if !r.OK || v.crls == nil {
		return r
	}
	// A result that verified has at least one chain; one without any is
	// refused rather than let through unchecked.
	for i := range r.chains {
		if !v.chainRevoked(r.chains[i]) {
			return r
		}
	}
	return Result{Leaf: r.Leaf, Reason: ReasonRevoked}
}

func (v *Verifier) chainRevoked(ls []link) bool {
	for i := range ls {
		if v.crls.revoked(&ls[i]) {
			return true
		}
	}
	return false
}
