package main

import (
	"context"
	"fmt"
	"github.com/tlsgate/tlsgate"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/plan"
	"github.com/tlsgate/tlsgate/internal/server"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

const proxyUsage = `Usage: tlsgate proxy --from [HOST]:PORT --to URL [flags]

Puts HTTPS in front of one upstream, with the same defaults as a full
config: TLS 1.2+1.3 with AEAD ciphers, HTTP/2, HSTS and security headers.
Without --cert/--key the certificate comes from the local CA in the data
directory (created on first use; trust its root.pem in your client).

HOST is the name clients use (SNI and Host). A name ending in .localhost,
or localhost itself, binds 127.0.0.1; an IP binds that IP; any other name,
or none, binds every interface. Repeat --to for round-robin upstreams.

https upstreams are verified (--upstream-ca, else the system roots); with
--client-cert/--client-key tlsgate presents a client certificate to them.

Sidecar mode (like ghostunnel's client mode): with --client-cert and
without --cert, tlsgate accepts plain HTTP on --from, which must then be a
loopback address, and forwards it over mutual TLS, so a service that cannot
speak TLS can call an mTLS API. It forwards only requests whose Host is an
IP address, localhost or a name under .localhost, or a name given with
--allow-host; any other gets 421, so that a web page whose name was
rebound to 127.0.0.1 (DNS rebinding) cannot borrow the client certificate.

Examples:
  tlsgate proxy --from api.localhost:8443 --to http://127.0.0.1:9000
  tlsgate proxy --from api.example.com:443 --to http://10.0.0.5:8080 \
      --cert /etc/ssl/api/fullchain.pem --key /etc/ssl/api/key.pem --redirect-from :80
  tlsgate proxy --from 127.0.0.1:9001 --to https://payments.internal:8443 \
      --client-cert billing.chain.pem --client-key billing.key --upstream-ca ca.pem

Flags:
`

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("proxy", proxyUsage, stdout, stderr)
	from := fs.String("from", "", "`[HOST]:PORT` to serve HTTPS on (required)")
	var to stringList
	fs.Var(&to, "to", "upstream `URL`, http:// or https:// (required; repeat for round-robin)")
	certFile := fs.String("cert", "", "certificate chain `FILE` (PEM, leaf first); default: local CA")
	keyFile := fs.String("key", "", "private key `FILE` (PEM)")
	profile := fs.String("profile", config.ProfileIntermediate, "TLS `profile`: intermediate (TLS 1.2+1.3) or modern (TLS 1.3 only)")
	redirect := fs.String("redirect-from", "", "also listen for plain HTTP on `ADDR` and redirect it to HTTPS")
	accessLog := fs.Bool("access-log", true, "log one line per request (false for benchmarks)")
	http3 := fs.Bool("http3", true, "also serve HTTP/3 (QUIC) on UDP at --from's port, advertised with Alt-Svc")
	dataDir := fs.String("data-dir", "", "state `DIR` for the local CA (default $TLSGATE_DATA_DIR, $XDG_DATA_HOME/tlsgate or ~/.local/share/tlsgate)")
	logFormat := fs.String("log-format", "auto", "log `format`: json, text or auto")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	clientCert := fs.String("client-cert", "", "client certificate `FILE` presented to https upstreams (PEM chain)")
	clientKey := fs.String("client-key", "", "its private key `FILE`")
	upstreamCA := fs.String("upstream-ca", "", "CA bundle `FILE` that verifies https upstreams (default: system roots)")
	upstreamName := fs.String("upstream-server-name", "", "`NAME` to verify on the upstream's certificate (default: the --to host)")
	var allowHosts stringList
	fs.Var(&allowHosts, "allow-host", "sidecar mode: a host `NAME` local apps call the sidecar by, besides IP addresses and localhost (repeatable)")
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() > 0 {
		return usagef("proxy takes flags only, got %q", fs.Args())
	}
	if (*clientCert == "") != (*clientKey == "") {
		return usagef("--client-cert and --client-key go together")
	}
	ut := config.UpstreamTLS{CA: *upstreamCA, ServerName: *upstreamName, ClientCert: *clientCert, ClientKey: *clientKey}
	if !ut.IsZero() {
		for _, u := range to {
			if !strings.HasPrefix(strings.ToLower(u), "https://") {
				return usagef("--client-cert, --upstream-ca and --upstream-server-name apply to https:// upstreams; --to %s is not one", u)
			}
		}
	}
	sidecar := *clientCert != "" && *certFile == ""
	for _, h := range allowHosts {
		switch {
		case !sidecar:
			return usagef("--allow-host is for sidecar mode (--client-cert without --cert); the HTTPS proxy answers the --from host")
		case h == "" || strings.ContainsAny(h, ":/[] "):
			return usagef("--allow-host %q: give a host name only, without scheme, port or path", h)
		}
	}
	if sidecar {
		log, err := newLogger(stderr, *logFormat, *logLevel)
		if err != nil {
			return err
		}
		return runSidecar(ctx, *from, to, allowHosts, ut, *accessLog, log, stdout)
	}
	cfg, err := proxyConfig(*from, to, *certFile, *keyFile, *profile, *redirect)
	if err != nil {
		return err
	}
	cfg.Sites[0].Routes[0].UpstreamTLS = ut
	if !*http3 {
		cfg.Listen.HTTP3 = config.ListenOff
	}
	cfg.DataDir = *dataDir
	cfg.Log.Access = accessLog
	cfg.Log.Format, cfg.Log.Level = *logFormat, *logLevel
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return proxyVocabulary.rename(err)
	}
	return runBuilt(ctx, proxyVocabulary, cfg, stderr, func(srv *tlsgate.Server) error {
		fmt.Fprintf(stdout, "tlsgate: proxying https://%s -> %s\n", displayAddr(cfg.Sites[0].Hosts[0], srv.Addrs().HTTPS), strings.Join(to, ", "))
		if cfg.Sites[0].TLS.Certificate.Source == config.SourceInternal {
			_, root, err := srv.LocalCA()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "tlsgate: certificate from the local CA; trust %s\n", root)
		}
		return nil
	})
}

// proxyConfig turns the proxy flags into a one-site config, with errors
// that name the flag.
func proxyConfig(from string, to []string, certFile, keyFile, profile, redirect string) (*config.Config, error) {
	if from == "" {
		return nil, usagef("--from is required, e.g. --from api.localhost:8443")
	}
	if len(to) == 0 {
		return nil, usagef("--to is required, e.g. --to http://127.0.0.1:9000")
	}
	host, port, err := net.SplitHostPort(from)
	if err != nil {
		return nil, usagef("--from %q: want [HOST]:PORT, e.g. api.localhost:8443", from)
	}
	for _, u := range to {
		if err := config.CheckUpstream(u); err != nil {
			return nil, usagef("--to: %v", err)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, usagef("--cert and --key go together")
	}
	host = strings.ToLower(host)
	var hosts []string
	bind := ""
	switch {
	case host == "":
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		hosts, bind = []string{host}, "127.0.0.1"
	default:
		hosts = []string{host}
		if a, err := netip.ParseAddr(host); err == nil {
			bind = a.String()
		}
	}
	site := config.Site{
		Hosts:   hosts,
		Default: true, // the only site: clients without SNI get it too
		TLS:     config.SiteTLS{Profile: profile},
		Routes:  []config.Route{{Path: "/", Upstreams: to}},
	}
	if certFile != "" {
		site.TLS.Certificate = config.Certificate{Source: config.SourceFiles, Cert: certFile, Key: keyFile}
	}
	httpAddr := config.ListenOff
	if redirect != "" {
		httpAddr = redirect
	}
	return &config.Config{
		Listen: config.Listen{HTTPS: net.JoinHostPort(bind, port), HTTP: httpAddr},
		Sites:  []config.Site{site},
	}, nil
}

func displayAddr(host string, a net.Addr) string {
	port := a.(*net.TCPAddr).Port
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// runSidecar accepts plain HTTP on a loopback address and forwards it to
// https upstreams with a client certificate.
func runSidecar(ctx context.Context, from string, to, allowHosts []string, ut config.UpstreamTLS, accessLog bool, log *slog.Logger, stdout io.Writer) error {
	if err := server.CheckLoopback(from); err != nil {
		return usageError{"--from: " + strings.Replace(err.Error(), " (serve TLS there instead)", "; give --cert and --key to serve TLS there", 1)}
	}
	up, ferrs := plan.LoadUpstreamTLS(ut)
	for _, fe := range ferrs {
		flag := map[string]string{"ca": "--upstream-ca", "client_cert": "--client-cert"}[fe.Field]
		return fmt.Errorf("%s: %w", flag, fe.Err)
	}
	sc, err := server.NewSidecar(server.SidecarOptions{
		Listen: from, Hosts: allowHosts, HostHint: "start the sidecar with --allow-host NAME", Upstreams: to, UpstreamTLS: tlspolicy.UpstreamClient(up), Log: log, AccessLog: accessLog,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tlsgate: sidecar http://%s -> %s (mutual TLS as %s)\n", sc.Addr(), strings.Join(to, ", "), up.Certificate.Leaf.Subject)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return sc.Serve(ctx)
}
