package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"github.com/tlsgate/tlsgate"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/datadir"
	"github.com/tlsgate/tlsgate/internal/demoapi"
	"github.com/tlsgate/tlsgate/internal/mtls"
)

const demoUsage = `Usage: tlsgate demo [flags]

Starts a small demo API on loopback and the gateway in front of it, on
built-in defaults: HTTPS on 127.0.0.1:8443 with a certificate for
localhost, 127.0.0.1, ::1 and ech.localhost (the public name of Encrypted
Client Hello, which is on; the demo prints its config) from a local CA
that tlsgate creates on first run in its data directory (and reuses
after), and HTTP on 127.0.0.1:8080
redirecting to HTTPS, and the admin listener (status page and Prometheus
metrics) on 127.0.0.1:9180. It prints curl commands that work. Ctrl-C
stops it.

Examples:
  tlsgate demo
  tlsgate demo --https 127.0.0.1:9443 --http off --data-dir /tmp/tlsgate-demo

Flags:
`

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoUsage, stdout, stderr)
	httpsAddr := fs.String("https", "127.0.0.1:8443", "HTTPS `ADDR`")
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP redirect `ADDR`, or off")
	adminAddr := fs.String("admin", config.DefaultAdmin, "admin `ADDR` (metrics and status page), or off")
	http3 := fs.Bool("http3", true, "also serve HTTP/3 (QUIC) on UDP at the HTTPS port")
	dataDir := fs.String("data-dir", "", "state `DIR` for the local CA (default $TLSGATE_DATA_DIR, $XDG_DATA_HOME/tlsgate or ~/.local/share/tlsgate)")
	logFormat := fs.String("log-format", "auto", "log `format`: json, text or auto")
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() > 0 {
		return usagef("demo takes flags only, got %q", fs.Args())
	}

	// The demo API listens on a free loopback port of its own.
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the demo API: %w", err)
	}
	api := &http.Server{Handler: demoapi.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go api.Serve(apiLn)
	defer api.Close()
	upstream := "http://" + apiLn.Addr().String()

	cfg := &config.Config{
		DataDir: *dataDir,
		Listen:  config.Listen{HTTPS: *httpsAddr, HTTP: *httpAddr},
		Admin:   config.Admin{Listen: *adminAddr},
		Sites: []config.Site{{
			// ech.localhost is the public name of Encrypted Client Hello:
			// clients refuse a one-label name such as localhost.
			Hosts: []string{"localhost", "127.0.0.1", "::1", "ech.localhost"},
			Routes: []config.Route{
				{Path: "/api/", Upstreams: []string{upstream}},
				{Path: "/public/", Upstreams: []string{upstream}},
				// Service-to-service: only clients with a certificate from
				// the local CA get through.
				{Path: "/internal/", Upstreams: []string{upstream}, ClientAuth: string(mtls.Require)},
			},
			ClientAuth: config.ClientAuth{InternalCA: true},
		}},
	}
	if !*http3 {
		cfg.Listen.HTTP3 = config.ListenOff
	}
	cfg.Log.Format = *logFormat
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return usageError{demoVocabulary.words(err.Error())}
	}
	return runBuilt(ctx, demoVocabulary, cfg, stderr, func(srv *tlsgate.Server) error {
		_, root, err := srv.LocalCA()
		if err != nil {
			return err
		}
		addrs := srv.Addrs()
		port := addrs.HTTPS.(*net.TCPAddr).Port
		fmt.Fprintf(stdout, "\ntlsgate demo: a demo API behind the gateway.\n\n")
		fmt.Fprintf(stdout, "  HTTPS  https://localhost:%d  (TLS 1.2/1.3, HTTP/2, HTTP/3, HSTS)\n", port)
		if a := addrs.HTTP; a != nil {
			fmt.Fprintf(stdout, "  HTTP   http://localhost:%d   (redirects to HTTPS)\n", a.(*net.TCPAddr).Port)
		}
		certFile, keyFile, err := demoClientCert(srv, filepath.Join(datadir.Resolve(*dataDir), "demo"))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  Local CA root: %s\n  Client certificate for /internal/: %s\n\nTry:\n", root, certFile)
		for _, p := range []string{"/api/health", "/public/info"} {
			fmt.Fprintf(stdout, "  curl --cacert %s https://localhost:%d%s\n", root, port, p)
		}
		fmt.Fprintf(stdout, "  curl --cacert %s --cert %s --key %s https://localhost:%d/internal/payments\n", root, certFile, keyFile, port)
		fmt.Fprintf(stdout, "  curl --cacert %s https://localhost:%d/internal/payments   (403: no client certificate)\n", root, port)
		if a := addrs.HTTP; a != nil {
			fmt.Fprintf(stdout, "  curl -i http://localhost:%d/api/health\n", a.(*net.TCPAddr).Port)
		}
		if a := addrs.HTTP3; a != nil {
			// Debian's curl has no HTTP/3. Chromium trusts the leaf by
			// its SPKI (it refuses a root's there); with an IP address
			// it sends no SNI and gets the site of that address.
			fmt.Fprintf(stdout, "\nTry HTTP/3 (QUIC on UDP %d) in Chromium:\n", port)
			fmt.Fprintf(stdout, "  SPKI=$(openssl s_client -connect 127.0.0.1:%d </dev/null 2>/dev/null | openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)\n", port)
			fmt.Fprintf(stdout, "  chromium --user-data-dir=$(mktemp -d) --origin-to-force-quic-on=127.0.0.1:%d --ignore-certificate-errors-spki-list=$SPKI https://127.0.0.1:%d/api/health\n", port, port)
			fmt.Fprintf(stdout, "  (DevTools > Network > Protocol shows h3)\n")
		}
		if a := addrs.Admin; a != nil {
			fmt.Fprintf(stdout, "\nStatus page: http://%s/   Prometheus metrics: http://%s/metrics\n", a, a)
		}
		if list := srv.ECHConfigList(); list != nil {
			b64 := base64.StdEncoding.EncodeToString(list)
			fmt.Fprintf(stdout, "\nEncrypted Client Hello: on, public name ech.localhost. Its config, the ech= value of a DNS HTTPS record\n(clients learn it from DNS; see README, Encrypted Client Hello):\n  %s\n", b64)
			fmt.Fprintf(stdout, "Check it (a hello for localhost, encrypted; the wire shows only ech.localhost):\n  tlsgate scan --ca %s --ech-config %s localhost:%d\n", root, b64, port)
		}
		fmt.Fprintf(stdout, "\nPress Ctrl-C to stop.\n\n")
		return nil
	})
}

// demoClientCert returns a client certificate from the local CA for the
// demo's mTLS route, issuing one when there is none with a day left.
func demoClientCert(srv *tlsgate.Server, dir string) (certFile, keyFile string, err error) {
	// Named as 'tlsgate ca issue' names its files: NAME.chain.pem is the
	// leaf and the intermediate, which any server trusting the root takes.
	certFile, keyFile = filepath.Join(dir, "client.chain.pem"), filepath.Join(dir, "client.key")
	root, _, err := srv.LocalCA()
	if err != nil {
		return "", "", err
	}
	if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && time.Until(c.Leaf.NotAfter) > 24*time.Hour {
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(root)
		for _, der := range c.Certificate[1:] {
			if ic, err := x509.ParseCertificate(der); err == nil {
				inter.AddCert(ic)
			}
		}
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
			return certFile, keyFile, nil
		}
	}
	chain, key, err := srv.IssueClientCert("demo-client", []string{"spiffe://tlsgate.demo/client"}, 30*24*time.Hour)
	if err != nil {
		return "", "", fmt.Errorf("issuing the demo client certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	if err := atomicfile.Write(keyFile, key, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, atomicfile.Write(certFile, chain, 0o644)
}
