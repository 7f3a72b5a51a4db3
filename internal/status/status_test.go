package status

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/page.golden.html from the current output")

// fixtureNow is the fixture's Generated time: the page measures from it, so
// the rendering does not depend on the clock.
var fixtureNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// fixture is a gateway in trouble: one certificate of each urgency, a
// self-renewing internal one with 5 days left that needs nobody, a
// rejected client certificate whose subject tries to inject a script, an
// upstream that is down and one back from its back-off whose last attempt
// failed.
func fixture() Snapshot {
	now := fixtureNow
	return Snapshot{
		Generated: now,
		Version:   "v0.9.0",
		Certificates: []Certificate{
			{Site: "intranet", Name: "intranet.example.com", Source: "internal", Issuer: "tlsgate internal CA",
				Serial: "5c:02", NotBefore: now.Add(-2 * day), NotAfter: now.Add(5 * day), RenewAt: now.Add(-2*day + 112*time.Hour)},
			{Site: "partners", Name: "partners.example.com", Source: "files", Issuer: "Example Partner CA",
				Serial: "4f:1a:9c:02:77:e3", NotBefore: now.Add(-275 * day), NotAfter: now.Add(90 * day)},
			{Site: "new", Name: "new.example.com", Source: "acme", LastAttempt: now.Add(-5 * time.Minute),
				LastResult: "failed", LastError: "acme: order failed: urn:ietf:params:acme:error:dns: no valid A records found for new.example.com"},
			{Site: "api", Name: "api.example.com", Source: "acme", Issuer: "Let's Encrypt R11",
				Serial: "03:8e:5d:41:aa:19:0c:7b:62:f0:d8:35:9a:11:e4:2c:70:b6", NotBefore: now.Add(-70 * day), NotAfter: now.Add(20 * day),
				RenewAt: now.Add(-10 * day), LastAttempt: now.Add(-2 * time.Hour), LastResult: "renewal scheduled"},
			{Site: "legacy", Name: "legacy.example.com", Source: "files", Issuer: "Example Corp Issuing CA 2",
				Serial: "1d:22:7f", NotBefore: now.Add(-400 * day), NotAfter: now.Add(-2 * day)},
			{Site: "shop", Name: "shop.example.com", Source: "files", Issuer: "DigiCert Global G2 TLS RSA SHA256 2020 CA1",
				Serial: "0a:b3:44:9e:c1:5d", NotBefore: now.Add(-362 * day), NotAfter: now.Add(3 * day)},
		},
		Handshakes: Handshakes{
			Versions: map[string]uint64{"TLS 1.3": 9120, "TLS 1.2": 880},
			Groups:   map[string]uint64{"X25519MLKEM768": 6400, "X25519": 3100, "CurveP256": 500},
			ALPN:     map[string]uint64{"h2": 7000, "http/1.1": 3000},
			Resumed:  2300,
			Full:     7700,
			Failures: map[string]uint64{"client certificate required": 7, "no SNI match": 3, "unsupported protocol version": 5},
		},
		ClientCertFailures: []ClientCertFailure{
			{Time: now.Add(-1 * time.Minute), Site: "api", Route: "/v1/partners", Reason: "certificate signed by unknown authority",
				Subject: `CN=<script>alert("pwned")</script>,O=Mallory`},
			{Time: now.Add(-10 * time.Minute), Site: "api", Route: "/v1/admin", Reason: "certificate has expired",
				Subject: "CN=ops-laptop-17,O=Example Corp"},
		},
		Upstreams: []Upstream{
			{Site: "api", Route: "/v1", URL: "http://10.0.0.5:8080", Healthy: true, LastAttempt: now.Add(-time.Second), LastResult: "ok"},
			{Site: "api", Route: "/v1/partners", URL: "https://partners-backend.internal:8443", ConsecutiveFailures: 4, RetryAt: now.Add(12 * time.Second),
				LastAttempt: now.Add(-4 * time.Second), LastResult: "failed", LastError: "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"},
			{Site: "shop", Route: "/", URL: "http://127.0.0.1:9000", Healthy: true},
			{Site: "shop", Route: "/api", URL: "http://127.0.0.1:9001", Healthy: true, ConsecutiveFailures: 3,
				LastAttempt: now.Add(-40 * time.Second), LastResult: "failed", LastError: "dial tcp 127.0.0.1:9001: connect: connection refused"},
		},
	}
}

// fixtureOrder is the certificates of fixture as the page must list them:
// what needs a person first (red, amber, green), then soonest expiry,
// pending last.
var fixtureOrder = []string{"legacy.example.com", "shop.example.com", "api.example.com", "intranet.example.com", "partners.example.com", "new.example.com"}

func get(t *testing.T, h http.Handler, method, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func renderFixture(t *testing.T) string {
	t.Helper()
	resp := get(t, Handler(fixture), "GET", "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %s", resp.Status)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'self'", got)
	}
	return body(t, resp)
}

func TestPageShowsFixture(t *testing.T) {
	t.Parallel()
	page := renderFixture(t)

	for _, want := range []string{
		// Summary on top of the certificates.
		`6 certificates, 1 expired (legacy.example.com), next expiry in 3 days (shop.example.com), 1 pending (new.example.com)`,
		// One row per urgency.
		`<tr class="cert is-red expired">`,
		`<tr class="cert is-red">`,
		`<tr class="cert is-amber">`,
		`<tr class="cert is-green">`,
		// A pending certificate whose order fails needs a person.
		`<tr class="cert is-amber pending">`,
		`expired 2 days ago`, `3 days left`, `20 days left`, `90 days left`, `5 days left`,
		// The next action of each.
		`Expired: replace the files now, then send SIGHUP.`,
		`Replace the files before 2026-03-13 12:00 UTC.`,
		`Renewal overdue since 2026-02-28 12:00 UTC: check the log.`,
		`Renews itself on 2026-03-13 04:00 UTC.`,
		`ACME order failing: fix the error below; the gateway keeps retrying.`,
		// The pending certificate's error.
		`no valid A records found for new.example.com`,
		// The timeline of the 90-day one: 275 of 365 days gone.
		`width="75.3%"`,
		// Post-quantum key exchange, labelled.
		`<span class="mono">X25519MLKEM768</span> <span class="badge">post-quantum hybrid</span>`,
		`64% post-quantum key exchange`,
		`23% resumed`,
		`unsupported protocol version`,
		// Client-certificate failure.
		`certificate signed by unknown authority`,
		// The upstream that is down, with its retry.
		`<tr class="upstream is-red down">`,
		`https://partners-backend.internal:8443`,
		`>in 12 s</time>`,
		`1 of 4 upstreams down, 1 failing.`,
		// Back from its back-off, but its last attempt failed: not healthy.
		`<tr class="upstream is-amber">`,
		`<span class="pill">failing</span>`,
		`failed, <time datetime="2026-03-10T11:59:20Z" title="2026-03-10 11:59:20 UTC">40 s ago</time>`,
		`dial tcp 127.0.0.1:9001: connect: connection refused`,
		`ok, <time datetime="2026-03-10T11:59:59Z" title="2026-03-10 11:59:59 UTC">1 s ago</time>`,
		`<meta http-equiv="refresh" content="10">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}

	names := regexp.MustCompile(`<span class="cert-name">([^<]*)</span>`).FindAllStringSubmatch(page, -1)
	var order []string
	for _, m := range names {
		order = append(order, m[1])
	}
	if !reflect.DeepEqual(order, fixtureOrder) {
		t.Errorf("certificate order = %q, want %q", order, fixtureOrder)
	}

	golden := filepath.Join("testdata", "page.golden.html")
	if *update {
		if err := os.WriteFile(golden, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run 'go test ./internal/status -run TestPageShowsFixture -update' to create it)", err)
	}
	if page != string(want) {
		t.Errorf("page differs from %s; if the change is intended, rerun with -update and review the diff", golden)
	}
}

// TestPageEscapes puts markup in every text the page shows: certificate
// names come from config and certificates, subjects from any client.
func TestPageEscapes(t *testing.T) {
	t.Parallel()
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>"'`
	s := Snapshot{
		Generated: fixtureNow,
		Version:   evil,
		Certificates: []Certificate{
			{Site: evil, Name: evil, Source: evil, Issuer: evil, Serial: evil,
				NotBefore: fixtureNow.Add(-day), NotAfter: fixtureNow.Add(day), LastResult: evil},
			{Site: evil, Name: evil, Source: evil, LastError: evil},
		},
		Handshakes: Handshakes{
			Versions: map[string]uint64{evil: 1}, Groups: map[string]uint64{evil: 1},
			ALPN: map[string]uint64{evil: 1}, Failures: map[string]uint64{evil: 1}, Full: 1,
		},
		ClientCertFailures: []ClientCertFailure{{Time: fixtureNow, Site: evil, Route: evil, Reason: evil, Subject: evil}},
		Upstreams:          []Upstream{{Site: evil, Route: evil, URL: evil}},
	}
	page := body(t, get(t, Handler(func() Snapshot { return s }), "GET", "/"))
	for _, bad := range []string{"<script", "<img src=x", `"'`} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %s", bad)
		}
	}
	// Each text appears escaped, once per place it is shown.
	if n := strings.Count(page, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < 20 {
		t.Errorf("escaped name appears %d times, want at least 20 (one per field)", n)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	resp := get(t, Handler(fixture), "GET", "/status.json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /status.json = %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	raw := body(t, resp)
	var got Snapshot
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decoding /status.json: %v\n%s", err, raw)
	}
	if want := fixture(); !reflect.DeepEqual(got, want) {
		wantJSON, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("/status.json does not round-trip:\ngot  %s\nwant %s", raw, wantJSON)
	}
	// Optional times are left out, not sent as year 1.
	if strings.Contains(raw, "0001-01-01") {
		t.Errorf("/status.json contains a zero time:\n%s", raw)
	}
}

func TestUpstreamPasswordHidden(t *testing.T) {
	t.Parallel()
	s := Snapshot{Upstreams: []Upstream{{Site: "a", Route: "/", URL: "https://svc:hunter2@backend.internal/"}}}
	h := Handler(func() Snapshot { return s })
	for _, path := range []string{"/", "/status.json"} {
		got := body(t, get(t, h, "GET", path))
		if strings.Contains(got, "hunter2") {
			t.Errorf("%s shows the upstream password", path)
		}
		if !strings.Contains(got, "svc:xxxxx@backend.internal") {
			t.Errorf("%s does not show the redacted upstream URL", path)
		}
	}
	if s.Upstreams[0].URL != "https://svc:hunter2@backend.internal/" {
		t.Error("Handler modified the caller's snapshot")
	}
}

func TestEmptySnapshot(t *testing.T) {
	t.Parallel()
	page := body(t, get(t, Handler(func() Snapshot { return Snapshot{} }), "GET", "/"))
	for _, want := range []string{
		"No certificates configured.",
		"No handshakes yet.",
		"every client certificate presented recently was accepted",
		"No upstreams configured.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("empty page lacks %q", want)
		}
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	h := Handler(fixture)
	tests := []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/status.json", 200, "application/json"},
		{"GET", "/static/style.css", 200, "text/css; charset=utf-8"},
		{"GET", "/static/favicon.svg", 200, "image/svg+xml"},
		{"GET", "/static/page.html", 404, ""},
		{"GET", "/assets/page.html", 404, ""},
		{"GET", "/nope", 404, ""},
		{"POST", "/", 405, ""},
	}
	for _, tt := range tests {
		resp := get(t, h, tt.method, tt.path)
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
		if tt.ctype != "" && resp.Header.Get("Content-Type") != tt.ctype {
			t.Errorf("%s %s: Content-Type = %q, want %q", tt.method, tt.path, resp.Header.Get("Content-Type"), tt.ctype)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s %s: no Content-Security-Policy", tt.method, tt.path)
		}
	}

	// The ten-second refresh revalidates the stylesheet for a 304.
	etag := get(t, h, "GET", "/static/style.css").Header.Get("ETag")
	if resp := get(t, h, "GET", "/static/style.css", "If-None-Match", etag); etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("stylesheet with ETag %q revalidated to %s, want 304", etag, resp.Status)
	}
}

func TestPageUsesOnlyEmbeddedFiles(t *testing.T) {
	t.Parallel()
	page := renderFixture(t)
	for _, m := range regexp.MustCompile(`(?:href|src)="([^"#]*)"`).FindAllStringSubmatch(page, -1) {
		ref := m[1]
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") {
			t.Errorf("page refers to %q: only relative links to its own files are allowed", ref)
			continue
		}
		if resp := get(t, Handler(fixture), "GET", "/"+ref); resp.StatusCode != http.StatusOK {
			t.Errorf("page refers to %s, which is %s", ref, resp.Status)
		}
	}
	if strings.Contains(page, "style=") || strings.Contains(page, "<script") {
		t.Error("page has an inline style or script, which its Content-Security-Policy blocks")
	}
}

func TestCertUrgency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		left    time.Duration
		urgency string
		text    string
	}{
		{365 * day, green, "365 days left"},
		{30 * day, green, "30 days left"},
		{30*day - time.Second, amber, "29 days left"},
		{7 * day, amber, "7 days left"},
		{7*day - time.Second, red, "6 days left"},
		{day, red, "1 day left"},
		{5 * time.Hour, red, "5 hours left"},
		{time.Minute, red, "less than an hour left"},
		{0, red, "expired less than an hour ago"},
		{-3 * day, red, "expired 3 days ago"},
	}
	for _, tt := range tests {
		c := Certificate{NotBefore: fixtureNow.Add(-90 * day), NotAfter: fixtureNow.Add(tt.left)}
		r := newCertRow(c, fixtureNow)
		if r.Urgency != tt.urgency || r.Left != tt.text {
			t.Errorf("%v left: %s %q, want %s %q", tt.left, r.Urgency, r.Left, tt.urgency, tt.text)
		}
	}
	if r := newCertRow(Certificate{}, fixtureNow); !r.Pending || r.Urgency != grey {
		t.Errorf("no certificate: pending=%v urgency=%s, want pending grey", r.Pending, r.Urgency)
	}
	if r := newCertRow(Certificate{Source: "acme", LastError: "x"}, fixtureNow); !r.Pending || r.Urgency != amber {
		t.Errorf("no certificate, order failing: pending=%v urgency=%s, want pending amber", r.Pending, r.Urgency)
	}

	// The gateway renews internal and acme certificates: days left do not
	// matter, a renewal that does not happen does. A 7-day internal
	// certificate renews at 4 d 16 h; a 90-day ACME one with 30 days left.
	at := func(d time.Duration) string { return fixtureNow.Add(d).UTC().Format(minuteLayout) }
	self := []struct {
		name              string
		source            string
		life, left, renew time.Duration // renew: RenewAt from now; 0 = not reported
		lastError         string
		urgency, action   string
	}{
		{"internal fresh", "internal", 7 * day, 6 * day, 3*day + 16*time.Hour, "", green, "Renews itself on " + at(3*day+16*time.Hour) + "."},
		{"internal due", "internal", 7 * day, 2*day + 8*time.Hour, -30 * time.Minute, "", green, "Renews itself on " + at(-30*time.Minute) + "."},
		{"internal overdue", "internal", 7 * day, day, -day - 8*time.Hour, "", amber, "Renewal overdue since " + at(-day-8*time.Hour) + ": the log says why the internal CA cannot issue."},
		{"internal without RenewAt", "internal", 6 * day, 5 * day, 0, "", green, "Renews itself on " + at(3*day) + "."},
		{"internal expired", "internal", 7 * day, -time.Hour, -2*day - 8*time.Hour, "", red, "Expired: the internal CA has not renewed it; the log says why."},
		{"acme fresh", "acme", 90 * day, 80 * day, 50 * day, "", green, "Renews itself by " + at(50*day) + "."},
		{"acme failing early", "acme", 90 * day, 25 * day, -5 * day, "rate limited", amber, "ACME renewal failing: fix the error below; the gateway keeps retrying."},
		{"acme failing late", "acme", 90 * day, 10 * day, -20 * day, "rate limited", red, "ACME renewal failing, 10 days left: fix the error below, then run tlsgate certs renew."},
		{"acme overdue", "acme", 90 * day, 20 * day, -10 * day, "", amber, "Renewal overdue since " + at(-10*day) + ": check the log."},
		{"acme expired", "acme", 6 * day, -time.Hour, -2*day - time.Hour, "x", red, "Expired: ACME renewal has failed; fix the error below, then run tlsgate certs renew."},
		{"files", "files", 365 * day, 60 * day, 0, "", green, "Replace the files before " + at(60*day) + "."},
		{"files soon", "files", 90 * day, 5 * day, 0, "", red, "Replace the files before " + at(5*day) + "."},
	}
	for _, tt := range self {
		c := Certificate{Source: tt.source, NotBefore: fixtureNow.Add(tt.left - tt.life), NotAfter: fixtureNow.Add(tt.left), LastError: tt.lastError}
		if tt.renew != 0 {
			c.RenewAt = fixtureNow.Add(tt.renew)
		}
		r := newCertRow(c, fixtureNow)
		if r.Urgency != tt.urgency || r.Action != tt.action {
			t.Errorf("%s: %s %q, want %s %q", tt.name, r.Urgency, r.Action, tt.urgency, tt.action)
		}
	}
}

// TestUpstreamStates: an upstream back in rotation after its back-off is
// "failing", not "healthy", until an attempt succeeds.
func TestUpstreamStates(t *testing.T) {
	t.Parallel()
	sec := newUpstreamSection([]Upstream{
		{URL: "a", Healthy: true, LastAttempt: fixtureNow.Add(-time.Second), LastResult: "ok"},
		{URL: "b", Healthy: true, ConsecutiveFailures: 3, LastAttempt: fixtureNow.Add(-time.Minute), LastResult: "failed", LastError: "refused"},
		{URL: "c", Healthy: true},
	}, fixtureNow)
	var got []string
	for _, r := range sec.Rows {
		got = append(got, r.URL+" "+r.State+" "+r.Urgency+" "+r.LastAgo)
	}
	want := []string{"b failing amber 1 min ago", "a healthy green 1 s ago", "c healthy green "}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if sec.Healthy != 2 || sec.Urgency != amber || sec.Tile != "1 failing" {
		t.Errorf("section: healthy %d, urgency %s, tile %q", sec.Healthy, sec.Urgency, sec.Tile)
	}
}

func TestShare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n, total uint64
		want     string
	}{
		{0, 0, "0%"}, {0, 10, "0%"}, {1, 1000, "<1%"}, {999, 1000, ">99%"},
		{10, 10, "100%"}, {2300, 10000, "23%"}, {1, 3, "33%"},
	}
	for _, tt := range tests {
		if got := share(tt.n, tt.total); got != tt.want {
			t.Errorf("share(%d, %d) = %q, want %q", tt.n, tt.total, got, tt.want)
		}
	}
	if got := formatCount(1234567); got != "1,234,567" {
		t.Errorf("formatCount(1234567) = %q", got)
	}
}

func TestFailuresCapped(t *testing.T) {
	t.Parallel()
	s := Snapshot{ClientCertFailures: make([]ClientCertFailure, 80)}
	page := body(t, get(t, Handler(func() Snapshot { return s }), "GET", "/"))
	if n := bytes.Count([]byte(page), []byte(`<td data-label="Subject"`)); n != maxFailures {
		t.Errorf("page shows %d client-certificate failures, want %d", n, maxFailures)
	}
}
