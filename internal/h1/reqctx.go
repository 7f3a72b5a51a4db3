package h1

import (
	"context"
	"sync"
)

// reqCtx is a request's context: the cancelCtx context.WithCancel makes,
// and room for one function to run when the request is canceled.
//
// internal/proxy unblocks an upstream exchange when the client's request
// is canceled (the client went away, a write to it failed, or the request
// ended). context.AfterFunc does that at five allocations per request
// (its context, the Done channel, the children map, the stop function:
// 3% of the CPU of a proxied HTTP/1.1 request). AfterCancel and
// StopAfterCancel are the same contract for this context, allocating
// nothing: the proxy uses them when the request's context is a reqCtx
// (an interface it declares; h1 is not imported), and context.AfterFunc
// otherwise.
//
// It is only offered when nothing but cancel can end the context: the
// connection's context must never be done (hookable), as it is when
// Server.ConnContext adds values only. Otherwise a parent's cancellation
// would end the request without running the function.
//
// Being part of the response, a context a handler keeps after its request
// keeps the response (and through it the connection's state) reachable
// too; net/http's contexts keep less. Nothing of tlsgate's keeps one.
type reqCtx struct {
	context.Context
	cancelCtx context.CancelFunc
	hookable  bool

	mu   sync.Mutex
	hook func() // to run when canceled; nil when none is set
	done bool   // cancel ran
}

// init makes r the child of parent; r lives in the request's response.
// endless says parent is never done (parent.Done() == nil, which the
// connection works out once for all its requests).
func (r *reqCtx) init(parent context.Context, endless bool) {
	r.Context, r.cancelCtx = context.WithCancel(parent)
	r.hookable = endless
}

// cancel cancels the context, then starts the function set by AfterCancel,
// if any, in a goroutine of its own (as context.AfterFunc does).
func (r *reqCtx) cancel() {
	r.cancelCtx()
	r.mu.Lock()
	f := r.hook
	r.hook, r.done = nil, true
	r.mu.Unlock()
	if f != nil {
		go f()
	}
}

// AfterCancel arranges for f to run in its own goroutine once the request
// is canceled, at once if it has been, as context.AfterFunc(r, f) does.
// It reports false, having done nothing, when it cannot: the context can
// end in other ways, or a function is set already (the caller then uses
// context.AfterFunc).
func (r *reqCtx) AfterCancel(f func()) bool {
	if !r.hookable {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.hook != nil:
		return false
	case r.done:
		go f()
	default:
		r.hook = f
	}
	return true
}

// StopAfterCancel is the stop function of context.AfterFunc for
// AfterCancel: it unsets the function and reports whether that stopped it
// from running; false when it has started (or none was set).
func (r *reqCtx) StopAfterCancel() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hook == nil {
		return false
	}
	r.hook = nil
	return true
}
