package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"sync"
)

// The ReverseProxy path: every request the direct path does not take
// (bodies, upgrades, https upstreams, anything unusual) goes through the
// route's httputil.ReverseProxy, which handles hop-by-hop headers,
// trailers, upgrades and streaming. The hooks below apply the gateway's
// own rules (headers.go) on the way.

// newReverseProxy returns the route's httputil.ReverseProxy, sending
// through its upstream pool.
func (r *route) newReverseProxy() *httputil.ReverseProxy {
	s := r.site
	return &httputil.ReverseProxy{
		Rewrite:        r.rewrite,
		Transport:      r.pool,
		ErrorHandler:   s.upstreamError,
		ModifyResponse: s.modifyResponse,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelWarn),
	}
}

// serveProxied sends r upstream through the route's ReverseProxy.
func (s *Site) serveProxied(w http.ResponseWriter, r *http.Request, rt *route, ctx *infoCtx) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: s.opts.BodyRead, inf: &ctx.info}
	}
	var rctx context.Context = ctx
	if !rt.direct || r.Header["Upgrade"] != nil {
		// The fallback http.Transport may carry it: bound its 1xx relay
		// (h1Transport bounds its own, without a trace).
		rctx = limit1xx(ctx)
	}
	rt.proxy.ServeHTTP(w, r.WithContext(rctx))
}

// rewrite is the ReverseProxy's Rewrite hook: the upstream request's path
// and headers.
func (r *route) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	out.URL.Path, out.URL.RawPath = r.upstreamPath(in.URL)
	// The upstream sees its own host name, like nginx's default; the
	// client's is in X-Forwarded-Host.
	out.Host = ""
	// The client's headers the direct path does not forward either
	// (underscore names, identity headers, ...): one rule for both paths.
	for k := range out.Header {
		if r.site.notForwarded(k) {
			delete(out.Header, k)
		}
	}
	r.site.setForwarded(pr)
	if len(in.Trailer) > 0 {
		// httputil.ReverseProxy gives out a copy of the client's trailer
		// map taken before the body was read, so the values the client
		// sends at the end of its body were lost. Pass on the ones an
		// upstream may get, as they arrive.
		out.Trailer = r.site.trailersFor(in.Trailer)
		if out.Trailer != nil && out.Body != nil {
			out.Body = &trailerBody{ReadCloser: out.Body, from: in.Trailer, to: out.Trailer}
		} else {
			out.Trailer = nil
		}
	}
	// The gateway's own identity headers, where it verified the client.
	inf := infoFrom(in.Context())
	if inf.client != nil {
		r.site.idh.Set(out.Header, *inf.client)
	}
	out.Header["X-Request-Id"] = inf.ids
}

// modifyResponse is the ReverseProxy's ModifyResponse hook: it refuses a
// status no client may be sent, and drops the upstream's security headers
// and request ID so that the site's are the only ones.
func (s *Site) modifyResponse(resp *http.Response) error {
	if resp.StatusCode < 100 || resp.StatusCode > 999 {
		return errBadStatus // net/http's WriteHeader would panic on it
	}
	dropPolicyHeaders(resp.Header)
	// httputil.ReverseProxy clears the response header map after passing
	// on a 1xx (such as 103 Early Hints): put the site's headers back. The
	// request ID, set with them, shows whether that happened.
	if inf := infoFrom(resp.Request.Context()); inf != nil && inf.header != nil {
		if _, ok := inf.header["X-Request-Id"]; !ok {
			s.setPolicyHeaders(inf.header, inf.ids, resp.Request.TLS != nil)
		}
		noSniff(inf.header, resp.Header)
	}
	return nil
}

// upstreamError answers 502 (or 504 on a timeout) when the upstream could
// not be reached or did not answer (ReverseProxy's error handler).
func (s *Site) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	s.failUpstream(w, r, infoFrom(r.Context()), err)
}

// limit1xx bounds the informational answers ReverseProxy passes on for
// one request (its own trace, composed with this one, relays them): the
// fallback http.Transport does not bound them for a caller that traces
// them. h1Transport bounds them itself, so only requests that may go to
// the fallback (https upstreams, upgrades) need it.
func limit1xx(ctx context.Context) context.Context {
	n := 0
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error {
			if n++; n > max1xx {
				return errTooMany1xx
			}
			return nil
		},
	})
}

// bufferPool gives ReverseProxy its copy buffers from buffers, which the
// direct path's copyBody shares.
type bufferPool struct{}

func (bufferPool) Get() []byte { return *(buffers.Get().(*[]byte)) }

func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// buffers holds 32 KiB copy buffers, io.Copy's size.
var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
