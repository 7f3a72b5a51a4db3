package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/internal/inventory"
)

// upstream is one backend base URL and its passive health.
type upstream struct {
	url  *url.URL
	name string // scheme://host, for logs

	fails     atomic.Int32
	downUntil atomic.Int64 // unix nanos; 0 = healthy

	// lastAttempt (unix nanos; 0 = never) and lastErr (nil = the attempt
	// succeeded) are the latest result, for the status page. A success is
	// stored at most once per attemptGrain, so that busy upstreams do not
	// write a shared cache line on every request.
	lastAttempt atomic.Int64
	lastErr     atomic.Pointer[string]
}

// attemptGrain is how stale the recorded time of a success may be: a
// status page shows seconds, and a store per request on a busy upstream
// would make every core write the same cache line.
const attemptGrain = time.Second

// Back-off for an upstream that failed to connect: 1s, 2s, 4s ... 30s.
// Short enough that a restarted backend is back in rotation quickly, long
// enough that a dead one costs at most one failed dial per period.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// recordFailure records a failed attempt at now with err (nil when the
// caller has no error to show), for the status page, without taking the
// upstream out of rotation.
func (u *upstream) recordFailure(now time.Time, err error) {
	msg := "failed"
	if err != nil {
		msg = err.Error()
	}
	u.lastErr.Store(&msg)
	u.lastAttempt.Store(now.UnixNano())
}

// markFailed records a failed connection attempt at now with err and
// returns the back-off it earns.
func (u *upstream) markFailed(now time.Time, err error) time.Duration {
	u.recordFailure(now, err)
	n := u.fails.Add(1)
	d := minBackoff << min(n-1, 5)
	d = min(d, maxBackoff)
	u.downUntil.Store(now.Add(d).UnixNano())
	return d
}

// markHealthy records a successful attempt at now (unix nanos).
func (u *upstream) markHealthy(now int64) {
	if u.fails.Load() != 0 {
		u.fails.Store(0)
		u.downUntil.Store(0)
	}
	if u.lastErr.Load() != nil || now-u.lastAttempt.Load() >= int64(attemptGrain) {
		u.lastErr.Store(nil)
		u.lastAttempt.Store(now)
	}
}

// pool chooses upstreams round-robin, skipping those in back-off, and
// retries a request on the next upstream when the connection could not be
// made (the request was certainly not sent).
type pool struct {
	ups   []*upstream
	next  atomic.Uint32
	rt    http.RoundTripper
	log   *slog.Logger
	route string
}

func newPool(urls []string, rt http.RoundTripper, route string, log *slog.Logger, sh *shared, tlsConfig *tls.Config) (*pool, error) {
	p := &pool{rt: rt, log: log, route: route}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", s, err)
		}
		p.ups = append(p.ups, sh.upstream(u, tlsConfig))
	}
	return p, nil
}

// shared is what every route built from one Options shares, so that the
// cost of upstream connections and health checks follows the number of
// upstreams, not of routes (an OpenAPI spec or a config may route
// hundreds of paths to one backend):
//
//   - one transport per upstream TLS config (pointer identity: the same
//     roots, client certificate and server name), whose pools are keyed
//     by upstream address, so every route to one upstream reuses the
//     same idle connections. Routes with another TLS config (another
//     client certificate) never share a connection with them;
//   - one health record per upstream URL and TLS config, so that a dead
//     upstream found by one route is in back-off for all routes to it.
//
// Connections are never shared between two Options (two gateway states:
// a reload builds new ones and the old ones close with their state).
type shared struct {
	mu         sync.Mutex
	opts       *Options
	transports map[*tls.Config]*h1Transport
	upstreams  map[upstreamKey]*upstream
}

// upstreamKey is the whole upstream URL (its path is the base path
// requests are joined to: two routes to one host with other base paths
// are other upstreams) and the TLS config.
type upstreamKey struct {
	url string
	tls *tls.Config
}

func (o *Options) sharedParts() *shared {
	o.sharedOnce.Do(func() {
		o.shared = &shared{opts: o, transports: map[*tls.Config]*h1Transport{}, upstreams: map[upstreamKey]*upstream{}}
	})
	return o.shared
}

// transport returns the transport for upstreams dialled with tlsConfig.
func (sh *shared) transport(tlsConfig *tls.Config) *h1Transport {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.transports[tlsConfig]
	if t == nil {
		t = newUpstreamTransport(sh.opts, tlsConfig)
		sh.transports[tlsConfig] = t
	}
	return t
}

// upstream returns the health record of u dialled with tlsConfig.
func (sh *shared) upstream(u *url.URL, tlsConfig *tls.Config) *upstream {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	k := upstreamKey{u.String(), tlsConfig}
	up := sh.upstreams[k]
	if up == nil {
		up = &upstream{url: u, name: u.Scheme + "://" + u.Host}
		sh.upstreams[k] = up
	}
	return up
}

// pick returns the next healthy upstream not in tried; when every upstream
// is in back-off it returns the one that comes back soonest, so that a
// request is still attempted rather than failed outright.
func (p *pool) pick(now int64, tried uint64) *upstream {
	n := uint32(len(p.ups))
	if n == 1 {
		if tried&1 != 0 {
			return nil
		}
		return p.ups[0]
	}
	start := p.next.Add(1)
	var soonest *upstream
	for i := uint32(0); i < n; i++ {
		idx := (start + i) % n
		if tried&(1<<idx) != 0 {
			continue
		}
		u := p.ups[idx]
		if du := u.downUntil.Load(); du == 0 || du <= now {
			return u
		}
		if soonest == nil || u.downUntil.Load() < soonest.downUntil.Load() {
			soonest = u
		}
	}
	return soonest
}

func (p *pool) index(u *upstream) uint {
	for i, x := range p.ups {
		if x == u {
			return uint(i)
		}
	}
	return 0
}

// RoundTrip sends out to an upstream. The path in out.URL is relative to
// the upstream base URL.
func (p *pool) RoundTrip(out *http.Request) (*http.Response, error) {
	rel, relRaw := out.URL.Path, out.URL.RawPath
	rewind := func() error { return rewindBody(out) }
	return p.do(out.Context(), infoFrom(out.Context()), replayable(out), rewind, func(u *upstream) (*http.Response, error) {
		out.URL.Scheme = u.url.Scheme
		out.URL.Host = u.url.Host
		out.URL.Path, out.URL.RawPath = joinPath(u.url, rel, relRaw)
		return p.rt.RoundTrip(out)
	})
}

// do sends a request with send, to the upstreams in turn while connecting
// fails: such a request was certainly not sent, so any method may go to
// the next upstream, if its body can be sent again (replay; rewind, when
// set, restores the body). It keeps the upstreams' passive health.
func (p *pool) do(ctx context.Context, inf *info, replay bool, rewind func() error, send func(*upstream) (*http.Response, error)) (*http.Response, error) {
	var tried uint64
	for attempt := 0; ; attempt++ {
		now := time.Now().UnixNano()
		u := p.pick(now, tried)
		if u == nil {
			return nil, errNoUpstream
		}
		tried |= 1 << p.index(u)
		if inf != nil {
			inf.upstream = u.name
		}
		resp, err := send(u)
		if err == nil {
			u.markHealthy(now)
			return resp, nil
		}
		if ctx.Err() != nil || (inf != nil && inf.bodyError() != nil) {
			// The client went away or stopped sending: not the upstream's fault.
			return nil, err
		}
		if !connectFailed(err) {
			// It was reached: the fault is this exchange's (a hang-up
			// mid-request, a bad answer, a timeout), not the upstream's
			// reachability. It stays in rotation (the status page still
			// shows the failed attempt); the request is not sent again,
			// since the upstream may have acted on it.
			u.recordFailure(time.Now(), err)
			p.log.Warn("upstream failed", "route", p.route, "upstream", u.name, "err", err)
			return nil, err
		}
		backoff := u.markFailed(time.Now(), err)
		p.log.Warn("upstream cannot be connected to; out of rotation", "route", p.route, "upstream", u.name, "err", err, "retry_in", backoff.String())
		if !isDialError(err) || !replay || attempt+1 >= len(p.ups) {
			return nil, err
		}
		if rewind != nil && rewind() != nil {
			return nil, err
		}
	}
}

var errNoUpstream = errors.New("no upstream available")

// replayable reports whether r's body, if any, can be sent again
// (rewindBody).
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// rewindBody makes r's body anew, to send r again; a request without a
// body needs nothing.
func rewindBody(r *http.Request) (err error) {
	if r.GetBody != nil && r.Body != nil && r.Body != http.NoBody {
		r.Body, err = r.GetBody()
	}
	return err
}

// joinPath returns the upstream's path for rel, a path relative to its
// base URL (relRaw its escaped form, or ""): the base's path and rel, and
// their escaped form where it differs from the default.
func joinPath(base *url.URL, rel, relRaw string) (string, string) {
	if base.Path == "" || base.Path == "/" {
		return rel, relRaw
	}
	bp := strings.TrimSuffix(base.Path, "/")
	if relRaw == "" && base.RawPath != "" {
		// Keep the base's own escapes, such as %2F.
		relRaw = (&url.URL{Path: rel}).EscapedPath()
	}
	if relRaw != "" {
		return bp + rel, strings.TrimSuffix(base.EscapedPath(), "/") + relRaw
	}
	return bp + rel, ""
}

// Upstreams reports the health of every upstream of every route, for
// metrics and the status page.
func (s *Site) Upstreams() []inventory.Upstream {
	var out []inventory.Upstream
	now := time.Now().UnixNano()
	routes := s.routes
	if s.spec != nil {
		routes = append(slices.Clip(routes), s.spec)
	}
	for _, rt := range routes {
		if rt.pool == nil {
			continue // served in-process
		}
		for _, u := range rt.pool.ups {
			st := inventory.Upstream{Site: s.name, Route: rt.path, URL: u.name, Healthy: true, ConsecutiveFailures: int(u.fails.Load())}
			if until := u.downUntil.Load(); until > now {
				st.Healthy, st.RetryAt = false, time.Unix(0, until)
			}
			if at := u.lastAttempt.Load(); at != 0 {
				st.LastAttempt, st.LastResult = time.Unix(0, at), "ok"
				if msg := u.lastErr.Load(); msg != nil {
					st.LastResult, st.LastError = "failed", *msg
				}
			}
			out = append(out, st)
		}
	}
	return out
}
