package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// hostCase is one Host header sent to a loopback listener, and whether a
// DNS rebinding guard must let it through.
type hostCase struct {
	host string
	ok   bool
}

// rebindingHosts are the Host headers every loopback listener must judge
// alike; port is the listener's port. A page on attacker.example whose name
// was rebound to 127.0.0.1 sends "attacker.example[:port]".
func rebindingHosts(port string) []hostCase {
	return []hostCase{
		{"attacker.example", false},
		{"attacker.example:" + port, false},
		{"ATTACKER.example.", false},
		{"127.0.0.1.attacker.example", false},
		{"localhost.attacker.example:" + port, false},
		{"127.0.0.1:" + port, true},
		{"127.0.0.1", true},
		{"[::1]:" + port, true},
		{"[::1]", true},
		{"localhost:" + port, true},
		{"LOCALHOST.", true},
		{"api.localhost:" + port, true},
		{"10.0.0.5", true}, // any IP literal: rebinding needs a name
	}
}

// send makes one request to addr with the given Host header.
func send(t *testing.T, addr, path, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("Host %s: %v", host, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// TestSidecarRefusesRebinding: the sidecar forwards only requests whose
// Host is an IP literal, localhost or a name it was told of; anything else
// never reaches the upstream, which would see it with the sidecar's client
// certificate (issue 13, finding 10).
func TestSidecarRefusesRebinding(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "mesh CA")
	var mu sync.Mutex
	var seen []string // Host headers the upstream received, via X-Sidecar-Host
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{*ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}})},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Query().Get("case"))
		mu.Unlock()
		fmt.Fprint(w, "upstream")
	}), ReadHeaderTimeout: 5 * time.Second}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })

	sc, err := NewSidecar(SidecarOptions{
		Listen:    "127.0.0.1:0",
		Upstreams: []string{"https://" + ln.Addr().String()},
		UpstreamTLS: tlspolicy.UpstreamClient(tlspolicy.Upstream{Roots: ca.Pool(),
			Certificate: ca.Issue(t, pkitest.Leaf{Names: []string{"billing"}, Client: true})}),
		Hosts: []string{"Payments.Sidecar."},
		// As `tlsgate proxy` configures it.
		HostHint: "start the sidecar with --allow-host NAME",
		Log:      slog.New(slog.DiscardHandler),
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

	cases := append(rebindingHosts(port), hostCase{"payments.sidecar:" + port, true}, hostCase{"other.sidecar", false})
	for i, c := range cases {
		code, body := send(t, addr, fmt.Sprintf("/pay?case=%d", i), c.host)
		mu.Lock()
		forwarded := len(seen) > 0 && seen[len(seen)-1] == fmt.Sprint(i)
		mu.Unlock()
		switch {
		case c.ok && (code != 200 || !forwarded):
			t.Errorf("Host %q: %d %q, forwarded %v; want it forwarded", c.host, code, body, forwarded)
		case !c.ok && (code != http.StatusMisdirectedRequest || forwarded):
			t.Errorf("Host %q: %d %q, forwarded %v; want 421 and nothing upstream", c.host, code, body, forwarded)
		case !c.ok && (!strings.Contains(body, fmt.Sprintf("%q", strings.TrimSuffix(strings.ToLower(strings.Split(c.host, ":")[0]), "."))) || !strings.Contains(body, "--allow-host")):
			t.Errorf("Host %q: body %q does not name the host and --allow-host", c.host, body)
		}
	}

	// The absolute form of the request line sets the Host the server
	// uses, whatever the Host header says.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET http://attacker.example/pay?case=abs HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n", port)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != http.StatusMisdirectedRequest || seen[len(seen)-1] == "abs" {
		t.Errorf("absolute-form request for attacker.example: %d, upstream saw %q", resp.StatusCode, seen)
	}
}

// TestAdminRefusesRebinding: every path of the admin listener, metrics and
// health included, answers only Hosts that are IP literals, localhost or
// listed in admin.hosts.
func TestAdminRefusesRebinding(t *testing.T) {
	t.Parallel()
	up := backend(t, "api")
	g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: "off"}
admin: {listen: "127.0.0.1:0", hosts: [gw1.internal, Prom.Example.]}
sites:
  - hosts: [a.example.com]
    tls: {certificate: {source: internal}}
    routes: [{path: /, upstreams: ["%s"]}]
`, up))
	addr := g.srv.AdminAddr().String()
	_, port, _ := net.SplitHostPort(addr)
	cases := append(rebindingHosts(port),
		hostCase{"gw1.internal:" + port, true},
		hostCase{"GW1.internal.", true},
		hostCase{"prom.example", true},
		hostCase{"gw2.internal", false},
		hostCase{"a.example.com", false}, // a site's name is not the admin listener's
	)
	for _, path := range []string{"/", "/status.json", "/metrics", "/healthz", "/static/style.css", "/nope"} {
		for _, c := range cases {
			code, body := send(t, addr, path, c.host)
			switch {
			case c.ok && code == http.StatusMisdirectedRequest:
				t.Errorf("%s Host %q: refused: %s", path, c.host, body)
			case !c.ok && code != http.StatusMisdirectedRequest:
				t.Errorf("%s Host %q: %d, want 421:\n%.200s", path, c.host, code, body)
			case !c.ok && !strings.Contains(body, "admin.hosts"):
				t.Errorf("%s Host %q: body %q does not name admin.hosts", path, c.host, body)
			case !c.ok && strings.Contains(body, "a.example.com") && c.host != "a.example.com":
				t.Errorf("%s Host %q: the refusal leaks status: %q", path, c.host, body)
			}
		}
	}
}
