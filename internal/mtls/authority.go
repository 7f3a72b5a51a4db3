package mtls

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
)

// authorities indexes a site's trusted client CAs: every certificate of
// its client_auth.ca files (each one a trust anchor, as in nginx's
// ssl_client_certificate) and the internal CA's root. It is immutable.
type authorities struct {
	certs []*x509.Certificate
	pool  *x509.CertPool
	byDER map[string]*authority // string(Raw) -> entry
}

// authority is one trusted CA certificate.
type authority struct {
	cert *x509.Certificate
	// issuers are the other trusted certificates whose key signed this one:
	// the certificates a CRL revoking it may come from when it ends a chain.
	issuers []*x509.Certificate
	// above holds the IDs of this certificate and of every trusted
	// certificate above it: the trust anchors it stands for.
	above [][32]byte
}

func newAuthorities(cas []*x509.Certificate) *authorities {
	a := &authorities{certs: cas, pool: x509.NewCertPool(), byDER: map[string]*authority{}}
	for _, c := range cas {
		a.pool.AddCert(c)
		if a.byDER[string(c.Raw)] == nil {
			a.byDER[string(c.Raw)] = &authority{cert: c, issuers: a.signersOf(c)}
		}
	}
	for _, e := range a.byDER {
		e.above = a.closure(e.cert)
	}
	return a
}

// signersOf returns the trusted certificates, other than c, whose key
// signed c.
func (a *authorities) signersOf(c *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, p := range a.certs {
		if !bytes.Equal(p.Raw, c.Raw) && bytes.Equal(p.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(p) == nil {
			out = append(out, p)
		}
	}
	return out
}

// closure returns the IDs of c (when trusted) and of every trusted
// certificate above it.
func (a *authorities) closure(c *x509.Certificate) [][32]byte {
	var out [][32]byte
	seen := map[string]bool{}
	queue := []*x509.Certificate{c}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		if seen[string(x.Raw)] {
			continue
		}
		seen[string(x.Raw)] = true
		if a.byDER[string(x.Raw)] != nil {
			out = append(out, certID(x))
		}
		queue = append(queue, a.signersOf(x)...)
	}
	return out
}

// anchorsOf returns the trust anchors a verified chain stands for: every
// trusted certificate in it and every trusted certificate above those.
func (a *authorities) anchorsOf(chain []*x509.Certificate) [][32]byte {
	var out [][32]byte
	for _, c := range chain {
		if e := a.byDER[string(c.Raw)]; e != nil {
			for _, id := range e.above {
				if !containsID(out, id) {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

func containsID(ids [][32]byte, id [32]byte) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func certID(c *x509.Certificate) [32]byte { return sha256.Sum256(c.Raw) }

// revKey is what a revocation list entry is filed under: a scope naming
// the CA that may revoke, and the serial number.
type revKey struct {
	scope  [32]byte
	serial string
}

// keyScope is the scope of a CA identified by its name and key: a CRL
// whose signature that key verifies applies to every certificate that key
// signed under that name, whichever path the client presents.
func keyScope(ca *x509.Certificate) [32]byte {
	return scope("key", ca.RawSubject, ca.RawSubjectPublicKeyInfo)
}

// anchorScope is the scope of a CA name under one trust anchor: a CRL
// signed by a CA of that name which chains to the anchor applies to
// certificates issued under that name by another key chaining to the same
// anchor (RFC 5280 6.3.3 (f)), which is how an intermediate renewed with a
// new key still revokes what the previous one issued.
func anchorScope(anchor [32]byte, name []byte) [32]byte {
	return scope("anchor", anchor[:], name)
}

func scope(kind string, parts ...[]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
