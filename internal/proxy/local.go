package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/tlsgate/tlsgate/internal/mtls"
)

// serveLocal hands a request that passed every check of ServeHTTP to the
// route's in-process handler. What the handler sees follows what an
// upstream would, and no more than the gateway checked:
//
//   - headers the gateway owns (identity headers under any site's names,
//     the X-Forwarded-* family, X-Real-Ip and the other client-address
//     headers, ...) are removed from the client's request and trailers,
//     and the gateway's own identity headers set, as copies: a handler
//     that reads X-Client-Verify reads the gateway's verdict, never a
//     client's, and a handler that edits it changes no other request;
//   - the request target is the normalised one everywhere: URL.Path,
//     URL.RawPath and RequestURI agree, and URL has no scheme or host left
//     from an absolute-form target;
//   - an encoded slash (%2F) is refused: a handler's router (ServeMux
//     matches the escaped path) and a file server (which opens the
//     decoded one) would otherwise see two different paths, and the
//     route policy in front of them a third;
//   - the verification result is in the context (Identity), the body read
//     is bounded by Options.BodyRead, and X-Request-Id is the gateway's.
func (s *Site) serveLocal(w http.ResponseWriter, r *http.Request, rt *route, inf *info) {
	if strings.Contains(r.URL.RawPath, "%2F") || strings.Contains(r.URL.RawPath, "%2f") {
		writeError(w, r, http.StatusBadRequest, "the request path is refused: an encoded slash (%2F) in the path", inf.id)
		return
	}
	for k := range r.Header {
		if s.notForwarded(k) {
			delete(r.Header, k)
		}
	}
	s.filterTrailers(r.Trailer) // the names the client declared
	r.Header["X-Request-Id"] = []string{inf.id}
	r.URL.Scheme, r.URL.Host = "", ""
	r.RequestURI = r.URL.RequestURI()
	ctx := r.Context()
	if inf.client != nil {
		s.idh.Set(r.Header, *inf.client)
		for _, k := range s.idh.Configured() {
			r.Header[k] = slices.Clone(r.Header[k]) // the verifier's values are shared
		}
		ctx = context.WithValue(ctx, identityKey{}, inf.client)
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &localBody{ReadCloser: &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: s.opts.BodyRead, inf: inf},
			site: s, trailer: r.Trailer}
	}
	lw := &localWriter{ResponseWriter: w}
	var hw http.ResponseWriter = lw
	if r.ProtoMajor == 1 {
		hw = localHijacker{lw}
	}
	rt.local.ServeHTTP(hw, r.WithContext(ctx))
	if !lw.wrote && !lw.hijacked {
		// What net/http sends for a handler that wrote nothing, made
		// explicit so the access log and metrics count it as such.
		lw.WriteHeader(http.StatusOK)
	}
}

// filterTrailers removes from a request's trailers the headers the
// gateway owns, as filterTrailers does for upstreams (trailersFor).
func (s *Site) filterTrailers(t http.Header) {
	for k := range t {
		if s.notForwarded(k) {
			delete(t, k)
		}
	}
}

// localBody filters the trailers once the body is read to its end, when
// net/http fills them in.
type localBody struct {
	io.ReadCloser
	site    *Site
	trailer http.Header
}

func (b *localBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.site.filterTrailers(b.trailer)
	}
	return n, err
}

// localWriter is the in-process handler's ResponseWriter: the gateway's
// writer, with the interfaces handlers assert (http.Flusher; over
// HTTP/1.1 http.Hijacker too, through localHijacker) whatever wraps it,
// and a record of whether anything was answered.
type localWriter struct {
	http.ResponseWriter
	wrote, hijacked bool
}

func (w *localWriter) WriteHeader(code int) {
	if code >= 200 {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *localWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Flush sends what is buffered (server-sent events).
func (w *localWriter) Flush() {
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// localHijacker is localWriter on HTTP/1.1, where a connection can be
// taken over: only there does the handler's writer assert as a Hijacker.
type localHijacker struct{ *localWriter }

// Hijack takes over the HTTP/1.1 connection (WebSockets). The handler
// then owns it: the gateway's timeouts and graceful shutdown no longer
// apply to it.
func (w localHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

func (w *localWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
