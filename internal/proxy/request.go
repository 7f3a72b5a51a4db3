package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/tlsgate/tlsgate/internal/mtls"
)

// Per-request state: one info per request, in the request's context, and
// the request's ID.

// info is one request's state, shared by the handler, both proxy paths,
// the upstream pool, the error answers and the access log. It travels in
// the request's context (infoCtx), where httputil.ReverseProxy's hooks and
// the pool's RoundTrip, which see only the request, find it. It is written
// on the handler's goroutine, except bodyErr, which whoever reads the
// request body sets (the fallback http.Transport reads it on a goroutine
// of its own).
type info struct {
	id       string
	ids      []string     // {id}, shared by the response and upstream request headers (read-only)
	idsBuf   [1]string    // ids' array, in the same allocation
	client   *mtls.Result // the verified client, on sites that trust client CAs
	upstream string
	// route and path are the matched route ("" when none) and the
	// client's request path, for logs and metrics.
	route, path string
	// header is the client response's header map, where the site's
	// headers are restored after a 1xx response cleared it.
	header http.Header
	// bodyErr is set when reading the client's request body failed
	// before its end (a stall or a hang-up).
	bodyErr atomic.Pointer[error]
}

// bodyError returns why reading the client's request body failed, or nil.
func (i *info) bodyError() error {
	if p := i.bodyErr.Load(); p != nil {
		return *p
	}
	return nil
}

// infoCtx is a request context carrying the request's info: one
// allocation on the hot path where context.WithValue and a separate info
// would take two. Cancellation and other values come from the embedded
// parent unchanged.
type infoCtx struct {
	context.Context
	info info
}

// loggedCtx is an infoCtx with the request's logWriter, for requests that
// are logged or measured: still one allocation.
type loggedCtx struct {
	infoCtx
	lw logWriter
}

func (c *infoCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

type ctxKey struct{}

// infoFrom returns the request's info, or nil outside Site.ServeHTTP.
func infoFrom(ctx context.Context) *info {
	i, _ := ctx.Value(ctxKey{}).(*info)
	return i
}

// Request IDs are a random per-process prefix and a counter: unique across
// restarts and fleets, cheap, and not a secret.
var (
	idPrefix = func() string {
		b := make([]byte, 6)
		rand.Read(b)
		return hex.EncodeToString(b)
	}()
	idCounter atomic.Uint64
)

// requestID keeps a well-formed X-Request-ID from a trusted proxy, or makes
// a new one: an ID from anyone else could be chosen to confuse log searches.
func (s *Site) requestID(r *http.Request) string {
	if v := r.Header["X-Request-Id"]; len(v) == 1 && validID(v[0]) && s.trust.contains(r.RemoteAddr) {
		return v[0]
	}
	var b [32]byte
	n := copy(b[:], idPrefix)
	b[n] = '-'
	out := strconv.AppendUint(b[:n+1], idCounter.Add(1), 36)
	return string(out)
}

// validID reports whether s may be a request ID: 1 to 128 letters, digits
// and "-_.:", nothing that could forge a log line or a header.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
