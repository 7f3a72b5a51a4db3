package tlsgate

import (
	"net/http"
	"testing"
)

// TestLocalNamesStayLocal: a Server for names of this machine only binds
// loopback by default; one with a routable name or address binds every
// interface, as asked.
func TestLocalNamesStayLocal(t *testing.T) {
	for _, tc := range []struct {
		hosts           []string
		https, httpAddr string
	}{
		{[]string{"localhost"}, "127.0.0.1:443", "127.0.0.1:80"},
		{[]string{"api.localhost", "::1", "127.0.0.1"}, "127.0.0.1:443", "127.0.0.1:80"},
		{[]string{"10.0.0.5"}, ":443", ":80"},
		{[]string{"api.example.com"}, ":443", ":80"},
	} {
		cfg, _, err := (&Server{Hosts: tc.hosts, Handler: http.NotFoundHandler()}).config()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Listen.HTTPS != tc.https || cfg.Listen.HTTP != tc.httpAddr {
			t.Errorf("%v: listen %+v, want %s and %s", tc.hosts, cfg.Listen, tc.https, tc.httpAddr)
		}
	}
}
