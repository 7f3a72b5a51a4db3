package proxy

import (
	"net/http"

	"github.com/tlsgate/tlsgate/internal/mtls"
)

// admitClient applies the route's client-certificate policy, on a site
// that trusts client CAs, and reports whether the request goes on. The
// Observer hears of every check that matters (a route that asks for a
// certificate, or a client that sent one). A require route refuses a
// client whose certificate failed the check or is not on its allow-list
// (403); otherwise the verified client is kept in inf for the upstream's
// identity headers.
func (s *Site) admitClient(w http.ResponseWriter, r *http.Request, rt *route, inf *info) bool {
	if s.verifier == nil || r.TLS == nil {
		return true
	}
	res := s.verifier.Check(r.Context(), r.TLS.PeerCertificates)
	if rt.mode == mtls.Require {
		if res.OK && !rt.allow.Permits(res.Leaf) {
			res = mtls.Result{Leaf: res.Leaf, Reason: mtls.ReasonNotAllowed}
		}
	}
	if obs := s.opts.Observer; obs != nil && (rt.mode != mtls.None || len(r.TLS.PeerCertificates) > 0) {
		if res.OK {
			obs.ClientCert(s.name, rt.path, "success", res.Leaf)
		} else {
			obs.ClientCert(s.name, rt.path, res.Reason, res.Leaf)
		}
	}
	if rt.mode == mtls.Require && !res.OK {
		s.refuseClient(w, r, rt, res, inf.id)
		return false
	}
	inf.client = &res
	return true
}

// refuseClient answers 403 on a require route: the client certificate is
// missing, untrusted, expired, revoked or not on the route's allow-list.
func (s *Site) refuseClient(w http.ResponseWriter, r *http.Request, rt *route, res mtls.Result, id string) {
	subject := ""
	if res.Leaf != nil {
		subject = res.Leaf.Subject.String()
	}
	s.opts.Log.Info("client certificate refused", "site", s.name, "route", rt.path, "reason", res.Reason,
		"subject", subject, "remote", r.RemoteAddr, "request_id", id)
	writeError(w, r, http.StatusForbidden, "client certificate required: "+res.Reason, id)
}
