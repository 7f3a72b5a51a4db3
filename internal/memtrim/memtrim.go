// Package memtrim returns memory to the operating system once a burst of
// client connections has passed, or a ramp of them has gone idle.
//
// Go gives freed heap back to the OS only through its background
// scavenger, which keeps everything up to the heap goal, and the heap goal
// only falls after a garbage collection, which runs when the heap grows
// (or every two minutes). After thousands of TLS connections close, their
// buffers, dead goroutine stacks and the heap they grew stay resident: the
// process idles at its burst-time RSS (issue 17, bench/burst.sh before
// this package: 29.8 MiB before a 5,000-connection HTTP/2 burst, 328.0
// MiB at its peak and 328.1 MiB 60 s after).
//
// A Trimmer counts open connections (its ConnState method is an
// http.Server.ConnState hook) and remembers their recent peak. When the
// count has stayed at or below half of a peak of at least MinPeak
// connections for Quiet, or when MinPeak or more connections opened since
// the last trim are held idle (none opened or closed for Quiet), it trims
// once: two forced collections (the
// second frees what sync.Pools kept through the first), then
// debug.FreeOSMemory's scavenge of all free pages; then it starts a new
// peak from the current count. Trims are at least MinInterval apart, so load that
// flaps around the threshold cannot cause a stream of forced collections.
// With the garbage collector off ($GOGC=off) it never trims: that setting
// asks for no collection before the memory limit.
package memtrim

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// Defaults, chosen from the issue 17 measurements (bench/burst.sh): an
// HTTP/2 TLS connection through the proxy cost about 60 KiB of RSS at the
// burst's peak, so 256 connections are about 15 MiB, below which a forced
// collection is not worth its CPU; 5 s lets the tail of a burst close
// first; one trim a minute bounds the cost of the forced collection (a
// full GC cycle, mostly concurrent, plus returning the free pages) for any
// pattern of load.
const (
	DefaultMinPeak     = 256
	DefaultQuiet       = 5 * time.Second
	DefaultMinInterval = time.Minute
	checkEvery         = time.Second
)

// Trimmer decides when to return memory to the OS. The zero value is not
// usable; create one with New.
type Trimmer struct {
	// MinPeak is the smallest connection peak worth trimming after.
	MinPeak int
	// Quiet is how long the open count must stay at or below half the
	// peak before a trim.
	Quiet time.Duration
	// MinInterval is the least time between two trims.
	MinInterval time.Duration

	log  *slog.Logger
	now  func() time.Time
	trim func() // freeOSMemory, replaced in tests

	mu         sync.Mutex
	open       int
	peak       int       // largest open count since the last trim
	lowSince   time.Time // when open last fell to or below peak/2; zero while above
	lastTrim   time.Time
	base       int       // open count at the last trim (0 before the first)
	lastChange time.Time // when a connection last opened or closed
}

// New returns a Trimmer with the default thresholds that logs its trims
// at debug level on log.
func New(log *slog.Logger) *Trimmer {
	return &Trimmer{
		MinPeak:     DefaultMinPeak,
		Quiet:       DefaultQuiet,
		MinInterval: DefaultMinInterval,
		log:         log,
		now:         time.Now,
		trim:        freeOSMemory,
	}
}

// freeOSMemory collects twice, then returns the free pages to the OS.
// One collection is not enough after a burst: sync.Pool contents (the
// proxy's 32 KiB copy buffers, net/http's and HTTP/2's pooled buffers,
// one per connection at the peak) survive a first collection in the
// pools' victim caches and are only freed by the second.
func freeOSMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// ConnState counts connections; set it as http.Server.ConnState (HTTP/2
// connections report StateNew and StateClosed through it too).
func (t *Trimmer) ConnState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		now := t.now()
		t.mu.Lock()
		t.lastChange = now
		t.open++
		if t.open > t.peak {
			t.peak = t.open
		}
		if t.open*2 > t.peak {
			t.lowSince = time.Time{}
		}
		t.mu.Unlock()
	case http.StateClosed, http.StateHijacked:
		now := t.now()
		t.mu.Lock()
		t.lastChange = now
		t.open--
		if t.open*2 <= t.peak && t.lowSince.IsZero() {
			t.lowSince = now
		}
		t.mu.Unlock()
	}
}

// Open is the number of open connections counted.
func (t *Trimmer) Open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open
}

// due reports whether a trim is due now and, if so, starts a new peak as
// though it had run. Caller holds t.mu.
func (t *Trimmer) due(now time.Time) bool {
	burst := t.peak >= t.MinPeak && !t.lowSince.IsZero() && now.Sub(t.lowSince) >= t.Quiet
	// A ramp: MinPeak or more connections opened since the last trim and
	// are still open, and none opened or closed for Quiet. Their
	// handshakes left garbage that no collection will take while they
	// idle (nothing allocates), so it stays resident until Go's forced
	// collection every two minutes; idle keep-alive connections time
	// out about then.
	ramp := t.open-t.base >= t.MinPeak && !t.lastChange.IsZero() && now.Sub(t.lastChange) >= t.Quiet
	if !burst && !ramp {
		return false
	}
	if !t.lastTrim.IsZero() && now.Sub(t.lastTrim) < t.MinInterval {
		return false
	}
	t.lastTrim = now
	t.peak = t.open
	t.base = t.open
	t.lowSince = time.Time{}
	return true
}

// Check trims if a trim is due; Run calls it every second.
func (t *Trimmer) Check() bool {
	now := t.now()
	t.mu.Lock()
	peak, open := t.peak, t.open // due starts a new peak
	ok := t.due(now)
	t.mu.Unlock()
	if !ok || gcOff() { // with GOGC=off, due still starts a new peak: no trim pending
		return false
	}
	if !t.log.Enabled(context.Background(), slog.LevelDebug) {
		t.trim()
		return true
	}
	var before, after runtime.MemStats
	rssBefore := rss()
	runtime.ReadMemStats(&before)
	start := time.Now()
	t.trim()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	t.log.Debug("returned memory to the OS after connections opened or closed in numbers",
		"open_conns", open, "peak_conns", peak, "took", took.String(),
		"rss_mib_before", mib(rssBefore), "rss_mib_after", mib(rss()),
		"heap_inuse_mib_before", mib(before.HeapInuse), "heap_inuse_mib_after", mib(after.HeapInuse),
		"heap_released_mib_before", mib(before.HeapReleased), "heap_released_mib_after", mib(after.HeapReleased),
		"stack_inuse_mib_after", mib(after.StackInuse), "go_sys_mib_after", mib(after.Sys-after.HeapReleased),
		"goroutines_after", runtime.NumGoroutine())
	return true
}

// Run checks every second until ctx is done.
func (t *Trimmer) Run(ctx context.Context) {
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Check()
		}
	}
}

func gcOff() bool {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Kind() == metrics.KindUint64 && int64(s[0].Value.Uint64()) < 0
}

func mib(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) }

// rss is the resident set size from /proc/self/status (0 off Linux).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte("\nVmRSS:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(line), []byte(" kB"))), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}
