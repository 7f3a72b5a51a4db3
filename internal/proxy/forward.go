package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
)

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

// infoCtx is a request context carrying the request's info: one
// allocation on the hot path where context.WithValue and a separate info
// would take two. Cancellation and other values come from the embedded
// parent unchanged.
type infoCtx struct {
	context.Context
	info info
}

func (c *infoCtx) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
