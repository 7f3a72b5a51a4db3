package adversarial

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// bypassPaths try to reach /internal/x through the /public/ route. want
// is the gateway's target answer without a client certificate (0: any
// answer, as long as the invariant holds): 403 when
// the path normalises (RFC 3986: unreserved escapes decoded, dot segments
// removed, repeated slashes merged) to /internal/x, 400 when it is refused
// as ambiguous (encoded slash or backslash, backslash, encoded control
// characters, ';', double encoding).
var bypassPaths = []struct {
	path string
	want int
}{
	{"/public/../internal/x", 403},
	{"/public/./../internal/x", 403},
	{"/public/../../internal/x", 403},
	{"/public/%2e%2e/internal/x", 403},
	{"/public/%2E%2E/internal/x", 403},
	{"/public/.%2e/internal/x", 403},
	{"/public/%2e./internal/x", 403},
	{"/public/%2e%2e%2finternal/x", 400},
	{"//internal/x", 403},
	{"/public//../internal/x", 403},
	{"/public/..;/internal/x", 400},
	{"/public;/../internal/x", 400},
	{"/public/x/..%2finternal/x", 400},
	{"/public/x/..%2Finternal/x", 400},
	{"/public%2f..%2finternal/x", 400},
	{"/public/%252e%252e/internal/x", 400},
	{"/public/%252E%252E/internal/x", 400},
	{"/public/..%252finternal/x", 400},
	{`/public/..\internal/x`, 400},
	{"/public/..%5cinternal/x", 400},
	{"/public/..%5Cinternal/x", 400},
	{"/public/..%00/internal/x", 400},
	{"/public/..%0a/internal/x", 400},
	{"/public/..%7f/internal/x", 400},
	{"/%69nternal/x", 403},
	{"/public/../%69nternal/x", 403},
	{"/public/%2E%2E/%49nternal/x", 0}, // %49 is 'I': /Internal/ on a case-sensitive upstream
	{"/public/%c0%ae%c0%ae/internal/x", 0},
	{"/public/x#/../../internal/x", 0},
	{"/public/x?/../../internal/x", 0},
	// Absolute form (RFC 9112 3.2.2): the path inside it too.
	{"https://a.test/public/../internal/x", 403},
	{"https://a.test/public/%2e%2e/internal/x", 403},
	{"https://a.test//internal/x", 403},
}

// sendPath sends GET path to host over HTTP/1.1 (the request line exactly
// as given) or HTTP/2 (the :path exactly as given) without a client
// certificate, and returns what the client got.
func (p *pki) sendPath(t *testing.T, g *gateway, host, path string, h2 bool) (status int, body string, reset string) {
	t.Helper()
	if h2 {
		r := p.rawH2(t, g, host, nil).request(t, "GET", host, path)
		if r.Status == "" {
			return 0, "", r.String()
		}
		fmt.Sscanf(r.Status, "%d", &status)
		return status, r.Body, ""
	}
	c := p.rawH1(t, g, host, nil)
	c.send(t, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
	resp, b, err := c.response(t, "GET")
	if err != nil {
		return 0, "", "connection: " + err.Error()
	}
	return resp.StatusCode, b, ""
}

// checkBypass runs every bypass path over both protocols; reached says
// whether the upstream's /internal/ handler answered a request.
func checkBypass(t *testing.T, e *env, g *gateway, reached func(body string) bool) {
	for _, proto := range []string{"h1", "h2"} {
		for _, bp := range bypassPaths {
			if proto == "h2" && !strings.HasPrefix(bp.path, "/") {
				continue // the absolute form exists in HTTP/1.1 only
			}
			t.Run(proto+" "+bp.path, func(t *testing.T) {
				t.Parallel()
				status, body, reset := e.pki.sendPath(t, g, "a.test", bp.path, proto == "h2")
				if reached(body) {
					t.Fatalf("BYPASS: %s without a certificate reached the /internal/ handler: %d %q", bp.path, status, body)
				}
				if reset != "" {
					// HTTP/2 may refuse a malformed :path with a stream
					// reset; the upstream saw nothing, so that is fine.
					if proto == "h2" && (bp.want != 403 || strings.HasPrefix(bp.path, "//")) {
						return
					}
					t.Fatalf("%s: %s, want %d", bp.path, reset, bp.want)
				}
				if bp.want != 0 && status != bp.want {
					t.Errorf("%s: %d %q, want %d", bp.path, status, strings.TrimSpace(body), bp.want)
				}
				if status == 400 && !strings.HasPrefix(strings.TrimSpace(body), "{") {
					t.Errorf("%s: 400 body is not the gateway's JSON error: %q", bp.path, body)
				}
			})
		}
	}
}

func dotSegmentsNginx(t *testing.T, e *env) {
	ngx := e.nginx(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", ngx)))
	checkBypass(t, e, g, func(body string) bool { return strings.HasPrefix(body, "internal") })
}

func dotSegmentsGo(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	t.Run("group", func(t *testing.T) {
		checkBypass(t, e, g, func(body string) bool { return strings.HasPrefix(body, "internal") })
	})
	for _, s := range rec.internalHits() {
		if s.Header.Get("X-Client-Verify") != "SUCCESS" {
			t.Errorf("BYPASS: the upstream's /internal/ handler got %s %s with X-Client-Verify %q", s.Method, s.RequestURI, s.Header.Get("X-Client-Verify"))
		}
	}
	// With a certificate the normalised path reaches /internal/, as
	// /internal/x: the route that admitted it is the one the upstream
	// resolves it to.
	rawc := e.pki.rawH1(t, g, "a.test", e.pki.client)
	rawc.send(t, "GET /public/%2e%2e/internal/x HTTP/1.1\r\nHost: a.test\r\n\r\n")
	resp, body, err := rawc.response(t, "GET")
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(body, "internal verify=SUCCESS") {
		t.Errorf("with a certificate, /public/%%2e%%2e/internal/x: %v %v %q, want 200 from /internal/ as SUCCESS", err, resp, body)
	}
	for _, s := range rec.internalHits() {
		if s.RequestURI != "/internal/x" {
			t.Errorf("upstream got %q, want the normalised /internal/x", s.RequestURI)
		}
	}
}

func normalisedForwarded(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	cases := []struct{ sent, want string }{
		{"/public/./a//b", "/public/a/b"},
		{"/public/a/../b", "/public/b"},
		{"/public/%61/%7Eb", "/public/a/~b"},
		{"/public/q?x=%2e%2e/../&y=%2F", "/public/q?x=%2e%2e/../&y=%2F"},
	}
	for _, proto := range []string{"h1", "h2"} {
		for _, c := range cases {
			t.Run(proto+" "+c.sent, func(t *testing.T) {
				status, body, reset := e.pki.sendPath(t, g, "a.test", c.sent, proto == "h2")
				if status != 200 {
					t.Fatalf("%s: %d %q %s", c.sent, status, body, reset)
				}
				if want := "target=" + c.want + "\n"; body != want {
					t.Errorf("%s: upstream got %q, want %q", c.sent, strings.TrimPrefix(strings.TrimSpace(body), "target="), c.want)
				}
			})
		}
	}
}

func h2MethodInjection(t *testing.T, e *env) {
	up := newRawUpstream(t, nil)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", up.URL)))
	methods := []string{
		"GET /internal/x HTTP/1.1",
		"GET\t/internal/x\tHTTP/1.1",
		"GET /internal/x HTTP/1.1\r\nHost: a.test\r\n\r\nGET",
		"GET /internal/x HTTP/1.1\nX:",
		"GET /internal/x",
		"GET\x00",
		"GET ",
		"G(E)T",
	}
	for _, m := range methods {
		t.Run(fmt.Sprintf("%q", m), func(t *testing.T) {
			t.Parallel()
			r := e.pki.rawH2(t, g, "a.test", nil).request(t, m, "a.test", "/public/x")
			if r.Status != "" && r.Status[0] == '2' {
				t.Errorf(":method %q on /public/x: client got %s, want 400 or a stream reset", m, r)
			}
		})
	}
	// The same through :path, which HPACK lets carry spaces and tabs.
	for _, p := range []string{"/public/x /internal/x", "/public/x HTTP/1.1", "/public/x\t/internal/x", "/public/x\x0b/internal/x"} {
		t.Run(fmt.Sprintf(":path %q", p), func(t *testing.T) {
			t.Parallel()
			r := e.pki.rawH2(t, g, "a.test", nil).request(t, "GET", "a.test", p)
			if r.Status != "" && r.Status[0] == '2' && r.Body != "target=/public/x%20/internal/x\n" && r.Body != "target=/public/x%20HTTP/1.1\n" {
				t.Errorf(":path %q: client got %s", p, r)
			}
		})
	}
	t.Run("plain request still works", func(t *testing.T) {
		r := e.pki.rawH2(t, g, "a.test", nil).request(t, "GET", "a.test", "/public/ok")
		if r.Status != "200" || r.Body != "target=/public/ok\n" {
			t.Errorf("GET /public/ok: %s", r)
		}
	})
	// Subtests above are parallel: this runs after they finish.
	t.Cleanup(func() {
		for _, req := range up.requests() {
			f := strings.Split(req.Line, " ")
			if len(f) != 3 || !isToken(f[0]) || !strings.HasPrefix(f[1], "/public/") || f[2] != "HTTP/1.1" {
				t.Errorf("INJECTION: the upstream's request line is %q, not the one the route check saw", req.Line)
			}
		}
		// Nothing the upstream read starts a line with a request for
		// /internal/, parsed or not.
		if m := regexp.MustCompile(`(?m)^[^ \t\r\n]*[ \t]+/internal/`).FindString(up.bytesSeen()); m != "" {
			t.Errorf("INJECTION: the upstream received a line %q:\n%s", m, up.bytesSeen())
		}
	})
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 126 || c <= 32 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

func connectTrace(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	h1 := []struct {
		line string
		want int // 0: any 4xx
	}{
		{"TRACE /public/x HTTP/1.1", 405},
		{"CONNECT /public/x HTTP/1.1", 405},
		{"CONNECT 127.0.0.1:9 HTTP/1.1", 0},
		{"CONNECT a.test:443 HTTP/1.1", 0},
	}
	for _, c := range h1 {
		t.Run("h1 "+c.line, func(t *testing.T) {
			conn := e.pki.rawH1(t, g, "a.test", nil)
			conn.send(t, c.line+"\r\nHost: a.test\r\nConnection: close\r\n\r\n")
			resp, body, err := conn.response(t, strings.Fields(c.line)[0])
			if err != nil {
				t.Fatalf("%s: %v", c.line, err)
			}
			if c.want != 0 && resp.StatusCode != c.want || resp.StatusCode/100 != 4 {
				t.Errorf("%s: %d %q, want %d", c.line, resp.StatusCode, body, c.want)
			}
		})
	}
	t.Run("h2 TRACE", func(t *testing.T) {
		r := e.pki.rawH2(t, g, "a.test", nil).request(t, "TRACE", "a.test", "/public/x")
		if r.Status != "405" {
			t.Errorf("TRACE /public/x: %s, want 405", r)
		}
	})
	t.Run("h2 CONNECT", func(t *testing.T) {
		h := e.pki.rawH2(t, g, "a.test", nil)
		id := h.open(t, [][2]string{{":method", "CONNECT"}, {":authority", "a.test"}}, false)
		r := h.wait(id, ioTimeout)
		if (r.Status == "" || r.Status[0] != '4') && !r.Reset {
			t.Errorf("CONNECT a.test: %s, want 4xx", r)
		}
	})
	for _, s := range rec.all() {
		t.Errorf("the upstream got %s %s, want no CONNECT or TRACE forwarded", s.Method, s.RequestURI)
	}
}

// twoSites is a.test (client CA trusted, /internal/ requires a
// certificate) and b.test (no client authentication at all), sharing one
// certificate that covers both names.
func twoSites(t *testing.T, e *env) (g *gateway, recA, recB *recorder) {
	recA, recB = newRecorder(t), newRecorder(t)
	g = startGateway(t, gwConfig("",
		e.pki.publicInternal("a.test", recA.URL),
		e.pki.site("b.test", "", fmt.Sprintf("{path: /, upstreams: [%s]}", recB.URL))))
	return g, recA, recB
}

func sniHostH1(t *testing.T, e *env) {
	g, recA, recB := twoSites(t, e)
	cases := []struct{ sni, head string }{
		{"b.test", "GET /internal/x HTTP/1.1\r\nHost: a.test"},
		{"b.test", "GET /internal/x HTTP/1.1\r\nHost: A.TEST"},
		{"b.test", "GET /internal/x HTTP/1.1\r\nHost: a.test."},
		{"b.test", "GET /internal/x HTTP/1.1\r\nHost: a.test:443"},
		{"b.test", "GET https://a.test/internal/x HTTP/1.1\r\nHost: b.test"},
		{"b.test", "GET /internal/x HTTP/1.1\r\nHost: b.test\r\nHost: a.test"},
		{"b.test", "GET /internal/x HTTP/1.1\r\nHost: a.test\r\nHost: b.test"},
		{"b.test", "GET /internal/x HTTP/1.1\r\nHost: b.test@a.test"},
		{"a.test", "GET /x HTTP/1.1\r\nHost: b.test"},
		{"a.test", "GET https://b.test/x HTTP/1.1\r\nHost: a.test"},
	}
	for _, c := range cases {
		t.Run(c.sni+" "+strings.ReplaceAll(c.head, "\r\n", " "), func(t *testing.T) {
			conn := e.pki.rawH1(t, g, c.sni, nil)
			conn.send(t, c.head+"\r\nConnection: close\r\n\r\n")
			resp, body, err := conn.response(t, "GET")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 421 && resp.StatusCode != 400 {
				t.Errorf("SNI %s, %q: %d %q, want 421", c.sni, c.head, resp.StatusCode, body)
			}
		})
	}
	for _, s := range append(recA.all(), recB.all()...) {
		t.Errorf("an upstream got %s %s (Host %s) from a connection for another site", s.Method, s.RequestURI, s.Host)
	}
}

func sniHostH2(t *testing.T, e *env) {
	g, recA, recB := twoSites(t, e)
	// A browser with a connection to b.test reuses it for a.test (the
	// certificate covers both, the address is the same): RFC 9113 9.1.1.
	h := e.pki.rawH2(t, g, "b.test", nil)
	if r := h.request(t, "GET", "b.test", "/x"); r.Status != "200" {
		t.Fatalf("b.test on its own connection: %s", r)
	}
	if r := h.request(t, "GET", "a.test", "/internal/x"); r.Status != "421" {
		t.Errorf("a.test on b.test's connection: %s, want 421", r)
	}
	if r := h.request(t, "GET", "a.test", "/public/x"); r.Status != "421" {
		t.Errorf("a.test on b.test's connection: %s, want 421", r)
	}
	// :authority for the connection's site, Host for the other.
	r := h.request(t, "GET", "b.test", "/y", [2]string{"host", "a.test"})
	if r.Status == "200" && r.Body != "target=/y\n" {
		t.Errorf(":authority b.test, host a.test: %s", r)
	}
	// The connection still serves its own site afterwards.
	if r := h.request(t, "GET", "b.test", "/z"); r.Status != "200" {
		t.Errorf("b.test after the 421s: %s", r)
	}
	for _, s := range recA.all() {
		t.Errorf("a.test's upstream got %s %s over b.test's connection", s.Method, s.RequestURI)
	}
	for _, s := range recB.all() {
		if s.Host == "a.test" || s.Header.Get("X-Forwarded-Host") == "a.test" {
			t.Errorf("b.test's upstream got a request for host a.test: %s %s", s.Method, s.RequestURI)
		}
	}
}

func upgrades(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	h2c := []string{
		"Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
		"Upgrade: H2C\r\nConnection: HTTP2-Settings, Upgrade\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
		"Upgrade: h2c, websocket\r\nConnection: Upgrade\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
	}
	try := func(t *testing.T, g *gateway, path, hdr string) string {
		conn := e.pki.rawH1(t, g, "a.test", nil)
		conn.send(t, "GET "+path+" HTTP/1.1\r\nHost: a.test\r\n"+hdr+"\r\n\r\n")
		resp, body, err := conn.response(t, "GET")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 101 {
			t.Errorf("%q: the client got 101 Switching Protocols", hdr)
		}
		return body
	}
	for i, hdr := range h2c {
		t.Run(fmt.Sprintf("h2c Go upstream %d", i), func(t *testing.T) {
			try(t, g, fmt.Sprintf("/public/h2c%d", i), hdr)
		})
	}
	for _, s := range rec.all() {
		if s.Header.Get("Upgrade") != "" {
			t.Errorf("the Go upstream got %s with Upgrade %q", s.RequestURI, s.Header.Get("Upgrade"))
		}
	}
	t.Run("h2c nginx upstream", func(t *testing.T) {
		ngx := e.nginx(t)
		g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", ngx)))
		for i, hdr := range h2c {
			body := try(t, g, fmt.Sprintf("/public/h2c%d", i), hdr)
			if !strings.Contains(body, "upgrade= ") {
				t.Errorf("%q: nginx saw %q", hdr, body)
			}
		}
	})
	t.Run("WebSocket", func(t *testing.T) {
		conn := e.pki.rawH1(t, g, "a.test", nil)
		conn.send(t, "GET /public/ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err := http.ReadResponse(conn.br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 101 {
			t.Fatalf("WebSocket upgrade: %d, want 101", resp.StatusCode)
		}
		conn.send(t, "ping\n")
		got := make([]byte, 5)
		if _, err := io.ReadFull(conn.br, got); err != nil || string(got) != "ping\n" {
			t.Errorf("WebSocket echo: %q %v", got, err)
		}
	})
}

// startJDK runs testdata/Upstream.java (the JDK's own HTTP server) on a
// loopback port and returns its URL.
func startJDK(t *testing.T) string {
	t.Helper()
	java := testpeer.Require(t, "java")
	port := testpeer.FreePort(t)
	src, err := filepath.Abs("testdata/Upstream.java")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, java, src, fmt.Sprint(port))
	cmd.Dir = t.TempDir()
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the server exits when its input closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
		io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the JDK upstream did not start")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the JDK upstream did not start within 30s")
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

func h2MethodInjectionJDK(t *testing.T, e *env) {
	jdk := startJDK(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", jdk)))
	if r := e.pki.rawH2(t, g, "a.test", nil).request(t, "GET", "a.test", "/public/ok"); r.Status != "200" || r.Body != "target=/public/ok method=GET\n" {
		t.Fatalf("GET /public/ok through the JDK upstream: %s", r)
	}
	for _, m := range []string{"GET /internal/x HTTP/1.1", "GET /internal/x", "GET\t/internal/x\tHTTP/1.1", "POST /internal/x HTTP/1.0"} {
		r := e.pki.rawH2(t, g, "a.test", nil).request(t, m, "a.test", "/public/x")
		if strings.HasPrefix(r.Body, "internal") {
			t.Errorf("BYPASS: :method %q on /public/x reached the JDK upstream's /internal/ handler: %s", m, r)
		} else if r.Status != "" && r.Status[0] == '2' {
			t.Errorf(":method %q on /public/x: %s, want 400 or a stream reset", m, r)
		}
	}
}

func websocketSmuggling(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	ws := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	t.Run("upgrade declined, then a raw request", func(t *testing.T) {
		c := e.pki.rawH1(t, g, "a.test", nil)
		c.send(t, "GET /public/ws-refuse HTTP/1.1\r\nHost: a.test\r\n"+ws+"\r\n")
		resp, _, err := c.response(t, "GET")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 101 {
			t.Fatalf("the client got 101 though the upstream declined")
		}
		// If the gateway had tunnelled, this would reach the upstream raw,
		// past the route check.
		c.send(t, "GET /internal/x HTTP/1.1\r\nHost: a.test\r\n\r\n")
		resp, body, err := c.response(t, "GET")
		if err == nil && (resp.StatusCode != 403 || strings.HasPrefix(body, "internal")) {
			t.Errorf("TUNNELLED: after a declined upgrade, /internal/x without a certificate got %d %q", resp.StatusCode, body)
		}
	})
	t.Run("upgrade on a dot-segment path", func(t *testing.T) {
		for _, p := range []string{"/public/../internal/ws", "/public/%2e%2e/internal/ws", "/internal/ws"} {
			c := e.pki.rawH1(t, g, "a.test", nil)
			c.send(t, "GET "+p+" HTTP/1.1\r\nHost: a.test\r\n"+ws+"\r\n")
			resp, _, err := c.response(t, "GET")
			if err == nil && resp.StatusCode == 101 {
				t.Errorf("BYPASS: a WebSocket upgrade to %s without a certificate was switched", p)
			}
		}
	})
	for _, s := range rec.internalHits() {
		t.Errorf("BYPASS: the upstream's /internal/ handler got %s %s (Upgrade %q) without a certificate", s.Method, s.RequestURI, s.Header.Get("Upgrade"))
	}
}

// catchAllPaths try to reach /internal/ through a catch-all "/" route
// (no client certificate) on an upstream that decodes %2F and merges
// slashes, as nginx does.
var catchAllPaths = []string{
	"/%2Finternal/x",
	"/%2finternal/x",
	"/%2F%2Finternal/x",
	"/%2F/internal/x",
	"//%2Finternal/x",
	"/%252Finternal/x",
	"/%5Cinternal/x",
	"/%69nternal/x",
	"/./internal/x",
	"/x/../internal/x",
	"/%2e/internal/x",
	"/internal%2Fx",
	"/internal;/x",
	"/internal%3B/x",
	"/internal/%2e%2e/internal/x",
}

func catchAllNginx(t *testing.T, e *env) {
	ngx := e.nginx(t)
	g := startGateway(t, gwConfig("", e.pki.site("a.test", "client_auth: {ca: ["+q(e.pki.clientCAFile)+"]}",
		fmt.Sprintf("{path: /, upstreams: [%s]}", ngx),
		fmt.Sprintf("{path: /internal/, upstreams: [%s], client_auth: require}", ngx))))
	for _, proto := range []string{"h1", "h2"} {
		for _, p := range catchAllPaths {
			t.Run(proto+" "+p, func(t *testing.T) {
				t.Parallel()
				status, body, reset := e.pki.sendPath(t, g, "a.test", p, proto == "h2")
				t.Logf("%d %s %q", status, reset, strings.TrimSpace(body))
				if strings.HasPrefix(body, "internal") {
					t.Errorf("BYPASS: %s without a certificate reached nginx's /internal/ location through the catch-all route: %d %q", p, status, body)
				}
				if reset == "" && status == 200 && !strings.HasPrefix(body, "target=") {
					t.Errorf("%s: %d %q", p, status, body)
				}
			})
		}
	}
}

func methodsOnRequireRoute(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig("", e.pki.publicInternal("a.test", rec.URL)))
	for _, m := range []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "get", "Get", "PROPFIND", "FOO", "BREW"} {
		for _, proto := range []string{"h1", "h2"} {
			t.Run(proto+" "+m, func(t *testing.T) {
				t.Parallel()
				if proto == "h2" {
					r := e.pki.rawH2(t, g, "a.test", nil).request(t, m, "a.test", "/internal/x-"+m)
					if r.Status != "" && r.Status[0] == '2' {
						t.Errorf("%s /internal/ without a certificate: %s", m, r)
					}
					return
				}
				c := e.pki.rawH1(t, g, "a.test", nil)
				c.send(t, m+" /internal/x-"+m+" HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				resp, _, err := c.response(t, m)
				if err == nil && resp.StatusCode/100 == 2 {
					t.Errorf("%s /internal/ without a certificate: %d", m, resp.StatusCode)
				}
			})
		}
	}
	t.Cleanup(func() {
		for _, s := range rec.all() {
			t.Errorf("BYPASS: the upstream got %s %s without a certificate", s.Method, s.RequestURI)
		}
	})
}
