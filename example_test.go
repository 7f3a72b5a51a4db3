package tlsgate_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsgate/tlsgate"
)

// The three lines: a handler served over HTTPS for a public name, with a
// certificate from Let's Encrypt, a redirect from port 80, HSTS and the
// security headers, until the context is done. (Not run here: it needs
// the name to point at this machine.)
func ExampleListenAndServe() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello over HTTPS")
	})
	if err := tlsgate.ListenAndServe(context.Background(), api, "api.example.com"); err != nil {
		log.Fatal(err)
	}
}

// A Server for localhost gets its certificate from a local CA, created in
// the data directory on first use; a client that trusts the CA's root
// connects. Every answer carries HSTS and the other security headers.
func ExampleServer() {
	dataDir, _ := os.MkdirTemp("", "tlsgate-example")
	defer os.RemoveAll(dataDir)

	srv := &tlsgate.Server{
		Hosts: []string{"localhost"},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello, %s client\n", r.Proto)
		}),
		Addr:     "127.0.0.1:0", // any free port
		HTTPAddr: "off",
		DataDir:  dataDir,
	}
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	root, _, err := srv.LocalCA()
	if err != nil {
		log.Fatal(err)
	}
	resp, err := clientTrusting(root, "localhost", nil).Get(localURL(srv, "/"))
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	fmt.Println("HSTS:", resp.Header.Get("Strict-Transport-Security"))

	stop() // graceful shutdown
	fmt.Println("shutdown:", <-done)
	// Output:
	// hello, HTTP/2.0 client
	// HSTS: max-age=31536000; includeSubDomains
	// shutdown: <nil>
}

// Per-route client-certificate policy as middleware: /internal/ needs a
// certificate from the local CA with a SPIFFE ID under the trust domain;
// the handler reads the verified identity from the request.
func ExampleRequireClientCert() {
	dataDir, _ := os.MkdirTemp("", "tlsgate-example")
	defer os.RemoveAll(dataDir)

	mux := http.NewServeMux()
	mux.HandleFunc("/public/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "public")
	})
	internal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := tlsgate.Identity(r)
		fmt.Fprintln(w, "internal, for", id.Certificate.URIs[0])
	})
	mux.Handle("/internal/", tlsgate.RequireClientCert(tlsgate.Allow{
		URIs: []string{"spiffe://example.org/*"},
	})(internal))

	srv := &tlsgate.Server{
		Hosts:     []string{"localhost"},
		Handler:   mux,
		Addr:      "127.0.0.1:0",
		HTTPAddr:  "off",
		DataDir:   dataDir,
		ClientCAs: tlsgate.ClientCAs{LocalCA: true},
	}
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Serve(ctx)

	root, _, _ := srv.LocalCA()
	certPEM, keyPEM, err := srv.IssueClientCert("billing", []string{"spiffe://example.org/billing"}, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	cert, _ := tls.X509KeyPair(certPEM, keyPEM)

	anonymous, withCert := clientTrusting(root, "localhost", nil), clientTrusting(root, "localhost", &cert)
	for _, c := range []struct {
		client *http.Client
		path   string
	}{{anonymous, "/public/"}, {anonymous, "/internal/"}, {withCert, "/internal/"}} {
		resp, err := c.client.Get(localURL(srv, c.path))
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d %s", c.path, resp.StatusCode, firstField(string(body)))
	}
	// Output:
	// /public/ 200 public
	// /internal/ 403 {"error":"client certificate required: no certificate"
	// /internal/ 200 internal, for spiffe://example.org/billing
}

// Metrics go to a registry of the caller's; nothing is global.
func ExampleServer_metrics() {
	dataDir, _ := os.MkdirTemp("", "tlsgate-example")
	defer os.RemoveAll(dataDir)

	reg := prometheus.NewRegistry()
	srv := &tlsgate.Server{
		Hosts:    []string{"127.0.0.1"},
		Handler:  http.NotFoundHandler(),
		Addr:     "127.0.0.1:0",
		HTTPAddr: "off",
		DataDir:  dataDir,
		Metrics:  reg,
	}
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Serve(ctx)

	root, _, _ := srv.LocalCA()
	resp, err := clientTrusting(root, "", nil).Get("https://" + srv.Addrs().HTTPS.String() + "/missing")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()

	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "tlsgate_http_requests_total" {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "code" {
						fmt.Println(f.GetName(), l.GetValue(), m.GetCounter().GetValue())
					}
				}
			}
		}
	}
	// Output:
	// tlsgate_http_requests_total 4xx 1
}

// A whole gateway from a tlsgate YAML config, as `tlsgate serve` runs it.
// (Not run here: it needs the file.)
func ExampleLoadConfig() {
	cfg, err := tlsgate.LoadConfig("/etc/tlsgate/tlsgate.yaml")
	if err != nil {
		log.Fatal(err) // every problem, as file:line:column: key: what to do
	}
	srv := &tlsgate.Server{Config: cfg}
	if err := srv.ListenAndServe(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// clientTrusting is an HTTP client that trusts root, sends serverName as
// SNI (empty: the URL's host; none for an IP address) and presents cert.
func clientTrusting(root *x509.Certificate, serverName string, cert *tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(root)
	tc := &tls.Config{RootCAs: roots, ServerName: serverName}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
}

// localURL is an https URL of srv by the name localhost (which the
// Server checks against its Hosts), on the port it bound.
func localURL(srv *tlsgate.Server, path string) string {
	return fmt.Sprintf("https://localhost:%d%s", srv.Addrs().HTTPS.(*net.TCPAddr).Port, path)
}

func firstField(s string) string {
	if i := strings.Index(s, `","status"`); i >= 0 {
		return s[:i+1] + "\n"
	}
	return s
}
