package server

import (
	"crypto/x509"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tlsgate/tlsgate/internal/acme"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/inventory"
	"github.com/tlsgate/tlsgate/internal/metrics"
	"github.com/tlsgate/tlsgate/internal/status"
)

// adminServer serves /metrics, the status page and /healthz. Nothing on
// it can change the gateway, and nothing secret is shown: no keys, no
// config values beyond names. Every path is behind the Host check against
// DNS rebinding (hostGuard, admin.hosts).
func (s *Server) adminServer(errLog *log.Logger) *http.Server {
	mux := http.NewServeMux()
	if g := s.metrics.Gatherer; g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: errLog}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("/", status.Handler(s.snapshot))
	cfg := s.cfg.Load()
	return &http.Server{
		Handler: newHostGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Every admin answer, /metrics and /healthz too: no content
			// sniffing, no referrer, no framing.
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			mux.ServeHTTP(w, r)
		}), cfg.Admin.Listen, cfg.Admin.Hosts, "add it to admin.hosts in the config"),
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader,
		IdleTimeout:       cfg.Timeouts.Idle,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
}

// inventory lists the certificates and upstreams of the live state.
func (s *Server) inventory() metrics.Inventory {
	st := s.state.Load()
	var inv metrics.Inventory
	if st == nil {
		return inv
	}
	for i, si := range st.sites {
		src := st.cfg.Sites[i].TLS.Certificate.Source
		if a, ok := si.cert.(*acme.Source); ok {
			for _, h := range a.Hosts() {
				if a.OnDemand() && strings.Contains(h, "*") {
					continue // a pattern: its names' certificates are not listed (unbounded)
				}
				inv.Certificates = append(inv.Certificates, certInfo(si.name, h, src, a.LeafFor(h), s.opts.ACMERenewalWindowRatio))
			}
		} else if si.cert != nil {
			inv.Certificates = append(inv.Certificates, certInfo(si.name, si.name, src, si.cert.Leaf(), 0))
		}
		if si.handler != nil {
			inv.Upstreams = append(inv.Upstreams, si.handler.Upstreams()...)
		}
	}
	return inv
}

// defaultRenewalRatio is the share of a certificate's lifetime left when
// the gateway renews it: the internal CA always (certs.Internal renews at
// two thirds), ACME unless configured otherwise or the CA's ARI window
// says earlier (certmagic's default, README "ACME").
const defaultRenewalRatio = 1.0 / 3

// certInfo describes leaf, served for name on site from source. acmeRatio
// is the ACME renewal window ratio (0 means the default).
func certInfo(site, name, source string, leaf *x509.Certificate, acmeRatio float64) inventory.Certificate {
	c := inventory.Certificate{Site: site, Name: name, Source: source}
	if leaf != nil {
		c.Issuer = leaf.Issuer.CommonName
		if c.Issuer == "" {
			c.Issuer = leaf.Issuer.String()
		}
		c.Serial = leaf.SerialNumber.Text(16)
		c.NotBefore, c.NotAfter = leaf.NotBefore, leaf.NotAfter
		ratio := defaultRenewalRatio
		if source == config.SourceACME && acmeRatio > 0 {
			ratio = acmeRatio
		}
		if source == config.SourceACME || source == config.SourceInternal {
			life := leaf.NotAfter.Sub(leaf.NotBefore)
			c.RenewAt = leaf.NotAfter.Add(-time.Duration(float64(life) * ratio)).Truncate(time.Second)
		}
	}
	return c
}

// snapshot is what the status page shows.
func (s *Server) snapshot() status.Snapshot {
	inv := s.inventory()
	snap := status.Snapshot{Generated: time.Now(), Version: s.opts.Version,
		Certificates: inv.Certificates, Upstreams: inv.Upstreams}
	if m := s.ACME(); m != nil {
		for i := range snap.Certificates {
			if c := &snap.Certificates[i]; c.Source == config.SourceACME {
				a := m.Status(c.Name)
				c.LastAttempt, c.LastResult, c.LastError = a.LastAttempt, a.LastResult, a.LastError
			}
		}
	}
	mix := s.metrics.HandshakeMix()
	failures := make(map[string]uint64, len(mix.Failures))
	for reason, n := range mix.Failures {
		failures[metrics.ReasonText(reason)] += n
	}
	snap.Handshakes = status.Handshakes{Versions: mix.Versions, Groups: mix.Groups, ALPN: mix.ALPN,
		Resumed: mix.Resumed, Full: mix.Full, Failures: failures}
	if f := s.metrics.RecentClientCertFailures(); len(f) > 0 {
		snap.ClientCertFailures = f // none stays null in /status.json, as before
	}
	return snap
}
