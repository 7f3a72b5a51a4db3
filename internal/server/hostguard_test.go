package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzHostGuard: a Host is let through only when it is empty, an IP
// literal, localhost, under .localhost or a listed name, however it is
// spelled (case, port, brackets, trailing dot).
func FuzzHostGuard(f *testing.F) {
	for _, s := range []string{"attacker.example", "attacker.example:80", "[::1]:9180", "127.0.0.1", "LOCALHOST.", "a.localhost:1",
		"gw1.internal", "gw1.internal.:9180", "[gw1.internal]", "127.0.0.1.nip.io", "[::1", "::1", "localhost.attacker.example", ""} {
		f.Add(s)
	}
	served := false
	g := newHostGuard(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }), "127.0.0.1:9180", []string{"GW1.internal."}, "add it")
	f.Fuzz(func(t *testing.T, host string) {
		served = false
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		h := hostOnly(host)
		_, ipErr := netip.ParseAddr(h)
		want := h == "" || ipErr == nil || h == "localhost" || strings.HasSuffix(h, ".localhost") || h == "gw1.internal"
		if served != want || (served == (w.Code == http.StatusMisdirectedRequest)) {
			t.Fatalf("Host %q (host %q): served %v, code %d; want served %v", host, h, served, w.Code, want)
		}
	})
}
