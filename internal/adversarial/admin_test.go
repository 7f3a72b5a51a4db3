package adversarial

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/server"
)

// adminGet asks the admin listener for path with a Host header of our
// choosing, as a browser tricked by DNS rebinding would send it.
func adminGet(t *testing.T, addr, host, path string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", path, host, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func adminRebinding(t *testing.T, e *env) {
	rec := newRecorder(t)
	g := startGateway(t, gwConfig(`admin: {listen: "127.0.0.1:0"}`, e.pki.publicInternal("a.test", rec.URL)))
	addr := g.srv.AdminAddr().String()
	_, port, _ := net.SplitHostPort(addr)
	hostile := []string{"attacker.example", "attacker.example:" + port, "127.0.0.1.nip.io:" + port,
		"localhost.attacker.example", "localhostx:" + port, "2130706433.example"}
	friendly := []string{addr, "localhost:" + port, "localhost", "status.localhost:" + port, "[::1]:" + port, "127.0.0.1"}
	for _, path := range []string{"/", "/metrics", "/healthz", "/status.json"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			for _, h := range hostile {
				if code := adminGet(t, addr, h, path); code < 400 || code > 499 {
					t.Errorf("REBINDING: Host %s got %d, want 4xx", h, code)
				}
			}
			for _, h := range friendly {
				if code := adminGet(t, addr, h, path); code != 200 {
					t.Errorf("Host %s got %d, want 200", h, code)
				}
			}
		})
	}
}

func sidecarRebinding(t *testing.T, e *env) {
	// An https upstream, as the sidecar's are.
	rec := newRecorder(t)
	rec.srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(e.pki.certFile, e.pki.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec, ReadHeaderTimeout: ioTimeout, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	sc, err := server.NewSidecar(server.SidecarOptions{
		Listen:      "127.0.0.1:0",
		Hosts:       []string{"payments.sidecar"},
		Upstreams:   []string{"https://" + ln.Addr().String()},
		UpstreamTLS: &tls.Config{RootCAs: e.pki.serverCA.Pool(), ServerName: "localhost"},
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := sc.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	for _, h := range []string{"attacker.example", "attacker.example:" + port, "payments.sidecar.attacker.example", "localhost.attacker.example"} {
		if code := adminGet(t, addr, h, "/rebound"); code < 400 || code > 499 {
			t.Errorf("REBINDING: the sidecar answered Host %s with %d, want 4xx", h, code)
		}
	}
	for _, h := range []string{addr, "localhost:" + port, "payments.sidecar", "PAYMENTS.SIDECAR:" + port} {
		if code := adminGet(t, addr, h, "/ok"); code != 200 {
			t.Errorf("the sidecar answered Host %s with %d, want 200", h, code)
		}
	}
	for _, s := range rec.all() {
		if s.Path == "/rebound" {
			t.Errorf("REBINDING: a request for Host %q was forwarded with the sidecar's identity", s.Host)
		}
	}
}

func openRedirect(t *testing.T, e *env) {
	rec := newRecorder(t)
	srv, _, _, err := loadGateway(t, strings.Replace(gwConfig("", e.pki.publicInternal("a.test", rec.URL)),
		`http: off`, `http: "127.0.0.1:0"`, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := srv.HTTPAddr().String()
	cases := []struct{ line, host string }{
		{"GET / HTTP/1.1", "evil.example"},
		{"GET //evil.example/ HTTP/1.1", "a.test"},
		{"GET http://evil.example/ HTTP/1.1", "a.test"},
		{"GET https://evil.example/ HTTP/1.1", "a.test"},
		{"GET /x HTTP/1.1", "a.test@evil.example"},
		{"GET /x HTTP/1.1", "evil.example#a.test"},
		{`GET /\evil.example HTTP/1.1`, "a.test"},
		{"GET /%2F%2Fevil.example HTTP/1.1", "a.test"},
		{"GET /x HTTP/1.1", "A.TEST."},
		{"GET /x HTTP/1.1", "a.test:80"},
		{"POST /x HTTP/1.1", "a.test"},
	}
	for _, c := range cases {
		c.host = strings.ReplaceAll(c.host, "\r\n", "")
		conn, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(ioTimeout))
		fmt.Fprintf(conn, "%s\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", c.line, c.host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Errorf("%s (Host %s): %v", c.line, c.host, err)
			continue
		}
		// An absolute Location on the site's host is safe whatever its
		// path ("//evil.example/" there is a path on a.test).
		loc := resp.Header.Get("Location")
		if loc == "" {
			continue
		}
		u, err := url.Parse(loc)
		if err != nil || u.Scheme != "https" || u.Hostname() != "a.test" {
			t.Errorf("OPEN REDIRECT: %s (Host %s) redirects to %q", c.line, c.host, loc)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("the redirect listener forwarded %d requests upstream", n)
	}
}
