package memtrim

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type fake struct {
	t     *testing.T
	tr    *Trimmer
	now   time.Time
	trims int
	logs  bytes.Buffer
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.tr = New(slog.New(slog.NewTextHandler(&f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	f.tr.now = func() time.Time { return f.now }
	f.tr.trim = func() { f.trims++ }
	return f
}

func (f *fake) conns(n int, s http.ConnState) {
	for range n {
		f.tr.ConnState(nil, s)
	}
}

// after advances the clock by d, checks, and wants the trims so far.
func (f *fake) after(d time.Duration, wantTrims int) {
	f.t.Helper()
	f.now = f.now.Add(d)
	f.tr.Check()
	if f.trims != wantTrims {
		f.t.Fatalf("after %s (open %d): %d trims, want %d", d, f.tr.Open(), f.trims, wantTrims)
	}
}

func TestSmallPeakNeverTrims(t *testing.T) {
	f := newFake(t)
	f.conns(DefaultMinPeak-1, http.StateNew)
	f.conns(DefaultMinPeak-1, http.StateClosed)
	f.after(time.Hour, 0)
}

func TestTrimsOnceAfterQuietBelowHalf(t *testing.T) {
	f := newFake(t)
	f.conns(300, http.StateNew)
	f.conns(100, http.StateClosed) // 200 open: above half of 300
	f.after(time.Minute, 0)
	f.conns(60, http.StateClosed) // 140 open: at most half
	f.after(DefaultQuiet-time.Second, 0)
	f.after(time.Second, 1)
	if !strings.Contains(f.logs.String(), "returned memory to the OS") || !strings.Contains(f.logs.String(), "peak_conns=300") {
		t.Errorf("no debug line with the figures: %q", f.logs.String())
	}
	// The peak restarts at 140: closing the rest is below MinPeak.
	f.conns(140, http.StateClosed)
	f.after(time.Hour, 1)
	if f.tr.Open() != 0 {
		t.Fatalf("open %d, want 0", f.tr.Open())
	}
}

func TestNewConnectionsAboveHalfRestartQuiet(t *testing.T) {
	f := newFake(t)
	f.conns(1000, http.StateNew)
	f.conns(600, http.StateClosed) // 400 open
	f.after(DefaultQuiet-time.Second, 0)
	f.conns(200, http.StateNew) // 600 open: above half again
	f.after(time.Second, 0)
	f.conns(200, http.StateHijacked) // 400 open: hijacked connections leave the count
	f.after(DefaultQuiet-time.Second, 0)
	f.after(time.Second, 1)
}

func TestRateLimited(t *testing.T) {
	f := newFake(t)
	f.conns(5000, http.StateNew)
	f.conns(5000, http.StateClosed)
	f.after(DefaultQuiet, 1)
	// Bursts every 10 s: at most one trim per MinInterval.
	for range 5 {
		f.conns(5000, http.StateNew)
		f.conns(5000, http.StateClosed)
		f.after(10*time.Second, 1)
	}
	f.after(DefaultMinInterval-5*10*time.Second, 2) // a minute after the first
}

// HTTP/2 connections pass through ConnState too: the count returns to 0.
func TestCountsHTTP2Connections(t *testing.T) {
	tr := New(slog.New(slog.DiscardHandler))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("request over %s, want HTTP/2", r.Proto)
		}
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = tr.ConnState
	srv.StartTLS()
	defer srv.Close()
	for range 3 {
		c := srv.Client()
		res, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		c.CloseIdleConnections()
	}
	deadline := time.Now().Add(5 * time.Second)
	for tr.Open() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := tr.Open(); n != 0 {
		t.Fatalf("%d connections counted open after all closed", n)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.peak < 1 {
		t.Fatalf("peak %d: connections were not counted", tr.peak)
	}
}

// TestTrimsAfterQuietRamp: MinPeak or more connections opened and then
// held idle (none opened or closed for Quiet) trim once; more of them
// trim again, no sooner than MinInterval; a steady trickle of new
// connections never counts as quiet.
func TestTrimsAfterQuietRamp(t *testing.T) {
	f := newFake(t)
	f.conns(300, http.StateNew)
	f.after(DefaultQuiet-time.Second, 0)
	f.after(time.Second, 1)
	f.after(time.Hour, 1) // the same connections, still idle: done
	f.conns(300, http.StateNew)
	f.after(DefaultQuiet, 2) // an hour since the last trim
	f.conns(300, http.StateNew)
	f.after(DefaultQuiet, 2) // within MinInterval of the last
	f.after(DefaultMinInterval, 3)

	g := newFake(t)
	for range 600 {
		g.conns(1, http.StateNew)
		g.after(time.Second, 0)
	}
	g.after(DefaultQuiet, 1) // the trickle stopped
}
