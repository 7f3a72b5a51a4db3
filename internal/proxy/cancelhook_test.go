package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hookCtx offers CancelHook the way internal/h1's request contexts do
// (h1's own tests hold its type to context.AfterFunc's contract), and
// counts its use.
type hookCtx struct {
	context.Context
	cancelCtx context.CancelFunc

	mu         sync.Mutex
	hook       func()
	done       bool
	sets       atomic.Int32
	stops      atomic.Int32 // StopAfterCancel calls that stopped the hook
	fallbacks  atomic.Int32 // Done calls: the caller went to context.AfterFunc
	refuseHook bool
}

func newHookCtx(parent context.Context) *hookCtx {
	c := &hookCtx{}
	c.Context, c.cancelCtx = context.WithCancel(parent)
	return c
}

func (c *hookCtx) Done() <-chan struct{} {
	c.fallbacks.Add(1)
	return c.Context.Done()
}

func (c *hookCtx) cancel() {
	c.cancelCtx()
	c.mu.Lock()
	f := c.hook
	c.hook, c.done = nil, true
	c.mu.Unlock()
	if f != nil {
		go f()
	}
}

func (c *hookCtx) AfterCancel(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuseHook || c.hook != nil {
		return false
	}
	c.sets.Add(1)
	if c.done {
		go f()
	} else {
		c.hook = f
	}
	return true
}

func (c *hookCtx) StopAfterCancel() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hook == nil {
		return false
	}
	c.hook = nil
	c.stops.Add(1)
	return true
}

// TestCancelHookUsed: the upstream exchange takes a context's CancelHook
// instead of context.AfterFunc, stops it when the answer is read, and
// reuses the connection; a context that refuses the hook gets AfterFunc.
func TestCancelHookUsed(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{up.URL}})
	for i := 0; i < 3; i++ {
		ctx := newHookCtx(context.Background())
		resp := serve(s, httptest.NewRequestWithContext(ctx, "GET", "https://example.com/", nil))
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		if ctx.sets.Load() != 1 || ctx.stops.Load() != 1 {
			t.Errorf("request %d: hook set %d and stopped %d times, want 1 and 1", i, ctx.sets.Load(), ctx.stops.Load())
		}
		if i > 0 && ctx.fallbacks.Load() != 0 { // the first dials, with the context
			t.Errorf("request %d: context.AfterFunc used (Done called %d times) although the context offers the hook", i, ctx.fallbacks.Load())
		}
		ctx.cancel() // the request ends: nothing of it is left to run
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 3 requests in a row, want 1 (reused after the hook was stopped)", n)
	}

	ctx := newHookCtx(context.Background())
	ctx.refuseHook = true
	resp := serve(s, httptest.NewRequestWithContext(ctx, "GET", "https://example.com/", nil))
	if resp.StatusCode != 200 || ctx.fallbacks.Load() == 0 {
		t.Errorf("hook refused: status %d, Done called %d times (want context.AfterFunc)", resp.StatusCode, ctx.fallbacks.Load())
	}
	ctx.cancel()
}

// TestCancelHookAborts: canceling a context through its hook unblocks an
// exchange waiting for the upstream (499, upstream not blamed), as
// context.AfterFunc does in TestClientGone; the connection is not reused.
func TestCancelHookAborts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Write([]byte("ok"))
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(func() { close(release); up.Close() })
	s := newTestSite(t, nil, RouteConfig{Path: "/", Upstreams: []string{up.URL}})

	ctx := newHookCtx(context.Background())
	time.AfterFunc(100*time.Millisecond, ctx.cancel)
	start := time.Now()
	resp := serve(s, httptest.NewRequestWithContext(ctx, "GET", "https://example.com/hold", nil))
	if resp.StatusCode != 499 {
		t.Errorf("status %d, want 499 for a client that went away", resp.StatusCode)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the exchange ended %v after the start, want soon after the cancel at 100 ms", d)
	}
	if ctx.sets.Load() != 1 { // roundTrip uses the hook or context.AfterFunc, never both
		t.Errorf("hook set %d times: the hook was not what aborted", ctx.sets.Load())
	}
	for _, u := range s.routes[0].pool.ups {
		if u.downUntil.Load() != 0 {
			t.Errorf("upstream %s put in back-off because a client left", u.name)
		}
	}
	// The aborted connection is not reused: the next request dials anew.
	next := newHookCtx(context.Background())
	if resp := serve(s, httptest.NewRequestWithContext(next, "GET", "https://example.com/", nil)); resp.StatusCode != 200 {
		t.Fatalf("next request: status %d", resp.StatusCode)
	}
	next.cancel()
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections, want 2 (the aborted one not reused)", n)
	}
}

// TestStopWhileAbortPending: once the request's cancel has taken the
// abort function, which has not run yet (it runs in a goroutine of its
// own), stop must report the connection unusable although canceled is
// not set yet: the abort would poison it under its next user.
func TestStopWhileAbortPending(t *testing.T) {
	ctx := newHookCtx(context.Background())
	ran := false
	if !ctx.AfterCancel(func() { ran = true }) {
		t.Fatal("hook refused")
	}
	// What cancel does before the function starts.
	ctx.mu.Lock()
	ctx.hook, ctx.done = nil, true
	ctx.mu.Unlock()
	c := &h1Conn{hook: ctx}
	if c.stop() {
		t.Fatal("stop reported the connection usable while its abort was pending")
	}
	if c.hook != nil || c.stopCtx != nil || ran {
		t.Fatal("stop left the watcher set, or ran the function")
	}
	// And a stopped hook leaves it usable.
	ctx2 := newHookCtx(context.Background())
	ctx2.AfterCancel(func() {})
	c = &h1Conn{hook: ctx2}
	if !c.stop() {
		t.Fatal("stop reported a connection unusable whose hook it stopped")
	}
}
