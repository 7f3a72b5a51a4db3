// Package ondemand decides which names may get a certificate during a TLS
// handshake (on-demand TLS, config.OnDemand): the ask endpoint's answer, a
// memory of its refusals, a per-name back-off after a failed order, a
// sliding-window rate limit on new orders and a cap on orders in flight.
//
// certmagic calls its OnDemandConfig.DecisionFunc before loading a name
// from storage, before obtaining it, and before renewing it from a
// handshake; it serialises orders per name but no longer limits their
// rate or number. Package acme wires a Gate into that function and tells
// it whether the name is already held (in storage); the Gate never
// refuses a held name for rate, concurrency, back-off or an unreachable
// ask endpoint, so a certificate that exists keeps being served.
//
// It imports only config of this module, and nothing of certmagic, so it
// is tested on its own with a real ask endpoint.
package ondemand

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// Reason says why a name was refused: the values of the refusal
// counter's reason label, all of them.
type Reason string

const (
	AskDenied     Reason = "ask_denied"     // the ask endpoint answered other than 2xx, 5xx or 429
	AskError      Reason = "ask_error"      // the ask endpoint could not be reached, timed out, or answered 5xx or 429
	RateLimited   Reason = "rate_limited"   // the site's rate of new orders is used up
	Backoff       Reason = "backoff"        // the name's last order failed, and its back-off runs
	CachedRefusal Reason = "cached_refusal" // the ask endpoint refused the name recently
	Concurrency   Reason = "concurrency"    // max_concurrent orders are in flight
)

// Reasons lists every Reason.
var Reasons = []Reason{AskDenied, AskError, RateLimited, Backoff, CachedRefusal, Concurrency}

// Ask results, the values of the ask counter's result label.
const (
	AskAllowed = "allowed"
	AskRefused = "denied"
	AskFailed  = "error"
)

// Kinds of allowed decisions, the values of the allow counter's kind label.
const (
	KindNew  = "new"  // a new order was admitted
	KindHeld = "held" // a certificate in storage may be loaded or renewed
)

// Observer is told every decision, for metrics. Its methods are called
// concurrently and must not block.
type Observer interface {
	Asked(result string)
	Allowed(kind string)
	Refused(reason string) // a Reason
}

// RefusedError is the error of a refused decision.
type RefusedError struct {
	Name   string
	Reason Reason
	Err    error // the ask endpoint's status or error; nil for limits
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("on-demand certificate for %s refused (%s)", e.Name, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *RefusedError) Unwrap() error { return e.Err }

// maxEntries bounds each of the per-name memories (refusals, back-offs):
// random names from a flood of handshakes must not grow them without end.
// Past it, expired entries are swept, then arbitrary ones dropped (which
// at worst asks the endpoint again, or allows an order earlier).
const maxEntries = 100_000

// lowWater is what a sweep of a full memory leaves at most.
const lowWater = maxEntries - maxEntries/10

// staleOrder is when an order whose Ticket was never done stops counting
// as in flight: certmagic gives an on-demand order 180 s.
const staleOrder = 4 * time.Minute

// maxAskBody is how much of an ask answer is read (and thrown away) so
// that the connection can be reused.
const maxAskBody = 64 << 10

// Gate decides on-demand names for one site. It is safe for concurrent
// use; its memory lives as long as it does (package acme keeps it across
// reloads that keep the site's policy).
type Gate struct {
	policy config.OnDemand
	ask    *url.URL
	client *http.Client
	obs    Observer
	log    *slog.Logger
	now    func() time.Time // time.Now; tests move it

	mu       sync.Mutex           // guards the fields below
	refused  map[string]time.Time // name -> until when the ask's refusal stands
	backoff  map[string]backoffState
	orders   []time.Time          // when the orders of the current window began, oldest first
	inflight map[string]time.Time // names with an order in flight, since when
	lastWarn time.Time            // when an unreachable ask endpoint was last logged
}

type backoffState struct {
	until time.Time     // no order before
	next  time.Duration // the wait after the next failure
}

// New returns a Gate for policy, whose defaults must be set
// (config.OnDemand.Defaults) and Ask valid. obs may be nil.
func New(policy config.OnDemand, obs Observer, log *slog.Logger) (*Gate, error) {
	u, err := url.Parse(policy.Ask)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("on_demand.ask %q is not an http(s) URL", policy.Ask)
	}
	if obs == nil {
		obs = nopObserver{}
	}
	return &Gate{
		policy: policy,
		ask:    u,
		client: &http.Client{
			Timeout: policy.AskTimeout,
			// A redirect is not a 2xx: the endpoint's own answer decides.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		obs:      obs,
		log:      log,
		now:      time.Now,
		refused:  map[string]time.Time{},
		backoff:  map[string]backoffState{},
		inflight: map[string]time.Time{},
	}, nil
}

// Policy returns the policy the Gate enforces.
func (g *Gate) Policy() config.OnDemand { return g.policy }

// Ticket is an admitted new order. Call Done exactly once when the
// attempt ends, whatever the outcome.
type Ticket struct {
	g    *Gate
	name string
	once sync.Once
}

// Done releases the order's slot; a failed attempt starts or lengthens
// the name's back-off, a successful one clears it.
func (t *Ticket) Done(ok bool) {
	if t == nil {
		return
	}
	t.once.Do(func() { t.g.done(t.name, ok) })
}

// Decide says whether a certificate for name may be loaded, obtained or
// renewed. held reports whether one is in storage already. A nil error
// allows; the Ticket is non-nil when a new order was admitted. A refusal
// is a *RefusedError.
func (g *Gate) Decide(ctx context.Context, name string, held bool) (*Ticket, error) {
	now := g.now()
	g.mu.Lock()
	if until, ok := g.refused[name]; ok {
		if now.Before(until) {
			g.mu.Unlock()
			return nil, g.refuse(name, CachedRefusal, nil)
		}
		delete(g.refused, name)
	}
	if !held {
		if b, ok := g.backoff[name]; ok && now.Before(b.until) {
			g.mu.Unlock()
			return nil, g.refuse(name, Backoff, fmt.Errorf("its last order failed; next attempt after %s", b.until.UTC().Format(time.RFC3339)))
		}
		if _, ok := g.inflight[name]; ok {
			// certmagic waits for the order in flight.
			g.mu.Unlock()
			g.obs.Allowed(KindNew)
			return nil, nil
		}
		// Refuse before asking when no order could start anyway: a flood
		// of names must not become a flood of asks.
		if r := g.full(now); r != "" {
			g.mu.Unlock()
			return nil, g.refuse(name, r, nil)
		}
	}
	g.mu.Unlock()

	askErr := g.askEndpoint(ctx, name)
	var denied *deniedError
	switch {
	case errors.As(askErr, &denied):
		g.remember(name)
		return nil, g.refuse(name, AskDenied, askErr)
	case askErr != nil && held:
		// Fail open for what exists: no order comes of loading it, and a
		// renewal keeps a customer's site up through the endpoint's outage.
		g.log.Warn("on-demand ask endpoint unreachable; serving the certificate already held", "name", name, "ask", g.policy.Ask, "err", askErr)
		g.obs.Allowed(KindHeld)
		return nil, nil
	case askErr != nil:
		g.warnAskError(name, askErr)
		return nil, g.refuse(name, AskError, askErr)
	case held:
		g.obs.Allowed(KindHeld)
		return nil, nil
	}

	g.mu.Lock()
	if r := g.full(g.now()); r != "" {
		g.mu.Unlock()
		return nil, g.refuse(name, r, nil)
	}
	g.inflight[name] = g.now()
	g.orders = append(g.orders, g.now())
	g.mu.Unlock()
	g.obs.Allowed(KindNew)
	return &Ticket{g: g, name: name}, nil
}

// full says why no new order may start now, or "". g.mu must be held.
func (g *Gate) full(now time.Time) Reason {
	for name, since := range g.inflight {
		if now.Sub(since) > staleOrder {
			delete(g.inflight, name) // a Ticket never done: do not leak its slot
		}
	}
	if len(g.inflight) >= g.policy.MaxConcurrent {
		return Concurrency
	}
	cut := 0
	for cut < len(g.orders) && !g.orders[cut].After(now.Add(-g.policy.Rate.Per)) {
		cut++
	}
	g.orders = g.orders[cut:]
	if len(g.orders) >= g.policy.Rate.Orders {
		return RateLimited
	}
	return ""
}

func (g *Gate) refuse(name string, r Reason, err error) error {
	g.obs.Refused(string(r))
	g.log.Debug("on-demand certificate refused", "name", name, "reason", string(r), "err", err)
	return &RefusedError{Name: name, Reason: r, Err: err}
}

// warnAskError logs an unreachable ask endpoint at most once a minute:
// every new name is refused meanwhile, which an operator must know.
func (g *Gate) warnAskError(name string, err error) {
	now := g.now()
	g.mu.Lock()
	quiet := now.Sub(g.lastWarn) < time.Minute
	if !quiet {
		g.lastWarn = now
	}
	g.mu.Unlock()
	if !quiet {
		g.log.Warn("on-demand ask endpoint unreachable: new names are refused (fail closed), held names keep being served", "name", name, "ask", g.policy.Ask, "err", err)
	}
}

// remember records the ask endpoint's refusal of name.
func (g *Gate) remember(name string) {
	if g.policy.RefusalCache <= 0 {
		return
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.refused) >= maxEntries {
		sweep(g.refused, func(until time.Time) bool { return now.After(until) })
	}
	g.refused[name] = now.Add(g.policy.RefusalCache)
}

func (g *Gate) done(name string, ok bool) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.inflight, name)
	if ok {
		delete(g.backoff, name)
		return
	}
	b, seen := g.backoff[name]
	if !seen || now.After(b.until.Add(g.policy.Backoff.Max)) {
		// First failure, or so long after the last back-off that it is
		// a new story.
		b.next = g.policy.Backoff.Initial
	}
	b.until = now.Add(b.next)
	b.next = min(2*b.next, g.policy.Backoff.Max)
	if len(g.backoff) >= maxEntries {
		sweep(g.backoff, func(s backoffState) bool { return now.After(s.until.Add(g.policy.Backoff.Max)) })
	}
	g.backoff[name] = b
	g.log.Info("on-demand order failed; no new order for this name until its back-off ends", "name", name, "until", b.until.UTC().Format(time.RFC3339))
}

// sweep deletes the entries of m that are stale, then arbitrary ones
// until at most lowWater are left: a full map is swept once per
// maxEntries/10 new names, not at every one (a walk of maxEntries under
// g.mu for each name of a flood).
func sweep[V any](m map[string]V, stale func(V) bool) {
	for k, v := range m {
		if stale(v) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) <= lowWater {
			break
		}
		delete(m, k)
	}
}

// deniedError is the ask endpoint's non-2xx answer.
type deniedError struct{ status string }

func (e *deniedError) Error() string { return "the ask endpoint answered " + e.status }

// askEndpoint GETs ask?domain=name: nil for 2xx, a *deniedError for
// another status but 5xx and 429, any other error when there was no
// answer about the name.
func (g *Gate) askEndpoint(ctx context.Context, name string) error {
	u := *g.ask
	q := u.Query()
	q.Set("domain", name)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, g.policy.AskTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		g.obs.Asked(AskFailed)
		return err
	}
	req.Header.Set("User-Agent", "tlsgate on-demand TLS")
	resp, err := g.client.Do(req)
	if err != nil {
		g.obs.Asked(AskFailed)
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAskBody))
	resp.Body.Close()
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		// The endpoint (or its proxy) failing or shedding load is no
		// answer about the name: not remembered, and held names stay.
		g.obs.Asked(AskFailed)
		return fmt.Errorf("the ask endpoint failed: %s", resp.Status)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		g.obs.Asked(AskRefused)
		return &deniedError{resp.Status}
	}
	g.obs.Asked(AskAllowed)
	return nil
}

type nopObserver struct{}

func (nopObserver) Asked(string)   {}
func (nopObserver) Allowed(string) {}
func (nopObserver) Refused(string) {}
