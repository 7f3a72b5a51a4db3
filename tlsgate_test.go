package tlsgate_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// startLocal serves h for localhost on a free loopback port, with the
// local CA of a temporary data dir trusted for client certificates.
func startLocal(t *testing.T, h http.Handler, clientCAs bool) *tlsgate.Server {
	t.Helper()
	srv := &tlsgate.Server{Hosts: []string{"localhost"}, Handler: h, Addr: "127.0.0.1:0", HTTPAddr: "off", DataDir: t.TempDir()}
	srv.ClientCAs.LocalCA = clientCAs
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

func get(t *testing.T, c *http.Client, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHandlerSeesTheGatewaysVerdict: a client cannot hand the handler an
// identity or a forwarded address of its choosing, over HTTP/1.1 or
// HTTP/2; the handler gets the gateway's identity headers and request ID.
func TestHandlerSeesTheGatewaysVerdict(t *testing.T) {
	srv := startLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"X-Client-Verify", "X-Client-Dn", "X-Forwarded-For", "X-Real-Ip", "X-Request-Id"} {
			io.WriteString(w, k+"="+strings.Join(r.Header[k], ",")+";")
		}
	}), true)
	root, _, err := srv.LocalCA()
	if err != nil {
		t.Fatal(err)
	}
	forged := http.Header{"X-Client-Verify": {"SUCCESS"}, "X-Client-Dn": {"CN=admin"},
		"X-Forwarded-For": {"10.0.0.1"}, "X-Real-Ip": {"10.0.0.1"}, "X-Request-Id": {"forged"}}
	for _, h2 := range []bool{false, true} {
		c := clientTrusting(root, "localhost", nil)
		c.Transport.(*http.Transport).ForceAttemptHTTP2 = h2
		if !h2 {
			c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		code, body := get(t, c, localURL(srv, "/"), forged)
		if code != 200 || !strings.HasPrefix(body, "X-Client-Verify=NONE;X-Client-Dn=;X-Forwarded-For=;X-Real-Ip=;X-Request-Id=") ||
			strings.Contains(body, "forged") {
			t.Errorf("h2=%v: %d %q", h2, code, body)
		}
	}
}

// TestRequireClientCertAfterNormalisation: the middleware guards the path
// the handler routes by, after the gateway removed dot segments and
// refused encoded ones, so "/public/../internal/" is /internal/.
func TestRequireClientCertAfterNormalisation(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/public/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "public") })
	mux.Handle("/internal/", tlsgate.RequireClientCert(tlsgate.Allow{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "internal")
	})))
	srv := startLocal(t, mux, true)
	root, _, _ := srv.LocalCA()
	c := clientTrusting(root, "localhost", nil)
	for path, want := range map[string]int{
		"/public/x":                 200,
		"/internal/x":               403,
		"/public/../internal/x":     403,
		"/public/%2e%2e/internal/x": 403,
		"/public/..%2finternal/x":   400,
		"/public\\..\\internal/x":   400,
	} {
		req, _ := http.NewRequest("GET", localURL(srv, "/"), nil)
		req.URL.Opaque = path // sent as written, dot segments and escapes kept
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestRequireClientCertFailsClosed: on a Server without ClientCAs the
// middleware refuses everyone, rather than admitting unverified clients.
func TestRequireClientCertFailsClosed(t *testing.T) {
	srv := startLocal(t, tlsgate.RequireClientCert(tlsgate.Allow{})(http.NotFoundHandler()), false)
	root, _, _ := srv.LocalCA()
	code, body := get(t, clientTrusting(root, "localhost", nil), localURL(srv, "/"), nil)
	if code != 403 || !strings.Contains(body, "trusts no client CAs") {
		t.Errorf("%d %s", code, body)
	}
}

// TestServerFieldErrors: misuse is an error that says what to do, before
// anything is bound or created.
func TestServerFieldErrors(t *testing.T) {
	cfg, err := tlsgate.ParseConfig("t.yaml", []byte("sites:\n  - hosts: [localhost]\n    routes: [{path: /, upstreams: [\"http://127.0.0.1:9\"]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		srv  *tlsgate.Server
		want string
	}{
		"no hosts":          {&tlsgate.Server{Handler: http.NotFoundHandler()}, "Server.Hosts is empty"},
		"no handler":        {&tlsgate.Server{Hosts: []string{"localhost"}}, "Server.Handler is nil"},
		"config and hosts":  {&tlsgate.Server{Config: cfg, Hosts: []string{"localhost"}}, "Server.Config describes the whole gateway"},
		"cert without key":  {&tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), CertFile: "c.pem"}, "CertFile and KeyFile go together"},
		"TLS 1.0":           {&tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), Profile: "old", DataDir: t.TempDir()}, "TLS 1.0 and 1.1 are broken"},
		"missing cert file": {&tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem", Addr: "127.0.0.1:0", HTTPAddr: "off"}, "reading certificate"},
	} {
		err := tc.srv.Listen()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestMetricsTwiceOnOneRegistry: a second server on the same registry is
// refused with the reason, not a panic.
func TestMetricsTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	a := &tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), Addr: "127.0.0.1:0", HTTPAddr: "off", DataDir: dir, Metrics: reg}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	b := &tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), Addr: "127.0.0.1:0", HTTPAddr: "off", DataDir: dir, Metrics: reg}
	if err := b.Listen(); err == nil || !strings.Contains(err.Error(), "registering the gateway's metrics") {
		t.Errorf("second Listen: %v", err)
	}
	stop()
	<-done
}

// TestAdminListener: the status page of a Go API server lists its
// certificate and no upstreams (its site is served in-process).
func TestAdminListener(t *testing.T) {
	srv := &tlsgate.Server{Hosts: []string{"localhost"}, Handler: http.NotFoundHandler(), Addr: "127.0.0.1:0",
		HTTPAddr: "off", AdminAddr: "127.0.0.1:0", DataDir: t.TempDir()}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { stop(); <-done }()
	resp, err := http.Get("http://" + srv.Addrs().Admin.String() + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"source": "internal"`) ||
		!strings.Contains(string(b), `"name": "localhost"`) || !strings.Contains(string(b), `"upstreams": null`) {
		t.Errorf("status.json: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get("http://" + srv.Addrs().Admin.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `tlsgate_certificate_not_after_timestamp_seconds{`) {
		t.Errorf("/metrics: %s", b[:min(len(b), 300)])
	}
}

// TestProfilesAreThePolicys: the API spells the profiles tlspolicy owns
// (the API cannot show an internal name in its documentation).
func TestProfilesAreThePolicys(t *testing.T) {
	if string(tlsgate.Intermediate) != string(tlspolicy.Intermediate) || string(tlsgate.Modern) != string(tlspolicy.Modern) {
		t.Errorf("profiles %q %q, tlspolicy's %q %q", tlsgate.Intermediate, tlsgate.Modern, tlspolicy.Intermediate, tlspolicy.Modern)
	}
}
