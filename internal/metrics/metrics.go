// Package metrics is the gateway's Prometheus instrumentation: TLS
// handshakes, certificates, client-certificate verifications, HTTP
// requests and upstream health. Every label takes values from a bounded
// set (config names, TLS parameter names, fixed reasons): never raw paths,
// client addresses or names taken from untrusted certificates.
// docs/metrics.md documents each metric.
//
// It registers on a caller's prometheus.Registerer (the Go API's) or a
// registry of its own (the admin listener's). It imports only
// internal/inventory of this module; proxy and the TLS layer report to it
// through hooks they define (proxy.Observer, tlspolicy.Options.OnHandshake)
// and must not import it.
package metrics

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/tlsgate/tlsgate/internal/inventory"
)

// Inventory is what the gateway serves right now, read at scrape time.
type Inventory struct {
	Certificates []inventory.Certificate
	Upstreams    []inventory.Upstream
}

// Metrics holds the gateway's collectors. Its methods are safe for
// concurrent use; the zero value is not usable: call New.
type Metrics struct {
	// Gatherer serves the metrics (the admin listener's /metrics): the
	// gateway's own registry, or the caller's when it is a Gatherer; nil
	// otherwise.
	Gatherer prometheus.Gatherer

	reg        prometheus.Registerer
	registered []prometheus.Collector // on reg, until Unregister

	handshakes        *prometheus.CounterVec
	handshakeFailures *prometheus.CounterVec
	clientCerts       *prometheus.CounterVec
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	upstreamErrors    *prometheus.CounterVec
	acmeAttempts      *prometheus.CounterVec
	onDemandAsks      *prometheus.CounterVec
	onDemandAllowed   *prometheus.CounterVec
	onDemandRefused   *prometheus.CounterVec
	onDemandOrders    *prometheus.CounterVec
	echAccepted       *prometheus.CounterVec
	echPublish        *prometheus.CounterVec
	echKeys           prometheus.Gauge
	echKeyCreated     prometheus.Gauge

	// series caches the request series of each site and route (see
	// routeSeries); copied on write under mu, read without a lock.
	series atomic.Pointer[map[routeKey]*routeSeries]

	mu         sync.Mutex
	inventory  func() Inventory
	clientSeen map[string]seenCert // by issuer: the earliest-expiring recent client certificate
	failures   []ClientCertFailure // ring of the most recent refusals
	failNext   int
}

// ClientCertFailure is one refused or failed client certificate.
type ClientCertFailure = inventory.ClientCertFailure

// recentFailures is how many client-certificate failures the status page
// can show.
const recentFailures = 50

type seenCert struct {
	notAfter time.Time
	seen     time.Time
}

// clientCertWindow is how long a client certificate counts as "seen
// recently" for the earliest-expiry gauge.
const clientCertWindow = 24 * time.Hour

// Mix is the handshake mix since start, for the status page.
type Mix struct {
	Versions, Groups, ALPN, Failures map[string]uint64
	Resumed, Full                    uint64
}

// New registers tlsgate's collectors on reg. A nil reg means a registry
// of the gateway's own, with Go runtime and process metrics as well (what
// `tlsgate serve` exposes); a caller's registry gets tlsgate's collectors
// only, so that it keeps its own choice of runtime collectors. It fails
// when reg already holds tlsgate's metrics (two gateways on one
// registry).
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{clientSeen: map[string]seenCert{}}
	var runtime []prometheus.Collector
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
		runtime = []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	}
	m.Gatherer, _ = reg.(prometheus.Gatherer)
	m.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_tls_handshakes_total",
		Help: "Completed TLS handshakes by site, protocol version, cipher suite, key-exchange group, ALPN protocol and whether the session was resumed.",
	}, []string{"site", "version", "cipher", "group", "alpn", "resumed"})
	m.handshakeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_tls_handshake_failures_total",
		Help: "Failed TLS handshakes by reason: " + strings.Join(FailureReasons, ", ") + ".",
	}, []string{"reason"})
	m.clientCerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_client_cert_verifications_total",
		Help: "Client-certificate checks on routes that ask for one, by site, route and result (success, or the refusal reason).",
	}, []string{"site", "route", "result"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_http_requests_total",
		Help: "HTTPS requests by site, route (the configured path prefix), method and status class (2xx, 3xx, 4xx, 5xx).",
	}, []string{"site", "route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tlsgate_http_request_duration_seconds",
		Help:    "Time from the request's headers to the end of the response, by site and route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"site", "route"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_upstream_errors_total",
		Help: "Requests that failed at the upstream, by site, route and kind (connect, timeout, other).",
	}, []string{"site", "route", "kind"})
	m.acmeAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_acme_renewal_attempts_total",
		Help: "ACME certificate orders (first issuance and renewals) by name and result (success, failure).",
	}, []string{"name", "result"})
	m.onDemandAsks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_acme_on_demand_asks_total",
		Help: "Requests to an on-demand site's ask endpoint, by site and result (allowed: 2xx, denied: another status, error: no answer or timeout).",
	}, []string{"site", "result"})
	m.onDemandAllowed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_acme_on_demand_allowed_total",
		Help: "On-demand names allowed during a handshake, by site and kind (new: an order was admitted; held: a certificate in storage may be loaded or renewed).",
	}, []string{"site", "kind"})
	m.onDemandRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_acme_on_demand_refused_total",
		Help: "On-demand names refused during a handshake (the client gets a TLS alert, no order is made), by site and reason: " + strings.Join(OnDemandReasons, ", ") + ".",
	}, []string{"site", "reason"})
	m.onDemandOrders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_acme_on_demand_orders_total",
		Help: "ACME orders of on-demand sites (first issuance and renewals), by site and result (success, failure).",
	}, []string{"site", "result"})
	m.echAccepted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_tls_ech_accepted_total",
		Help: "Completed TLS handshakes (TCP and QUIC) whose Encrypted Client Hello was decrypted, by site (the inner, real server name's site).",
	}, []string{"site"})
	m.echPublish = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_ech_publish_total",
		Help: "Updates of the DNS HTTPS records that carry the ECH config (ech.publish), by result (success, failure).",
	}, []string{"result"})
	for _, r := range []string{"success", "failure"} {
		m.echPublish.WithLabelValues(r)
	}
	m.echKeys = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tlsgate_ech_keys",
		Help: "ECH keys that decrypt client hellos now: the current one and those in their grace period; 0 when ECH is off.",
	})
	m.echKeyCreated = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tlsgate_ech_key_created_timestamp_seconds",
		Help: "When the current ECH key (the one published) was made, Unix time; 0 when ECH is off.",
	})
	all := append([]prometheus.Collector{m.handshakes, m.handshakeFailures, m.clientCerts, m.requests, m.latency,
		m.upstreamErrors, m.acmeAttempts, m.onDemandAsks, m.onDemandAllowed, m.onDemandRefused, m.onDemandOrders,
		m.echAccepted, m.echPublish, m.echKeys, m.echKeyCreated,
		&inventoryCollector{m}}, runtime...)
	for i, c := range all {
		if err := reg.Register(c); err != nil {
			for _, done := range all[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("registering the gateway's metrics: %w", err)
		}
	}
	m.reg, m.registered = reg, all
	return m, nil
}

// Unregister takes the collectors off the registerer they were put on, so
// that a later gateway can register there (a Go program's next Server on
// the same registry). The server calls it when it stops.
func (m *Metrics) Unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

// SetInventory sets the function read at every scrape.
func (m *Metrics) SetInventory(f func() Inventory) {
	m.mu.Lock()
	m.inventory = f
	m.mu.Unlock()
}

// Inventory returns what SetInventory's function reports now.
func (m *Metrics) Inventory() Inventory {
	m.mu.Lock()
	f := m.inventory
	m.mu.Unlock()
	if f == nil {
		return Inventory{}
	}
	return f()
}

// Handshake counts a completed handshake on site.
func (m *Metrics) Handshake(site string, cs *tls.ConnectionState) {
	alpn := cs.NegotiatedProtocol
	if alpn == "" {
		alpn = "none"
	}
	m.handshakes.WithLabelValues(site, tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite),
		groupName(cs.CurveID), alpn, strconv.FormatBool(cs.DidResume)).Inc()
	if cs.ECHAccepted {
		m.echAccepted.WithLabelValues(site).Inc()
	}
}

// ECHKeys reports the live ECH key ring: how many keys decrypt and when
// the current one was made (zero when ECH is off).
func (m *Metrics) ECHKeys(n int, created time.Time) {
	m.echKeys.Set(float64(n))
	if created.IsZero() {
		m.echKeyCreated.Set(0)
	} else {
		m.echKeyCreated.Set(float64(created.Unix()))
	}
}

// ECHPublish counts one update of the ECH HTTPS records.
func (m *Metrics) ECHPublish(ok bool) {
	r := "success"
	if !ok {
		r = "failure"
	}
	m.echPublish.WithLabelValues(r).Inc()
}

// groupName names a key-exchange group. A resumed TLS 1.2 session, which
// exchanges no key, reports the group of the handshake that made it (Go
// keeps it in the ticket); only an RSA key exchange, which tlsgate never
// negotiates, has none.
func groupName(id tls.CurveID) string {
	if id == 0 {
		return "none"
	}
	return id.String()
}

// HandshakeFailure counts a failed handshake.
func (m *Metrics) HandshakeFailure(reason string) {
	m.handshakeFailures.WithLabelValues(reason).Inc()
}

// HandshakeMix sums the handshake counters since start by version, group,
// ALPN and resumption, and the failures by reason, for the status page.
// It reads the Prometheus counters: the handshake path counts only once.
func (m *Metrics) HandshakeMix() Mix {
	mix := Mix{Versions: map[string]uint64{}, Groups: map[string]uint64{}, ALPN: map[string]uint64{}, Failures: map[string]uint64{}}
	each(m.handshakes, func(labels map[string]string, n uint64) {
		mix.Versions[labels["version"]] += n
		mix.Groups[labels["group"]] += n
		mix.ALPN[labels["alpn"]] += n
		if labels["resumed"] == "true" {
			mix.Resumed += n
		} else {
			mix.Full += n
		}
	})
	each(m.handshakeFailures, func(labels map[string]string, n uint64) {
		mix.Failures[labels["reason"]] += n
	})
	return mix
}

// each calls f with the labels and value of every series of c.
func each(c prometheus.Collector, f func(labels map[string]string, n uint64)) {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	for metric := range ch {
		var d dto.Metric
		if metric.Write(&d) != nil || d.Counter == nil {
			continue
		}
		labels := make(map[string]string, len(d.Label))
		for _, l := range d.Label {
			labels[l.GetName()] = l.GetValue()
		}
		f(labels, uint64(d.Counter.GetValue()))
	}
}

// FailureReasons are the values of tlsgate_tls_handshake_failures_total's
// reason label, all of them: FailureReason returns nothing else.
var FailureReasons = []string{
	"no_shared_cipher", "no_shared_group", "no_shared_signature", "no_shared_alpn",
	"unsupported_version", "unknown_sni", "no_certificate", "bad_client_cert",
	"client_rejected_cert", "client_alert", "protocol_error",
	"timeout", "client_closed", "not_tls", "other",
}

// FailureReason sorts a handshake error, as net/http logs it, into the
// bounded set of reasons of tlsgate_tls_handshake_failures_total
// (FailureReasons). The texts are crypto/tls's: an error the client
// reported with an alert reads "remote error: tls: <alert>", one the
// gateway found is crypto/tls's own message.
func FailureReason(msg string) string {
	if _, alert, ok := strings.Cut(msg, "remote error: tls: "); ok {
		switch {
		case strings.Contains(alert, "protocol version not supported"):
			return "unsupported_version"
		case strings.Contains(alert, "bad certificate"), strings.Contains(alert, "unknown certificate authority"),
			strings.Contains(alert, "certificate unknown"), strings.Contains(alert, "certificate expired"),
			strings.Contains(alert, "certificate revoked"), strings.Contains(alert, "unsupported certificate"):
			// The client refused the gateway's certificate: an untrusted
			// issuer (the internal CA not installed), a name or date it
			// does not accept.
			return "client_rejected_cert"
		case strings.Contains(alert, "user canceled"), strings.Contains(alert, "close notify"):
			return "client_closed"
		case strings.Contains(alert, "no application protocol"):
			return "no_shared_alpn"
		}
		return "client_alert"
	}
	switch {
	case strings.Contains(msg, "no cipher suite supported"):
		return "no_shared_cipher"
	case strings.Contains(msg, "no key exchanges supported"), strings.Contains(msg, "no supported elliptic curves"),
		strings.Contains(msg, "no ECDHE curve"), strings.Contains(msg, "incompatible point formats"):
		return "no_shared_group"
	case strings.Contains(msg, "doesn't support any of the certificate's signature algorithms"),
		strings.Contains(msg, "doesn't support the certificate custom signature algorithms"):
		return "no_shared_signature"
	case strings.Contains(msg, "unsupported application protocols"), strings.Contains(msg, "did not request an application protocol"):
		return "no_shared_alpn"
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version not supported"),
		strings.Contains(msg, "unsupported SSLv2 handshake"), strings.Contains(msg, "older than TLS 1.3"),
		strings.Contains(msg, "inappropriate protocol fallback"):
		return "unsupported_version"
	case strings.Contains(msg, "no certificates configured"), strings.Contains(msg, "unrecognized name"):
		return "unknown_sni"
	case strings.Contains(msg, "no certificate for"):
		return "no_certificate"
	case strings.Contains(msg, "client certificate"), strings.Contains(msg, "bad certificate"),
		strings.Contains(msg, "didn't provide a certificate"), strings.Contains(msg, "failed to verify certificate"):
		return "bad_client_cert"
	case strings.Contains(msg, "timeout"), strings.Contains(msg, "deadline exceeded"):
		return "timeout"
	case strings.Contains(msg, "EOF"), strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"):
		return "client_closed"
	case strings.Contains(msg, "does not look like a TLS handshake"), strings.Contains(msg, "oversized record"):
		return "not_tls"
	case strings.Contains(msg, "unexpected"), strings.Contains(msg, "invalid"), strings.Contains(msg, "illegal"),
		strings.Contains(msg, "bad record MAC"), strings.Contains(msg, "exceeds maximum"), strings.Contains(msg, "too many"),
		strings.Contains(msg, "malformed"), strings.Contains(msg, "decode error"), strings.Contains(msg, "received record with version"),
		strings.Contains(msg, "Finished message is incorrect"), strings.Contains(msg, "renegotiation"), strings.Contains(msg, "missing"),
		strings.Contains(msg, "extended_master_secret"), strings.Contains(msg, "does not match"):
		return "protocol_error"
	}
	return "other"
}

// ReasonText says what a handshake failure reason means, for people: what
// happened and, where it helps, what to look at.
func ReasonText(reason string) string {
	switch reason {
	case "no_shared_cipher":
		return "no shared cipher suite"
	case "no_shared_group":
		return "no shared key-exchange group"
	case "no_shared_signature":
		return "client accepts no signature of the certificate's key"
	case "no_shared_alpn":
		return "no shared application protocol (ALPN)"
	case "unsupported_version":
		return "unsupported protocol version"
	case "unknown_sni":
		return "unknown server name (SNI)"
	case "no_certificate":
		return "certificate not issued yet"
	case "bad_client_cert":
		return "bad client certificate"
	case "client_rejected_cert":
		return "client does not trust the certificate"
	case "client_alert":
		return "client aborted (TLS alert)"
	case "protocol_error":
		return "malformed or unexpected TLS message"
	case "timeout":
		return "handshake timed out"
	case "client_closed":
		return "client closed the connection"
	case "not_tls":
		return "not TLS"
	}
	return reason
}

// Request counts a finished request. route is the configured prefix
// ("" when no route matched).
func (m *Metrics) Request(site, route, method string, status int, d time.Duration) {
	if route == "" {
		route = "none"
	}
	rs := m.routeSeries(site, route)
	mi, ci := methodIndex(method), codeIndex(status)
	c := rs.requests[mi][ci].Load()
	if c == nil {
		// Made on first use, as WithLabelValues would: a series appears
		// once it counts a request, never at zero.
		c = &counter{m.requests.WithLabelValues(site, route, methodLabels[mi], codeLabels[ci])}
		rs.requests[mi][ci].Store(c)
	}
	c.Inc()
	rs.latency.Observe(d.Seconds())
}

// routeKey names the request series of one site and route.
type routeKey struct{ site, route string }

// routeSeries are one site and route's request series, looked up once:
// WithLabelValues validates and hashes its labels and takes the vector's
// lock on every call, twice per request. The counters by method and
// status class are made on first use.
type routeSeries struct {
	latency  prometheus.Observer
	requests [len(methodLabels)][len(codeLabels)]atomic.Pointer[counter]
}

type counter struct{ prometheus.Counter }

// routeSeries returns the series of site and route, made on first use.
// Their number is bounded as the labels are: by the configured sites and
// routes (prometheus keeps every child of a vector too).
func (m *Metrics) routeSeries(site, route string) *routeSeries {
	k := routeKey{site, route}
	if p := m.series.Load(); p != nil {
		if rs, ok := (*p)[k]; ok {
			return rs
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.series.Load()
	if old != nil {
		if rs, ok := (*old)[k]; ok {
			return rs
		}
	}
	next := make(map[routeKey]*routeSeries, 1)
	if old != nil {
		next = make(map[routeKey]*routeSeries, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	}
	rs := &routeSeries{latency: m.latency.WithLabelValues(site, route)}
	next[k] = rs
	m.series.Store(&next)
	return rs
}

// methodLabels and codeLabels are the values of the method and code
// labels; methodIndex and codeIndex say which a request gets.
var (
	methodLabels = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other"}
	codeLabels   = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}
)

func methodIndex(m string) int {
	for i, l := range methodLabels[:len(methodLabels)-1] {
		if m == l {
			return i
		}
	}
	return len(methodLabels) - 1
}

func codeIndex(status int) int {
	if status < 100 || status > 599 {
		return len(codeLabels) - 1
	}
	return status/100 - 1
}

// methodLabel keeps the method label bounded: any method outside the
// standard set is "other".
func methodLabel(m string) string { return methodLabels[methodIndex(m)] }

func codeClass(status int) string { return codeLabels[codeIndex(status)] }

// UpstreamError counts a request that failed at the upstream.
func (m *Metrics) UpstreamError(site, route, kind string) {
	m.upstreamErrors.WithLabelValues(site, route, kind).Inc()
}

// ClientCert counts a client-certificate check. leaf, when given, is the
// presented certificate: on success it feeds the earliest-expiry gauge
// (only trusted issuers get there, which keeps that label bounded); on
// failure its subject is kept for the status page, never as a label.
func (m *Metrics) ClientCert(site, route, result string, leaf *x509.Certificate) {
	m.clientCerts.WithLabelValues(site, route, result).Inc()
	if result != "success" {
		f := ClientCertFailure{Time: time.Now(), Site: site, Route: route, Reason: result}
		if leaf != nil {
			f.Subject = leaf.Subject.String()
		}
		m.mu.Lock()
		if len(m.failures) < recentFailures {
			m.failures = append(m.failures, f)
		} else {
			m.failures[m.failNext] = f
		}
		m.failNext = (m.failNext + 1) % recentFailures
		m.mu.Unlock()
		return
	}
	if leaf == nil {
		return
	}
	issuer := leaf.Issuer.String()
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.clientSeen[issuer]
	if !ok || leaf.NotAfter.Before(cur.notAfter) || now.Sub(cur.seen) > clientCertWindow || leaf.NotAfter.Equal(cur.notAfter) {
		m.clientSeen[issuer] = seenCert{notAfter: leaf.NotAfter, seen: now}
	}
}

// RecentClientCertFailures returns the latest failures, newest first.
func (m *Metrics) RecentClientCertFailures() []ClientCertFailure {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ClientCertFailure, 0, len(m.failures))
	for i := range len(m.failures) {
		j := (m.failNext - 1 - i + 2*recentFailures) % recentFailures
		if j < len(m.failures) {
			out = append(out, m.failures[j])
		}
	}
	return out
}

// ACMEName makes name's order counters exist at 0, so that the first
// failure shows as an increase (alert rules use increase()).
func (m *Metrics) ACMEName(name string) {
	m.acmeAttempts.WithLabelValues(name, "success")
	m.acmeAttempts.WithLabelValues(name, "failure")
}

// ACMEResult counts an ACME order's outcome.
func (m *Metrics) ACMEResult(name string, ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	m.acmeAttempts.WithLabelValues(name, result).Inc()
}

// OnDemandReasons are the values of tlsgate_acme_on_demand_refused_total's
// reason label (package ondemand's Reasons; metrics imports nothing of
// acme).
var OnDemandReasons = []string{"ask_denied", "ask_error", "rate_limited", "backoff", "cached_refusal", "concurrency"}

// OnDemand returns the recorder of an on-demand site's decisions and
// orders, with every series of the site made at 0 (alert rules use
// increase()).
func (m *Metrics) OnDemand(site string) *OnDemandSite {
	for _, r := range []string{"allowed", "denied", "error"} {
		m.onDemandAsks.WithLabelValues(site, r)
	}
	for _, k := range []string{"new", "held"} {
		m.onDemandAllowed.WithLabelValues(site, k)
	}
	for _, r := range OnDemandReasons {
		m.onDemandRefused.WithLabelValues(site, r)
	}
	for _, r := range []string{"success", "failure"} {
		m.onDemandOrders.WithLabelValues(site, r)
	}
	return &OnDemandSite{m: m, site: site}
}

// OnDemandSite records one on-demand site's decisions and orders
// (acme.OnDemandObserver). Safe for concurrent use.
type OnDemandSite struct {
	m    *Metrics
	site string
}

// Asked counts a request to the ask endpoint.
func (o *OnDemandSite) Asked(result string) { o.m.onDemandAsks.WithLabelValues(o.site, result).Inc() }

// Allowed counts an allowed name.
func (o *OnDemandSite) Allowed(kind string) { o.m.onDemandAllowed.WithLabelValues(o.site, kind).Inc() }

// Refused counts a refused name.
func (o *OnDemandSite) Refused(reason string) {
	o.m.onDemandRefused.WithLabelValues(o.site, reason).Inc()
}

// Order counts an order's outcome.
func (o *OnDemandSite) Order(ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	o.m.onDemandOrders.WithLabelValues(o.site, result).Inc()
}

// inventoryCollector reports certificates, upstream health and recent
// client certificates as they are at scrape time.
type inventoryCollector struct{ m *Metrics }

var (
	descNotAfter = prometheus.NewDesc("tlsgate_certificate_not_after_timestamp_seconds",
		"When a served certificate expires (Unix seconds).", []string{"site", "name", "issuer", "source", "serial"}, nil)
	descNotBefore = prometheus.NewDesc("tlsgate_certificate_not_before_timestamp_seconds",
		"When a served certificate became valid (Unix seconds).", []string{"site", "name", "issuer", "source", "serial"}, nil)
	descRenewAt = prometheus.NewDesc("tlsgate_certificate_renewal_due_timestamp_seconds",
		"When the gateway renews a self-renewing (acme, internal) certificate at the latest (Unix seconds); absent for files certificates.", []string{"site", "name", "issuer", "source", "serial"}, nil)
	descEarliest = prometheus.NewDesc("tlsgate_certificate_earliest_expiry_seconds",
		"Seconds until the first of the served certificates expires (negative once expired).", nil, nil)
	descPending = prometheus.NewDesc("tlsgate_certificate_pending",
		"1 for a name whose certificate is not issued yet (its handshakes are refused).", []string{"site", "name", "source"}, nil)
	descUpstreamUp = prometheus.NewDesc("tlsgate_upstream_up",
		"1 when an upstream is in rotation, 0 while it is backed off after failed connections.", []string{"site", "route", "upstream"}, nil)
	descClientExpiry = prometheus.NewDesc("tlsgate_client_cert_earliest_expiry_timestamp_seconds",
		"Earliest expiry (Unix seconds) among verified client certificates seen in the last 24 h, per issuer.", []string{"issuer"}, nil)
)

func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNotAfter, descNotBefore, descRenewAt, descEarliest, descPending, descUpstreamUp, descClientExpiry} {
		ch <- d
	}
}

func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	inv := c.m.Inventory()
	var earliest time.Time
	for _, cert := range inv.Certificates {
		if cert.NotAfter.IsZero() {
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, 1, cert.Site, cert.Name, cert.Source)
			continue
		}
		labels := []string{cert.Site, cert.Name, cert.Issuer, cert.Source, cert.Serial}
		ch <- prometheus.MustNewConstMetric(descNotAfter, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), labels...)
		ch <- prometheus.MustNewConstMetric(descNotBefore, prometheus.GaugeValue, float64(cert.NotBefore.Unix()), labels...)
		if !cert.RenewAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(descRenewAt, prometheus.GaugeValue, float64(cert.RenewAt.Unix()), labels...)
		}
		if earliest.IsZero() || cert.NotAfter.Before(earliest) {
			earliest = cert.NotAfter
		}
	}
	if !earliest.IsZero() {
		ch <- prometheus.MustNewConstMetric(descEarliest, prometheus.GaugeValue, time.Until(earliest).Seconds())
	}
	for _, u := range inv.Upstreams {
		up := 0.0
		if u.Healthy {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUpstreamUp, prometheus.GaugeValue, up, u.Site, u.Route, u.URL)
	}
	now := time.Now()
	c.m.mu.Lock()
	for issuer, s := range c.m.clientSeen {
		if now.Sub(s.seen) > clientCertWindow {
			delete(c.m.clientSeen, issuer)
			continue
		}
		ch <- prometheus.MustNewConstMetric(descClientExpiry, prometheus.GaugeValue, float64(s.notAfter.Unix()), issuer)
	}
	c.m.mu.Unlock()
}
