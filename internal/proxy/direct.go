package proxy

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// The direct path proxies the common API request (GET, HEAD, DELETE or
// OPTIONS without a body, to plain-HTTP/1.1 upstreams) without
// httputil.ReverseProxy. ReverseProxy clones the request and its header
// map, edits the copy header by header, wraps the context for 1xx
// tracing, and copies the response's header map again; at the gateway's
// few tens of microseconds per request that bookkeeping is a large part of
// its own CPU (docs/benchmarks.md). Here the upstream request's head is
// written straight from the client's headers, filtered on the way by the
// rules of headers.go, and handed to h1Transport as a prepared head; the
// response's headers go straight into the client's.
//
// The rules are ReverseProxy's (hop-by-hop headers, Te, query cleaning,
// User-Agent, 1xx, trailers, flushing, aborting on a broken body) and the
// gateway's own (forwarding headers, identity headers, request ID);
// TestDirectMatchesReverseProxy compares the two paths byte for byte.
// Anything unusual takes the ReverseProxy path: bodies, upgrades, https
// upstreams, control characters, queries ReverseProxy would rewrite.

// heads recycles the buffers the upstream request heads are built in.
var heads = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// serveDirect proxies r on the direct path and reports true, or reports
// false, having done nothing, when r must take the ReverseProxy path.
func (s *Site) serveDirect(w http.ResponseWriter, r *http.Request, rt *route, inf *info) bool {
	if !rt.direct || !directEligible(r) {
		return false
	}
	bp := heads.Get().(*[]byte)
	defer heads.Put(bp)
	head, ok := s.appendHead((*bp)[:0], r, inf)
	*bp = head[:0] // keep a grown buffer
	if !ok {
		return false
	}
	o := h1Request{req: r, head: head, repeatable: directIdempotent(r)}
	got1xx := func(code int, h textproto.MIMEHeader) error {
		s.pass1xx(w, inf.ids, r.TLS != nil, code, h)
		return nil
	}
	rel, relRaw := rt.upstreamPath(r.URL)
	resp, err := rt.pool.do(r.Context(), inf, true, nil, func(u *upstream) (*http.Response, error) {
		path, raw := joinPath(u.url, rel, relRaw)
		o.target = requestTarget(path, raw, r.URL)
		o.addr = u.url.Host
		return rt.transport.exchange(&o, got1xx)
	})
	if err != nil {
		s.failUpstream(w, r, inf, err)
		return true
	}
	s.copyResponse(w, r, inf, resp)
	return true
}

// directIdempotent reports whether r may be sent upstream twice. An
// idempotency key listed in Connection is not sent, so the upstream could
// not tell a repeat: ReverseProxy, which removes it first, would not
// repeat such a request either.
func directIdempotent(r *http.Request) bool {
	if safeMethod(r.Method) {
		return true
	}
	var buf [8]string
	listed, ok := connectionListed(r.Header, buf[:])
	return ok && idempotent(r.Method, r.Header, listed)
}

// godebugQuery is set when GODEBUG changes how ReverseProxy cleans queries
// (urlmaxqueryparams): then every query takes that path.
var godebugQuery = strings.Contains(os.Getenv("GODEBUG"), "urlmaxqueryparams=")

// directEligible reports whether r is a request the direct path handles.
func directEligible(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
	default: // POST, PUT and PATCH get "Content-Length: 0" from Request.Write
		return false
	}
	// ContentLength 0 is ReverseProxy's own test for "no body".
	return r.ContentLength == 0 && len(r.Trailer) == 0 && r.URL.Opaque == "" &&
		r.Header["Upgrade"] == nil && cleanQuery(r.URL.RawQuery)
}

// directRoute reports whether a route to upstreams ups may take the direct
// path: every upstream is plain HTTP, with a host that can go into the
// Host line as it is (ASCII, no zone, no control characters).
func directRoute(ups []*upstream) bool {
	for _, u := range ups {
		if u.url.Scheme != "http" || !safeHeaderText(u.url.Host) || !isASCII(u.url.Host) || strings.IndexByte(u.url.Host, '%') >= 0 {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// cleanQuery reports whether ReverseProxy would send query unchanged: no
// ';' separators and no broken escapes (it re-encodes those).
func cleanQuery(q string) bool {
	if q == "" {
		return true
	}
	if godebugQuery || strings.Count(q, "&") >= 10000 {
		return false
	}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

// requestTarget is the origin-form target for path and raw (the upstream
// path) with the client's query, as Request.Write would send it.
func requestTarget(path, raw string, in *url.URL) string {
	u := url.URL{Path: path, RawPath: raw, RawQuery: in.RawQuery, ForceQuery: in.ForceQuery}
	return u.RequestURI()
}

// appendHead appends the header lines of the upstream request after Host,
// and the blank line, to b. ok is false when a value has a control
// character (which Request.Write would rewrite).
func (s *Site) appendHead(b []byte, r *http.Request, inf *info) (_ []byte, ok bool) {
	var buf [8]string
	listed, ok := connectionListed(r.Header, buf[:])
	if !ok {
		return b, false
	}
	for k, vv := range r.Header {
		if !s.forwards(k, listed) {
			continue
		}
		if !safeHeaderText(k) {
			return b, false
		}
		if k == "User-Agent" {
			// Request.Write sends the first value only, and none when it
			// is empty (ReverseProxy sets it empty when the client sent
			// none, to keep Go's default out).
			if len(vv) == 0 || vv[0] == "" {
				continue
			}
			vv = vv[:1]
		}
		if b, ok = appendFields(b, k, vv); !ok {
			return b, false
		}
	}
	// ReverseProxy keeps "Te: trailers" (and only that) when the client
	// sent it, so upstreams know trailers will reach the client.
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		b = appendField(b, "Te", "trailers")
	}
	if xff, ok := s.forwardedFor(r); ok {
		if !safeHeaderText(xff) {
			return b, false
		}
		b = appendField(b, "X-Forwarded-For", xff)
	}
	if !safeHeaderText(r.Host) {
		return b, false
	}
	b = appendField(b, "X-Forwarded-Host", r.Host)
	if r.TLS != nil {
		b = appendField(b, "X-Forwarded-Proto", "https")
	} else {
		b = appendField(b, "X-Forwarded-Proto", "http")
	}
	if inf.client != nil {
		for k, vv := range s.idh.Fields(*inf.client) {
			if b, ok = appendFields(b, k, vv); !ok {
				return b, false
			}
		}
	}
	b = appendField(b, "X-Request-Id", inf.id)
	return append(b, "\r\n"...), true
}

// appendFields appends a header line for each of the values vv of k, or
// reports false when a value has a control character.
func appendFields(b []byte, k string, vv []string) (_ []byte, ok bool) {
	for _, v := range vv {
		if !safeHeaderText(v) {
			return b, false
		}
		b = appendField(b, k, v)
	}
	return b, true
}

// appendField appends one header line, the value trimmed as Request.Write
// trims it.
func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, textproto.TrimString(v)...)
	return append(b, "\r\n"...)
}

// pass1xx passes an informational answer (103 Early Hints) on to w, as
// ReverseProxy does: the upstream's 1xx headers are added to the header
// map, the 1xx is written, the map is cleared, and the site's headers
// (ids, and the security headers over TLS) are put back for the final
// answer.
func (s *Site) pass1xx(w http.ResponseWriter, ids []string, overTLS bool, code int, h textproto.MIMEHeader) {
	dst := w.Header()
	for k, vv := range h {
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
	w.WriteHeader(code)
	clear(dst)
	s.setPolicyHeaders(dst, ids, overTLS)
}

// copyResponse sends the upstream's answer to the client, as ReverseProxy
// does: hop-by-hop headers removed, the site's security headers and
// request ID kept as the only ones, trailers passed on, streaming answers
// flushed as they come.
func (s *Site) copyResponse(w http.ResponseWriter, r *http.Request, inf *info, resp *http.Response) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body.Close()
		s.failUpstream(w, r, inf, errUnaskedUpgrade)
		return
	}
	if resp.StatusCode < 100 || resp.StatusCode > 999 {
		resp.Body.Close()
		s.failUpstream(w, r, inf, errBadStatus)
		return
	}
	var buf [8]string
	listed, ok := connectionListed(resp.Header, buf[:])
	if !ok { // a long list: delete its names from the map instead
		listed, _ = connectionListed(resp.Header, nil)
		for _, k := range listed {
			delete(resp.Header, k)
		}
		listed = nil
	}
	h := w.Header()
	contentType := ""
	for k, vv := range resp.Header {
		if !relays(k, listed) {
			continue
		}
		if k == "Content-Type" && len(vv) > 0 {
			contentType = vv[0]
		}
		if old, ok := h[k]; ok {
			h[k] = append(old, vv...)
		} else {
			h[k] = vv
		}
	}
	noSniff(h, h) // h holds the relayed header now
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)

	// Streams (no length, or server-sent events) are flushed as they come.
	flush := resp.ContentLength == -1 || isEventStream(contentType)
	if err := s.copyBody(w, resp.Body, flush, inf); err != nil {
		resp.Body.Close()
		// The answer is cut short: abort the client's connection so that
		// it cannot mistake the part for the whole (as ReverseProxy does
		// under an http.Server).
		if r.Context().Value(http.ServerContextKey) != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	resp.Body.Close() // now, to read the trailers
	if len(resp.Trailer) > 0 {
		// Force chunking, so net/http does not compute a Content-Length
		// for a short body and drop the trailers.
		http.NewResponseController(w).Flush()
	}
	// Trailers the header announced go out as such; when the body brought
	// others, net/http wants all of them with its prefix.
	prefix := ""
	if len(resp.Trailer) != announced {
		prefix = http.TrailerPrefix
	}
	for k, vv := range resp.Trailer {
		k = prefix + k
		for _, v := range vv {
			h.Add(k, v)
		}
	}
}

func isEventStream(contentType string) bool {
	if len(contentType) < len("text/event-stream") || !strings.EqualFold(contentType[:len("text/event-stream")], "text/event-stream") {
		return false
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/event-stream"
}

// copyBody copies an upstream body to the client, flushing after every
// write when flush is set. It returns write errors and read errors other
// than EOF.
func (s *Site) copyBody(w http.ResponseWriter, body io.Reader, flush bool, inf *info) error {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
		// The headers now, even if the first bytes take a while.
		// ReverseProxy does this from a timer goroutine, so an empty
		// streamed body there usually goes out with "Content-Length: 0"
		// and here always chunked: two framings of the same empty body.
		rc.Flush()
	}
	for {
		n, rerr := body.Read(buf)
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, context.Canceled) {
			s.opts.Log.Warn("upstream body read failed", "site", s.name, "path", inf.path, "upstream", inf.upstream,
				"request_id", inf.id, "err", rerr)
		}
		if n > 0 {
			nw, werr := w.Write(buf[:n])
			if werr != nil {
				return werr
			}
			if nw != n {
				return io.ErrShortWrite
			}
			if flush {
				rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
