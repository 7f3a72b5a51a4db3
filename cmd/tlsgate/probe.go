package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/loopback"
	"github.com/tlsgate/tlsgate/internal/probe"
)

const probeUsage = `Usage: tlsgate probe [--listen ADDR] [--ca FILE] [--timeout DURATION]

Serves TLS probes for Prometheus, compatible with blackbox_exporter: each
GET /probe?target=HOST:PORT&module=MODULE connects to the target and answers
metrics on its certificate chain, TLS version and cipher, and (http_2xx) the
HTTP answer. Alert rules and dashboards written for blackbox work unchanged;
deploy/prometheus/alerts.yml has some, docs/probe.md the details.

Modules:
  http_2xx  (default) GET https://HOST:PORT/ (or a target given as an
            https:// URL); success is a 2xx over a verified connection
  tcp_tls   a TLS handshake only; success is a verified certificate chain
  tls_grade a full 'tlsgate scan' of HOST:PORT; its grade and findings as
            metrics (docs/probe.md)

TLS 1.0 and 1.1 are offered, so that an old endpoint is reported
(probe_tls_version_info{version="TLS 1.0"}) rather than failing.

SIGHUP is logged and otherwise ignored (there is nothing to reload);
SIGTERM and SIGINT stop the exporter.

Anyone who can reach the probe endpoint can make this host connect
anywhere, so it listens on loopback unless --allow-remote is given.

Examples:
  tlsgate probe
  curl 'http://127.0.0.1:9219/probe?target=api.example.com:443'
  curl 'http://127.0.0.1:9219/probe?target=api.example.com:443&module=tcp_tls&debug=true'
  tlsgate probe --ca /etc/tlsgate/ca/root.pem --timeout 5s
  tlsgate probe --listen 10.0.0.5:9219 --allow-remote   # behind a firewall

Flags:
`

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", probeUsage, stdout, stderr)
	listen := fs.String("listen", "127.0.0.1:9219", "serve the exporter on `ADDR`")
	allowRemote := fs.Bool("allow-remote", false, "allow a --listen address other than loopback")
	caFile := fs.String("ca", "", "trust the CA certificates in `FILE` (PEM) too, besides the system roots")
	insecure := fs.Bool("insecure-skip-verify", false, "count a probe as a success even if the certificate chain does not verify")
	timeout := fs.Duration("timeout", probe.DefaultTimeout, "give up on a probe after `DURATION` (Prometheus's scrape timeout can lower it)")
	logFormat := fs.String("log-format", "auto", "log format: json, text or auto")
	logLevel := fs.String("log-level", "info", "log level: debug (a line per probe), info, warn or error")
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() > 0 {
		return usagef("probe takes flags only, got %q (targets come with each request: /probe?target=HOST:PORT)", fs.Args())
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive, got %s", *timeout)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef("--listen %q: want HOST:PORT, such as 127.0.0.1:9219", *listen)
	}
	remote := !loopback.Host(host)
	if remote && !*allowRemote {
		return usagef("--listen %s is not a loopback address: anyone who can reach a probe endpoint can make this host connect anywhere; add --allow-remote if a firewall limits who can", *listen)
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	var roots *x509.CertPool
	if *caFile != "" {
		extra, err := certs.LoadCAs(*caFile)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		for _, c := range extra {
			roots.AddCert(c)
		}
	}

	prober := probe.New(probe.Config{
		Roots:              roots,
		InsecureSkipVerify: *insecure,
		Timeout:            *timeout,
		UserAgent:          "tlsgate-probe/" + releaseVersion(),
		Log:                log,
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return hintError{err, "another process may hold the port: pick another with --listen"}
	}
	srv := &http.Server{
		Handler:           prober.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A probe takes up to --timeout; its answer is small.
		WriteTimeout: *timeout + 10*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// The signal handlers are in place before the probe says it listens:
	// a "kill -HUP" sent on that line must not find the default action
	// (which ends the process).
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A probe has nothing to reload and must survive a "kill -HUP" meant
	// for the gateway.
	onHangup(ctx, func() {
		log.Info("SIGHUP ignored: the probe exporter has no config to reload")
	})
	log.Info("probe exporter listening", "addr", ln.Addr().String(), "timeout", timeout.String(),
		"insecure_skip_verify", *insecure, "ca", *caFile)
	if remote {
		log.Warn("probe endpoint reachable from the network: whoever reaches it can make this host connect anywhere", "addr", ln.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), *timeout+time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	log.Info("probe exporter stopped")
	return err
}
