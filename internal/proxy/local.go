package proxy

import (
	"context"
	"net/http"

	"github.com/tlsgate/tlsgate/internal/mtls"
)

// serveLocal hands a request that passed every check of ServeHTTP to the
// route's in-process handler. What the handler sees follows what an
// upstream would: headers the gateway owns (identity headers under any
// site's names, the X-Forwarded-* family, X-Real-Ip, ...) are removed from
// the client's request and the gateway's own identity headers set, so a
// handler that reads X-Client-Verify reads the gateway's verdict, never a
// client's. The verification result is also in the context (Identity),
// the body read is bounded by Options.BodyRead, and X-Request-Id is the
// gateway's.
func (s *Site) serveLocal(w http.ResponseWriter, r *http.Request, rt *route, inf *info) {
	for k := range r.Header {
		if s.notForwarded(k) {
			delete(r.Header, k)
		}
	}
	r.Header["X-Request-Id"] = inf.ids
	ctx := r.Context()
	if inf.client != nil {
		s.idh.Set(r.Header, *inf.client)
		ctx = context.WithValue(ctx, identityKey{}, inf.client)
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: s.opts.BodyRead, inf: inf}
	}
	rt.local.ServeHTTP(w, r.WithContext(ctx))
}

type identityKey struct{}

// Identity returns the client-certificate verification of a request
// served by an in-process route, and false when its site trusts no
// client CAs (no verification was made).
func Identity(ctx context.Context) (mtls.Result, bool) {
	res, ok := ctx.Value(identityKey{}).(*mtls.Result)
	if !ok {
		return mtls.Result{}, false
	}
	return *res, true
}

// WriteError answers r as the gateway answers what it refuses: status, a
// JSON body {"error":msg,"status":...,"request_id":...} with the
// gateway's request ID, no caching, and Connection: close when an
// HTTP/1.1 request body was left unread. For in-process handlers'
// middleware (tlsgate.RequireClientCert).
func WriteError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeError(w, r, status, msg, r.Header.Get("X-Request-Id"))
}
