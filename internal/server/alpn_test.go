package server

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// TestALPNLikeNginx (issue 15, item 1): a client that offers no ALPN
// protocol of ours (curl --http1.0 offers "http/1.0"; others offer names
// of their own) is served HTTP/1.x without ALPN, as nginx does, instead
// of failing the handshake with no_application_protocol; h2 and
// http/1.1 are negotiated as before.
func TestALPNLikeNginx(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	g := startGateway(t, oneSite(p, "intermediate", backend(t, "a"), ""))
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{[]string{"http/1.0"}, ""},
		{[]string{"spdy/3", "http/1.0"}, ""},
		{[]string{"h2", "http/1.1"}, "h2"},
		{[]string{"http/1.1"}, "http/1.1"},
		{nil, ""},
	} {
		conn, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool(), NextProtos: tc.offer})
		if err != nil {
			t.Errorf("offer %v: handshake: %v", tc.offer, err)
			continue
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != tc.want {
			t.Errorf("offer %v: negotiated %q, want %q", tc.offer, got, tc.want)
		}
		if tc.want != "h2" {
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "GET /x HTTP/1.0\r\nHost: localhost\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("offer %v: HTTP/1.0 request: %v %v", tc.offer, resp, err)
			}
		}
		conn.Close()
	}

	curl := testpeer.Require(t, "curl")
	port := g.https[strings.LastIndex(g.https, ":")+1:]
	// curl writes HTTP/1.0's version as "1".
	for flag, want := range map[string]string{"--http1.0": "1", "--http1.1": "1.1", "--http2": "2"} {
		out, err := run(t, curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--cacert", p.root,
			"--resolve", "localhost:"+port+":127.0.0.1", flag, "https://localhost:"+port+"/x")
		if err != nil || out != "200 "+want {
			t.Errorf("curl %s: %q %v, want 200 %s", flag, out, err, want)
		}
	}
}
