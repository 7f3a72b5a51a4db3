package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// TestHTTP3InChromium: headless Chromium, forced onto QUIC for the
// gateway's origin and trusting its leaf by SPKI, loads a page through
// the gateway and the page calls the API; both go over HTTP/3
// (nextHopProtocol "h3"). The origin is an IP address, so Chromium sends
// no SNI and the site is picked by the UDP address, as on TCP.
func TestHTTP3InChromium(t *testing.T) {
	chromium := testpeer.Require(t, "chromium")
	p := newPKI(t, "localhost", "127.0.0.1")
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"proto":%q}`, r.Header.Get("X-Forwarded-Proto"))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>loading</title><p id=out></p>
<script>fetch("/api/hello").then(r => r.json()).then(j => { document.getElementById("out").textContent = "api:" + j.proto; });</script>`)
	}))
	g := startGateway(t, oneSite(p, "intermediate", up, ""))
	_, port, _ := net.SplitHostPort(g.udp(t))
	leaf := leafOf(t, p.certFile)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out syncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("origin-to-force-quic-on", "127.0.0.1:"+port),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(&out),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	defer func() {
		if t.Failed() {
			t.Logf("chromium output:\n%s\ngateway log:\n%s", out.String(), g.logs.String())
		}
	}()
	if err := chromedp.Do(bctx, chromedp.Navigate("https://127.0.0.1:"+port+"/")); err != nil {
		t.Fatalf("loading the page over HTTP/3: %v", err)
	}
	text, err := chromedp.Run(bctx, chromedp.Poll[string](`document.getElementById("out").textContent`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("waiting for the page's API call: %v", err)
	}
	navProto, err := chromedp.Run(bctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].nextHopProtocol`))
	if err != nil {
		t.Fatal(err)
	}
	apiProto, err := chromedp.Run(bctx, chromedp.Evaluate[string](`performance.getEntriesByType("resource").find(e => e.name.endsWith("/api/hello")).nextHopProtocol`))
	if err != nil {
		t.Fatal(err)
	}
	if text != "api:https" {
		t.Errorf("page says %q, want api:https (the API answered through the gateway)", text)
	}
	if navProto != "h3" || apiProto != "h3" {
		t.Errorf("page over %q, API call over %q; want h3 for both", navProto, apiProto)
	}
	if !strings.Contains(g.logs.String(), "proto=HTTP/3.0") {
		t.Error("no HTTP/3 request in the gateway's access log")
	}
}
