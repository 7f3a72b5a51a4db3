package ondemand

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/config"
)

// counter is an Observer that counts.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
}
func (c *counter) get(k string) int      { c.mu.Lock(); defer c.mu.Unlock(); return c.n[k] }
func (c *counter) Asked(r string)        { c.add("ask:" + r) }
func (c *counter) Allowed(k string)      { c.add("allow:" + k) }
func (c *counter) Refused(reason string) { c.add("refuse:" + reason) }

// clock is a settable time for the gate.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newGate returns a gate asking a real endpoint on loopback that answers
// status(name), and counts what it was asked.
func newGate(t *testing.T, p config.OnDemand, status func(name string) int) (*Gate, *counter, *clock, map[string]int, *sync.Mutex) {
	t.Helper()
	var mu sync.Mutex
	asked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("domain")
		mu.Lock()
		asked[name]++
		mu.Unlock()
		if r.URL.Query().Get("token") != "s3cret" {
			http.Error(w, "the ask URL's own query was lost", http.StatusBadRequest)
			return
		}
		w.WriteHeader(status(name))
		io.WriteString(w, "answer")
	}))
	t.Cleanup(srv.Close)
	p.Ask = srv.URL + "/ask?token=s3cret"
	p.Defaults()
	obs := &counter{}
	g, err := New(p, obs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.now = c.now
	return g, obs, c, asked, &mu
}

func reason(err error) Reason {
	var re *RefusedError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

func TestAskAndRefusalCache(t *testing.T) {
	t.Parallel()
	g, obs, clk, asked, mu := newGate(t, config.OnDemand{RefusalCache: time.Minute}, func(name string) int {
		switch name {
		case "ok.example.com":
			return http.StatusNoContent
		case "moved.example.com":
			return http.StatusFound
		}
		return http.StatusForbidden
	})
	ctx := context.Background()
	tk, err := g.Decide(ctx, "ok.example.com", false)
	if err != nil || tk == nil {
		t.Fatalf("allowed name: ticket %v, err %v", tk, err)
	}
	tk.Done(true)
	if _, err := g.Decide(ctx, "moved.example.com", false); reason(err) != AskDenied {
		t.Errorf("a redirect from the ask endpoint: %v, want %s", err, AskDenied)
	}
	for range 3 {
		if _, err := g.Decide(ctx, "no.example.com", false); reason(err) == "" {
			t.Fatal("a refused name was allowed")
		}
	}
	// A held name the endpoint refuses is refused too (the customer left).
	if _, err := g.Decide(ctx, "no.example.com", true); reason(err) != CachedRefusal {
		t.Errorf("held, refused name: %v, want %s", err, CachedRefusal)
	}
	mu.Lock()
	if asked["no.example.com"] != 1 {
		t.Errorf("asked %d times within the refusal cache, want 1", asked["no.example.com"])
	}
	mu.Unlock()
	clk.add(time.Minute + time.Second)
	if _, err := g.Decide(ctx, "no.example.com", false); reason(err) != AskDenied {
		t.Errorf("after refusal_cache: %v, want a new ask and %s", err, AskDenied)
	}
	if obs.get("refuse:cached_refusal") != 3 || obs.get("refuse:ask_denied") != 3 || obs.get("ask:allowed") != 1 || obs.get("allow:new") != 1 {
		t.Errorf("observer counts: %v", obs.n)
	}
}

func TestAskErrors(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block) // before Close, which waits for the handlers
	obs := &counter{}
	p := config.OnDemand{Ask: srv.URL, AskTimeout: 100 * time.Millisecond}
	p.Defaults()
	g, err := New(p, obs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := g.Decide(ctx, "slow.example.com", false); reason(err) != AskError {
		t.Errorf("ask endpoint past ask_timeout: %v, want %s", err, AskError)
	}
	// Fail closed for new names, open for held ones; errors are not cached.
	if tk, err := g.Decide(ctx, "held.example.com", true); err != nil || tk != nil {
		t.Errorf("held name, ask endpoint failing: ticket %v, err %v; want allowed without an order", tk, err)
	}
	if _, err := g.Decide(ctx, "slow.example.com", false); reason(err) != AskError {
		t.Errorf("second try: %v, want %s (errors are not remembered)", err, AskError)
	}
	if obs.get("ask:error") != 3 || obs.get("allow:held") != 1 {
		t.Errorf("observer counts: %v", obs.n)
	}
}

// TestAskOverloaded: a 5xx or 429 from the ask endpoint (its proxy with
// the service down, or the service shedding load, as a flood of random
// names makes it) is the endpoint failing, not a "no" for the name: a
// held name keeps being served and nothing is remembered.
func TestAskOverloaded(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		g, obs, _, asked, mu := newGate(t, config.OnDemand{RefusalCache: time.Hour}, func(string) int { return status })
		ctx := context.Background()
		if tk, err := g.Decide(ctx, "held.example.com", true); err != nil || tk != nil {
			t.Errorf("%d: held name: ticket %v, err %v; want served (fail open)", status, tk, err)
		}
		for range 2 {
			if _, err := g.Decide(ctx, "new.example.com", false); reason(err) != AskError {
				t.Errorf("%d: new name: %v, want %s", status, err, AskError)
			}
		}
		if _, err := g.Decide(ctx, "held.example.com", true); err != nil {
			t.Errorf("%d: held name, second handshake: %v (the failure was remembered as a refusal)", status, err)
		}
		mu.Lock()
		if asked["new.example.com"] != 2 {
			t.Errorf("%d: new name asked %d times, want 2 (errors are not remembered)", status, asked["new.example.com"])
		}
		mu.Unlock()
		if obs.get("ask:error") != 4 || obs.get("ask:denied") != 0 {
			t.Errorf("%d: observer counts: %v", status, obs.n)
		}
	}
}

func TestRateAndConcurrency(t *testing.T) {
	t.Parallel()
	g, obs, clk, asked, mu := newGate(t, config.OnDemand{Rate: config.OnDemandRate{Orders: 3, Per: time.Minute}, MaxConcurrent: 2},
		func(string) int { return http.StatusOK })
	ctx := context.Background()
	a, _ := g.Decide(ctx, "a.example.com", false)
	b, _ := g.Decide(ctx, "b.example.com", false)
	if a == nil || b == nil {
		t.Fatal("the first two orders were not admitted")
	}
	if _, err := g.Decide(ctx, "c.example.com", false); reason(err) != Concurrency {
		t.Errorf("third order with two in flight: %v, want %s", err, Concurrency)
	}
	// Held names are never limited.
	if tk, err := g.Decide(ctx, "held.example.com", true); err != nil || tk != nil {
		t.Errorf("held name with the limits reached: %v", err)
	}
	a.Done(true)
	a.Done(false) // a second Done is ignored
	c, err := g.Decide(ctx, "c.example.com", false)
	if err != nil {
		t.Fatalf("after one order ended: %v", err)
	}
	b.Done(true)
	c.Done(true)
	if _, err := g.Decide(ctx, "d.example.com", false); reason(err) != RateLimited {
		t.Errorf("fourth order within a minute: %v, want %s", err, RateLimited)
	}
	mu.Lock()
	if asked["d.example.com"] != 0 || asked["c.example.com"] != 1 {
		t.Errorf("names refused for limits were asked: %v", asked)
	}
	mu.Unlock()
	clk.add(30 * time.Second)
	if _, err := g.Decide(ctx, "d.example.com", false); reason(err) != RateLimited {
		t.Errorf("the window slides, it does not reset: %v", err)
	}
	clk.add(31 * time.Second)
	d, err := g.Decide(ctx, "d.example.com", false)
	if err != nil {
		t.Fatalf("a minute after the first orders: %v", err)
	}
	d.Done(true)
	if obs.get("allow:new") != 4 || obs.get("refuse:rate_limited") != 2 || obs.get("refuse:concurrency") != 1 {
		t.Errorf("observer counts: %v", obs.n)
	}

	// An order whose Ticket is never done stops counting after staleOrder.
	clk.add(2 * time.Minute)
	x, _ := g.Decide(ctx, "x.example.com", false)
	y, _ := g.Decide(ctx, "y.example.com", false)
	if x == nil || y == nil {
		t.Fatal("orders not admitted")
	}
	clk.add(staleOrder + time.Second)
	if _, err := g.Decide(ctx, "z.example.com", false); err != nil {
		t.Errorf("slots of orders never done were not freed: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	g, _, clk, _, _ := newGate(t, config.OnDemand{Rate: config.OnDemandRate{Orders: 100, Per: time.Minute},
		Backoff: config.OnDemandBackoff{Initial: time.Minute, Max: 3 * time.Minute}}, func(string) int { return http.StatusOK })
	ctx := context.Background()
	const name = "flaky.example.com"
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute} {
		tk, err := g.Decide(ctx, name, false)
		if err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		tk.Done(false)
		clk.add(wait - time.Second)
		if _, err := g.Decide(ctx, name, false); reason(err) != Backoff {
			t.Fatalf("attempt %d: %v before the back-off of %v ended, want %s", i+1, err, wait, Backoff)
		}
		// A held name (its certificate came from another gateway) is not
		// held back.
		if _, err := g.Decide(ctx, name, true); err != nil {
			t.Errorf("held name in back-off: %v", err)
		}
		clk.add(time.Second)
	}
	tk, err := g.Decide(ctx, name, false)
	if err != nil {
		t.Fatal(err)
	}
	tk.Done(true)
	tk, _ = g.Decide(ctx, name, false)
	tk.Done(false)
	clk.add(time.Minute)
	if _, err := g.Decide(ctx, name, false); err != nil {
		t.Errorf("a success resets the back-off to its start: %v", err)
	}
}

func TestSweep(t *testing.T) {
	m := map[string]int{"a": 1, "b": 2}
	sweep(m, func(v int) bool { return v == 1 })
	if len(m) != 1 || m["b"] != 2 {
		t.Errorf("stale entry not swept: %v", m)
	}
}

// TestFullMemorySweptOnce: once the refusal memory is full of fresh
// entries, a new refusal must not walk the whole map for each new name
// (a flood of random names then makes every decision of the site, held
// names included, wait on g.mu for a walk of maxEntries): a sweep leaves
// room for many names.
func TestFullMemorySweptOnce(t *testing.T) {
	t.Parallel()
	g, _, clk, _, _ := newGate(t, config.OnDemand{RefusalCache: time.Hour}, func(string) int { return http.StatusForbidden })
	g.mu.Lock()
	for i := range maxEntries {
		g.refused[fmt.Sprintf("n%d.example.com", i)] = clk.now().Add(time.Hour)
	}
	g.mu.Unlock()
	if _, err := g.Decide(context.Background(), "new.example.com", false); reason(err) != AskDenied {
		t.Fatalf("new name: %v, want %s", err, AskDenied)
	}
	g.mu.Lock()
	n := len(g.refused)
	_, kept := g.refused["new.example.com"]
	g.mu.Unlock()
	if !kept {
		t.Error("the new refusal was not remembered")
	}
	if n > maxEntries-maxEntries/20 {
		t.Errorf("after a sweep of the full memory %d of %d entries are left: the next new name sweeps it again", n, maxEntries)
	}
}
