package status

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// cspProbe runs in the page before its own content (DevTools scripts are
// exempt from the page's CSP) and records every CSP violation, which the
// console reports only as text.
const cspProbe = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", e =>
	window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline")));`

// browserEvents collects what the page must not produce: console errors and
// warnings, exceptions, browser log entries, and requests to any origin but
// the test server's. Chromium reports a request even when the CSP stops it
// before it leaves; blocked says which were stopped, and why.
type browserEvents struct {
	mu       sync.Mutex
	problems []string
	requests []string
	urls     map[network.RequestID]string
	blocked  map[string]network.BlockedReason // URL -> reason
}

func (b *browserEvents) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+ev.ExceptionDetails.Text)
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
			b.problems = append(b.problems, fmt.Sprintf("log %s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
		b.urls[ev.RequestID] = ev.Request.URL
	case *network.EventLoadingFailed:
		if ev.BlockedReason != "" {
			b.blocked[b.urls[ev.RequestID]] = ev.BlockedReason
		}
	}
}

func (b *browserEvents) blockedReason(url string) network.BlockedReason {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blocked[url]
}

func (b *browserEvents) snapshot() (problems, requests []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...), append([]string(nil), b.requests...)
}

// TestPageInChromium loads the page in a real headless Chromium, checks
// that it renders the certificates in order and colour without any console
// error, CSP violation or outside request, and saves screenshots (wide,
// narrow, dark) for a person to look at.
func TestPageInChromium(t *testing.T) {
	chromium := testpeer.Require(t, "chromium")
	start := time.Now()

	srv := httptest.NewServer(Handler(fixture)) // httptest listens on 127.0.0.1 only
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var chromiumOutput syncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The machine has no internet: anything that phones home would hang
		// or log errors that are not the page's.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers have a small /dev/shm
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&chromiumOutput),
	)
	defer cancelAlloc() // stops Chromium before t.TempDir is removed
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	defer func() {
		if t.Failed() {
			t.Logf("chromium output:\n%s", chromiumOutput.String())
		}
	}()

	events := browserEvents{urls: map[network.RequestID]string{}, blocked: map[string]network.BlockedReason{}}
	if err := chromedp.Listen(bctx, events.listen); err != nil {
		t.Fatalf("starting chromium %s: %v\n%s", chromium, err, chromiumOutput.String())
	}
	if _, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))

	// Load the page at desktop width, and read back what a person sees.
	if err := chromedp.Do(bctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible("#upstreams"),
	); err != nil {
		t.Fatalf("loading the status page: %v", err)
	}
	t.Logf("page loaded after %v", time.Since(start).Round(time.Millisecond))

	type certRow struct{ Name, Class, Stripe, Bar string }
	rows := evaluate[[]certRow](t, bctx, `[...document.querySelectorAll("tr.cert")].map(r => {
		const elapsed = r.querySelector(".timeline .elapsed");
		return {
			Name: r.querySelector(".cert-name").textContent,
			Class: r.className,
			Stripe: getComputedStyle(r.cells[0]).borderLeftColor,
			Bar: elapsed ? getComputedStyle(elapsed).fill : getComputedStyle(r.querySelector(".timeline .track")).stroke,
		};
	})`)
	// The light theme's colours (style.css).
	const (
		redRGB      = "rgb(207, 34, 46)"
		amberRGB    = "rgb(154, 103, 0)"
		amberBarRGB = "rgb(212, 167, 44)"
		greenRGB    = "rgb(26, 127, 55)"
		greenBarRGB = "rgb(45, 164, 78)"
		greyRGB     = "rgb(140, 149, 159)"
	)
	want := []certRow{
		{"legacy.example.com", "cert is-red expired", redRGB, redRGB},
		{"shop.example.com", "cert is-red", redRGB, redRGB},
		{"api.example.com", "cert is-amber", amberRGB, amberBarRGB},
		{"intranet.example.com", "cert is-green", greenRGB, greenBarRGB},
		{"partners.example.com", "cert is-green", greenRGB, greenBarRGB},
		{"new.example.com", "cert is-amber pending", amberRGB, greyRGB},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("certificate rows as rendered:\n%+v\nwant\n%+v", rows, want)
	}

	if got := evaluate[string](t, bctx, `document.querySelector("#cert-summary").textContent`); !strings.HasPrefix(got, "6 certificates, 1 expired") {
		t.Errorf("certificate summary = %q", got)
	}
	if got := evaluate[string](t, bctx, `[...document.querySelectorAll(".bar")].find(b => b.textContent.includes("X25519MLKEM768"))?.querySelector(".badge")?.innerText ?? ""`); got != "post-quantum hybrid" {
		t.Errorf("X25519MLKEM768 badge = %q, want it visible as post-quantum hybrid", got)
	}
	// The hostile client-certificate subject is text, not markup.
	if got := evaluate[string](t, bctx, `document.querySelector("td.subject").textContent`); got != `CN=<script>alert("pwned")</script>,O=Mallory` {
		t.Errorf("first subject shown as %q", got)
	}
	if n := evaluate[int](t, bctx, `document.scripts.length`); n != 0 {
		t.Errorf("page has %d script elements, want none", n)
	}
	if got := evaluate[string](t, bctx, `getComputedStyle(document.querySelector("tr.upstream.down td")).backgroundColor`); got != "rgb(255, 235, 233)" {
		t.Errorf("down upstream background = %s, want the red tint", got)
	}

	dir := artifactDir(t)
	screenshot(t, bctx, filepath.Join(dir, "status-page.png"))

	// A phone: no sideways scrolling, the tables become cards.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	if w := evaluate[int](t, bctx, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); w > 0 {
		t.Errorf("at 390 px the page scrolls sideways by %d px", w)
	}
	screenshot(t, bctx, filepath.Join(dir, "status-page-narrow.png"))

	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, bctx, filepath.Join(dir, "status-page-dark.png"))

	problems, requests := events.snapshot()
	violations := evaluate[[]string](t, bctx, `window.__cspViolations`)
	for _, p := range append(problems, violations...) {
		t.Errorf("browser reported: %s", p)
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, srv.URL+"/") {
			t.Errorf("page requested %s: it must load nothing but its own files", u)
		}
	}
	if len(requests) < 3 {
		t.Errorf("saw requests %q, want at least the page, its stylesheet and icon (is the network listener working?)", requests)
	}

	// Control: an outside image must be stopped by the CSP and reported,
	// or the checks above prove nothing.
	const probe = "http://192.0.2.1/probe.png" // TEST-NET-1: routes nowhere
	evaluate[bool](t, bctx, `(() => { const i = new Image(); i.src = "`+probe+`"; document.body.append(i); return true })()`)
	deadline := time.Now().Add(5 * time.Second)
	for len(evaluate[[]string](t, bctx, `window.__cspViolations`)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an outside image raised no CSP violation: is the Content-Security-Policy applied?")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for time.Now().Before(deadline) && events.blockedReason(probe) == "" {
		time.Sleep(50 * time.Millisecond)
	}
	if got := events.blockedReason(probe); got != network.BlockedReasonCsp {
		t.Errorf("the request to %s was blocked for %q, want %q", probe, got, network.BlockedReasonCsp)
	}
	if problems, _ := events.snapshot(); len(problems) == 0 {
		t.Error("the blocked image left no console error: is the console listener working?")
	}
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

// evaluate runs a JavaScript expression in the page and returns its value.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("taking a screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("saving the screenshot: %v", err)
	}
	t.Logf("screenshot: %s", path)
}

// syncBuffer is a strings.Builder safe for Chromium's output goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// artifactDir is where screenshots go: $TLSGATE_ARTIFACTS when set (CI
// uploads it), else the test's artifact directory (kept with -artifacts).
func artifactDir(t *testing.T) string {
	if dir := os.Getenv("TLSGATE_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("creating TLSGATE_ARTIFACTS directory: %v", err)
		}
		return dir
	}
	return t.ArtifactDir()
}
