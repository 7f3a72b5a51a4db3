package tlsgate

import (
	"crypto/x509"
	"net/http"

	"github.com/tlsgate/tlsgate/internal/mtls"
	"github.com/tlsgate/tlsgate/internal/proxy"
)

// ClientIdentity is what the server verified of a request's client
// certificate.
type ClientIdentity struct {
	// Certificate is the client's leaf certificate; nil when none was
	// presented.
	Certificate *x509.Certificate
	// Verified reports a certificate that chains to one of the server's
	// ClientCAs, is within its validity period and is not revoked.
	Verified bool
	// Reason says why Verified is false: "no certificate", "expired",
	// "revoked", "unknown authority", ...; empty when verified.
	Reason string
}

// Identity returns the client-certificate verification of r, made by the
// server before the handler was called; ok is false when the server
// trusts no client CAs (Server.ClientCAs unset), so nothing was verified.
// The same verdict reaches the handler as X-Client-Verify,
// X-Client-DN, X-Client-SAN-URI, X-Client-SAN-DNS, X-Client-Cert and
// X-Client-Fingerprint request headers (a client's own copies are
// removed), as tlsgate sends them to upstreams.
func Identity(r *http.Request) (id ClientIdentity, ok bool) {
	res, ok := proxy.Identity(r.Context())
	if !ok {
		return ClientIdentity{}, false
	}
	id = ClientIdentity{Certificate: res.Leaf, Verified: res.OK}
	if !res.OK {
		id.Reason = res.Reason
	}
	return id, true
}

// Allow restricts which verified clients a RequireClientCert admits. Any
// match admits; an entry ending in "*" matches by prefix
// ("spiffe://example.org/*" admits a SPIFFE trust domain). The zero Allow
// admits every verified client.
type Allow struct {
	// Subjects are RFC 4514 subjects, such as "CN=payments,O=Example".
	Subjects []string
	// DNSNames are DNS SANs.
	DNSNames []string
	// URIs are URI SANs.
	URIs []string
}

// RequireClientCert returns middleware that lets a request through to
// next only with a verified client certificate that allow admits; any
// other gets 403 with a JSON body naming the reason
// ({"error":"client certificate required: expired","status":403,...}).
// It needs a Server with ClientCAs: on one without, it refuses every
// request, so that a forgotten ClientCAs fails closed.
func RequireClientCert(allow Allow) func(next http.Handler) http.Handler {
	a := mtls.Allow{Subjects: allow.Subjects, DNS: allow.DNSNames, URIs: allow.URIs}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res, ok := proxy.Identity(r.Context())
			reason := ""
			switch {
			case !ok:
				reason = "the server trusts no client CAs (set Server.ClientCAs)"
			case !res.OK:
				reason = res.Reason
			case !a.Permits(res.Leaf):
				reason = mtls.ReasonNotAllowed
			}
			if reason != "" {
				proxy.WriteError(w, r, http.StatusForbidden, "client certificate required: "+reason)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
