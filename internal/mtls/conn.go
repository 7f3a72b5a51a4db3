package mtls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"time"
)

// connState caches one connection's chain verification: the chain is
// checked once per connection (and again if the site's trust changes on a
// reload), while revocation is checked on every request, so a certificate
// revoked mid-connection is refused from the next request on.
type connState struct {
	mu    sync.Mutex // guards the fields below
	v     *Verifier
	raw   []byte // the leaf the cached result is for
	res   Result
	until time.Time // the cached result holds until a certificate of its chain expires
}

type connKey struct{}

// WithConn returns ctx with a verification cache for one connection; use
// it as http.Server.ConnContext.
func WithConn(ctx context.Context) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// ForConn is WithConn for http.Server.ConnContext: it adds the cache only
// when c may carry a client certificate. A connection whose TLS handshake
// is complete without one gets ctx unchanged: Check has nothing to verify
// on it, and no certificate can come later (a Go TLS server neither
// renegotiates nor asks for one after the handshake), so the cache would
// be held for nothing for the connection's life (208 bytes, issue 17).
// A connection that is not a finished TLS connection gets the cache.
func ForConn(ctx context.Context, c net.Conn) context.Context {
	if s, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		if cs := s.ConnectionState(); cs.HandshakeComplete && len(cs.PeerCertificates) == 0 {
			return ctx
		}
	}
	return WithConn(ctx)
}

// Check verifies the client certificates of a request (leaf first, as in
// tls.ConnectionState.PeerCertificates), using the connection's cache in
// ctx when there is one.
func (v *Verifier) Check(ctx context.Context, certs []*x509.Certificate) Result {
	if len(certs) == 0 {
		return Result{Reason: ReasonNone}
	}
	now := time.Now()
	cs, _ := ctx.Value(connKey{}).(*connState)
	if cs == nil {
		return v.revoked(v.chain(certs, now))
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.v != v || !bytes.Equal(cs.raw, certs[0].Raw) || !now.Before(cs.until) {
		cs.v, cs.raw, cs.res = v, certs[0].Raw, v.chain(certs, now)
		if cs.res.OK {
			cs.res.ident = newIdentity(cs.res.Leaf)
		}
		cs.until = certs[0].NotAfter
		if cs.res.OK && cs.res.until.Before(cs.until) {
			// An intermediate (or the root) expires first: verify again
			// then, rather than admit the leaf on a chain no longer valid.
			cs.until = cs.res.until
		}
		if now.Before(certs[0].NotBefore) {
			cs.until = certs[0].NotBefore // re-check once it becomes valid
		}
	}
	return v.revoked(cs.res)
}
