package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/loopback"
	"github.com/tlsgate/tlsgate/internal/proxy"
)

// Sidecar accepts plain HTTP from local applications and forwards it to
// https upstreams, with a client certificate when configured (the client
// mode of ghostunnel). It listens on loopback only: plain HTTP must never
// leave the machine.
type Sidecar struct {
	ln   net.Listener
	srv  *http.Server
	site *proxy.Site
	log  *slog.Logger
}

// SidecarOptions configure a Sidecar.
type SidecarOptions struct {
	Listen string // loopback host:port
	// Hosts are names, besides IP literals and localhost, that local
	// applications may send as Host. Any other Host is refused (421) and
	// never forwarded: a page whose name was rebound to 127.0.0.1 must not
	// use the sidecar's client certificate (see hostGuard).
	Hosts []string
	// HostHint says, in a refusal of another Host, how to allow it (the
	// CLI names its flag). Empty: "add the name to the sidecar's hosts".
	HostHint    string
	Upstreams   []string
	UpstreamTLS *tls.Config
	Log         *slog.Logger
	AccessLog   bool
}

// CheckLoopback reports an error unless addr's host is a loopback address
// (or "localhost").
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if loopback.Host(host) {
		return nil
	}
	return fmt.Errorf("refusing to accept plain HTTP on %s: only a loopback address (127.0.0.1, ::1) may carry unencrypted traffic (serve TLS there instead)", addr)
}

// NewSidecar binds the listener.
func NewSidecar(o SidecarOptions) (*Sidecar, error) {
	if err := CheckLoopback(o.Listen); err != nil {
		return nil, err
	}
	if o.HostHint == "" {
		o.HostHint = "add the name to the sidecar's hosts"
	}
	site, err := proxy.NewSite(proxy.SiteConfig{
		Name:   "sidecar",
		Routes: []proxy.RouteConfig{{Path: "/", Upstreams: o.Upstreams, UpstreamTLS: o.UpstreamTLS}},
	}, &proxy.Options{
		Log:              o.Log,
		AccessLog:        o.AccessLog,
		BodyRead:         config.DefaultBodyRead,
		UpstreamConnect:  config.DefaultUpstreamConnect,
		UpstreamResponse: config.DefaultUpstreamResponse,
		Send:             config.DefaultSend,
		UpstreamTLS:      o.UpstreamTLS,

		MaxUpstreamHeaderBytes: config.DefaultMaxUpstreamHeaderBytes,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		site.Close()
		return nil, fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	return &Sidecar{ln: ln, site: site, log: o.Log, srv: &http.Server{
		Handler:           newHostGuard(site, o.Listen, o.Hosts, o.HostHint),
		ReadHeaderTimeout: config.DefaultReadHeader,
		IdleTimeout:       config.DefaultIdle,
		MaxHeaderBytes:    config.DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
	}}, nil
}

// Addr is the bound address.
func (s *Sidecar) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx ends, then lets in-flight requests finish.
func (s *Sidecar) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(proxy.SendTimeoutListener(s.ln, config.DefaultSend)) }()
	s.log.Info("sidecar serving", "listen", s.ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), config.DefaultShutdown)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	s.site.Close()
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	s.log.Info("stopped")
	return nil
}
