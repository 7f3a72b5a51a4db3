package h1

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/proxy"
)

// The proxy finds the hook by this interface; a change to either side
// that breaks it fails to compile here.
var _ proxy.CancelHook = (*reqCtx)(nil)

func newReqCtx(parent context.Context) *reqCtx {
	r := &reqCtx{}
	r.init(parent, parent.Done() == nil)
	return r
}

// ran waits up to a second for n calls to have been counted.
func ran(calls *atomic.Int32, n int32) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if calls.Load() == n {
			return true
		}
	}
	return calls.Load() == n
}

// TestReqCtxAfterCancel holds AfterCancel and StopAfterCancel to the
// contract of context.AfterFunc and its stop function.
func TestReqCtxAfterCancel(t *testing.T) {
	var calls atomic.Int32
	f := func() { calls.Add(1) }

	t.Run("canceled after", func(t *testing.T) {
		calls.Store(0)
		r := newReqCtx(context.Background())
		if !r.AfterCancel(f) {
			t.Fatal("AfterCancel refused on a hookable context")
		}
		r.cancel()
		if !ran(&calls, 1) {
			t.Fatalf("f ran %d times, want 1", calls.Load())
		}
		if r.Err() != context.Canceled {
			t.Fatalf("Err = %v", r.Err())
		}
		if r.StopAfterCancel() {
			t.Fatal("StopAfterCancel reported stopping a function that ran")
		}
		r.cancel() // a second cancel runs nothing again
		time.Sleep(10 * time.Millisecond)
		if calls.Load() != 1 {
			t.Fatalf("f ran %d times after a second cancel, want 1", calls.Load())
		}
	})
	t.Run("canceled before", func(t *testing.T) {
		calls.Store(0)
		r := newReqCtx(context.Background())
		r.cancel()
		if !r.AfterCancel(f) {
			t.Fatal("AfterCancel refused on a canceled context")
		}
		if !ran(&calls, 1) {
			t.Fatalf("f ran %d times, want 1 (at once)", calls.Load())
		}
		if r.StopAfterCancel() {
			t.Fatal("StopAfterCancel reported stopping a function that ran")
		}
	})
	t.Run("stopped", func(t *testing.T) {
		calls.Store(0)
		r := newReqCtx(context.Background())
		r.AfterCancel(f)
		if !r.StopAfterCancel() {
			t.Fatal("StopAfterCancel did not report stopping f")
		}
		if r.StopAfterCancel() {
			t.Fatal("a second StopAfterCancel reported stopping f again")
		}
		r.cancel()
		time.Sleep(10 * time.Millisecond)
		if calls.Load() != 0 {
			t.Fatalf("a stopped f ran %d times", calls.Load())
		}
		// Set again after a stop: it is the new one that runs.
		r2 := newReqCtx(context.Background())
		r2.AfterCancel(func() {})
		r2.StopAfterCancel()
		if !r2.AfterCancel(f) {
			t.Fatal("AfterCancel refused after a stop")
		}
		r2.cancel()
		if !ran(&calls, 1) {
			t.Fatalf("f ran %d times, want 1", calls.Load())
		}
	})
	t.Run("one at a time", func(t *testing.T) {
		r := newReqCtx(context.Background())
		if !r.AfterCancel(func() {}) || r.AfterCancel(f) {
			t.Fatal("a second AfterCancel while one is set must report false")
		}
	})
	t.Run("parent can end", func(t *testing.T) {
		// A parent that can be canceled ends the request without cancel:
		// no hook, so that the caller uses context.AfterFunc.
		parent, stop := context.WithCancel(context.Background())
		defer stop()
		r := newReqCtx(parent)
		if r.AfterCancel(f) {
			t.Fatal("AfterCancel accepted under a cancelable parent")
		}
	})
}

// TestReqCtxStopRacesCancel: whatever the order, f runs exactly when
// StopAfterCancel reports false (the proxy reuses an upstream connection
// only when it reports true, and f poisons that connection). A start
// barrier, and a yield on one side or the other in turn, make both orders
// happen (a review found that without them the stop always came first;
// with the barrier alone, without -race, the cancel nearly always did).
func TestReqCtxStopRacesCancel(t *testing.T) {
	var stopFirst, cancelFirst int
	var stoppedCalls []*atomic.Int32 // calls of functions whose stop reported true
	for i := 0; i < 50000 && (i < 5000 || stopFirst == 0 || cancelFirst == 0); i++ {
		calls := new(atomic.Int32)
		r := newReqCtx(context.Background())
		r.AfterCancel(func() { calls.Add(1) })
		var ready atomic.Int32
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Add(1)
			for ready.Load() < 2 {
				runtime.Gosched()
			}
			if i%2 == 1 {
				runtime.Gosched()
			}
			r.cancel()
		}()
		ready.Add(1)
		for ready.Load() < 2 {
			runtime.Gosched()
		}
		if i%2 == 0 {
			runtime.Gosched()
		}
		stopped := r.StopAfterCancel()
		wg.Wait()
		if stopped {
			stopFirst++
			stoppedCalls = append(stoppedCalls, calls)
		} else {
			cancelFirst++
			if !ran(calls, 1) {
				t.Fatalf("round %d: StopAfterCancel reported false, f ran %d times", i, calls.Load())
			}
		}
	}
	time.Sleep(20 * time.Millisecond) // for any function started in error
	for _, calls := range stoppedCalls {
		if calls.Load() != 0 {
			t.Fatal("a function ran although StopAfterCancel reported stopping it")
		}
	}
	if stopFirst == 0 || cancelFirst == 0 {
		t.Errorf("only one order happened (stop first %d, cancel first %d)", stopFirst, cancelFirst)
	}
	t.Logf("stop first %d, cancel first %d", stopFirst, cancelFirst)
}
