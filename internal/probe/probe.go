package probe

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Module names a kind of probe, as blackbox_exporter's module parameter.
type Module string

const (
	// HTTP2xx fetches the target over HTTPS and wants a 2xx status.
	HTTP2xx Module = "http_2xx"
	// TCPTLS completes a TLS handshake with the target and nothing more.
	TCPTLS Module = "tcp_tls"
)

// Modules lists the known modules, the default first.
var Modules = []Module{HTTP2xx, TCPTLS, TLSGrade}

// BlackboxModules are the modules with blackbox_exporter's meaning: a
// failed verification or handshake is a failed probe. (tls_grade succeeds
// whenever it can grade: an untrusted certificate is grade T.)
var BlackboxModules = []Module{HTTP2xx, TCPTLS}

// DefaultTimeout bounds a probe when Config.Timeout is zero: blackbox's
// default module timeout, well under Prometheus's default 10 s scrape
// timeout once the scrape header lowers it.
const DefaultTimeout = 10 * time.Second

// Config configures a Prober. The zero value verifies certificates
// against the system roots with a 10 s timeout and logs nothing.
type Config struct {
	// Roots are the trust anchors for targets' certificates. Nil means
	// the system roots.
	Roots *x509.CertPool

	// InsecureSkipVerify makes a probe succeed even when the target's
	// chain does not verify (expired, untrusted, wrong name). The chain's
	// metrics are reported either way, so this only hides failures from
	// probe_success: leave it off unless every target is known to use a
	// certificate no root here can verify.
	InsecureSkipVerify bool

	// Timeout bounds one probe. Zero means DefaultTimeout. A scrape's
	// X-Prometheus-Scrape-Timeout-Seconds header can only lower it.
	Timeout time.Duration

	// UserAgent is sent with http_2xx requests. Empty means "tlsgate-probe".
	UserAgent string

	// Log receives a line per probe at debug level and handler problems
	// at warn. Nil discards.
	Log *slog.Logger

	// Registry receives the exporter's own metrics and is served on
	// /metrics. Nil means a new registry with the Go runtime and process
	// collectors.
	Registry *prometheus.Registry
}

// Prober runs probes. It is safe for concurrent use; each probe uses its
// own connections and metrics.
type Prober struct {
	roots     *x509.CertPool
	insecure  bool
	timeout   time.Duration
	userAgent string
	log       *slog.Logger
	registry  *prometheus.Registry
	metrics   *metrics
}

// New returns a Prober for cfg.
func New(cfg Config) *Prober {
	p := &Prober{
		roots:     cfg.Roots,
		insecure:  cfg.InsecureSkipVerify,
		timeout:   cfg.Timeout,
		userAgent: cfg.UserAgent,
		log:       cfg.Log,
		registry:  cfg.Registry,
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.userAgent == "" {
		p.userAgent = "tlsgate-probe"
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.registry == nil {
		p.registry = prometheus.NewRegistry()
		p.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	p.metrics = newMetrics(p.registry)
	return p
}

// Probe probes target with module and registers the probe's metrics in
// reg (all but probe_success and probe_duration_seconds, which the caller
// owns). It returns nil if the probe succeeded, else why it failed; the
// metrics gathered before a failure stay registered. ctx bounds the probe:
// give it a deadline.
func (p *Prober) Probe(ctx context.Context, module Module, target string, reg prometheus.Registerer) error {
	switch module {
	case HTTP2xx:
		return p.probeHTTP(ctx, target, reg)
	case TCPTLS:
		return p.probeTCPTLS(ctx, target, reg)
	case TLSGrade:
		return p.probeGrade(ctx, target, reg)
	}
	return fmt.Errorf("unknown module %q", module)
}
