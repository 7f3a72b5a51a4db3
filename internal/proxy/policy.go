package proxy

import (
	"net/http"

	"github.com/tlsgate/tlsgate/internal/mtls"
)

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
