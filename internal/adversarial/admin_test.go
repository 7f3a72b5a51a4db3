package adversarial

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
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
