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

	ident *identity // header values, computed once per connection
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
	roots *x509.CertPool
	crls  *CRLSet
}

// NewVerifier trusts roots; crls may be nil.
func NewVerifier(roots *x509.CertPool, crls *CRLSet) *Verifier {
	return &Verifier{roots: roots, crls: crls}
}

// Roots is the pool of trusted client CAs (for the TLS CertificateRequest).
func (v *Verifier) Roots() *x509.CertPool { return v.roots }

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
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err == nil {
		return Result{Leaf: leaf, OK: true}
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

// revoked applies the revocation lists to a chain that verified.
func (v *Verifier) revoked(r Result) Result {
	if r.OK && v.crls != nil && v.crls.Revoked(r.Leaf) {
		return Result{Leaf: r.Leaf, Reason: ReasonRevoked}
	}
	return r
}
