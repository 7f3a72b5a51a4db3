package probe

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// scrapeTimeoutOffset is taken off the scrape timeout Prometheus announces
// so that the answer arrives before Prometheus gives up: blackbox's
// default --timeout-offset.
const scrapeTimeoutOffset = 500 * time.Millisecond

// metrics are the exporter's own, on /metrics.
type metrics struct {
	probes   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlsgate_probes_total",
			Help: "Probes run, by module and result (success or failure).",
		}, []string{"module", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tlsgate_probe_duration_seconds",
			Help:    "How long probes took, by module.",
			Buckets: prometheus.DefBuckets,
		}, []string{"module"}),
	}
	reg.MustRegister(m.probes, m.duration)
	// Every series exists from the start, so that increase() sees the
	// first failure.
	for _, mod := range Modules {
		m.probes.WithLabelValues(string(mod), "success")
		m.probes.WithLabelValues(string(mod), "failure")
		m.duration.WithLabelValues(string(mod))
	}
	return m
}

// Handler serves the exporter: / (a form), /probe, /metrics (the
// exporter's own metrics) and /-/healthy.
func (p *Prober) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.serveIndex)
	mux.HandleFunc("GET /probe", p.serveProbe)
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	return mux
}

// serveProbe runs one probe, as blackbox's /probe: target and module
// from the query, the timeout lowered by Prometheus's scrape-timeout
// header, the result in a fresh registry. With debug=true the answer is
// the failure reason and the metrics as text, for a human.
func (p *Prober) serveProbe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	module := Module(q.Get("module"))
	if module == "" {
		module = HTTP2xx
	}
	if !slices.Contains(Modules, module) {
		http.Error(w, fmt.Sprintf("Unknown module %q (known: http_2xx, tcp_tls, tls_grade)", module), http.StatusBadRequest)
		return
	}
	target := q.Get("target")
	if target == "" {
		http.Error(w, "Target parameter is missing", http.StatusBadRequest)
		return
	}
	timeout, err := p.probeTimeout(r.Header)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	success := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_success",
		Help: "Displays whether or not the probe was a success",
	})
	duration := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_duration_seconds",
		Help: "Returns how long the probe took to complete in seconds",
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(success, duration)
	start := time.Now()
	perr := p.Probe(ctx, module, target, reg)
	took := time.Since(start)
	duration.Set(took.Seconds())
	result := "failure"
	if perr == nil {
		success.Set(1)
		result = "success"
	}
	p.metrics.probes.WithLabelValues(string(module), result).Inc()
	p.metrics.duration.WithLabelValues(string(module)).Observe(took.Seconds())
	if perr != nil {
		p.log.Debug("probe", "module", module, "target", target, "result", result, "duration_seconds", took.Seconds(), "err", perr)
	} else {
		p.log.Debug("probe", "module", module, "target", target, "result", result, "duration_seconds", took.Seconds())
	}

	if q.Get("debug") == "true" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Probe of %s with module %s, timeout %s: %s", target, module, timeout, result)
		if perr != nil {
			fmt.Fprintf(w, ": %v", perr)
		}
		fmt.Fprint(w, "\n\nMetrics that would have been returned:\n")
		mfs, err := reg.Gather()
		if err != nil {
			fmt.Fprintf(w, "gathering metrics: %v\n", err)
		}
		for _, mf := range mfs {
			expfmt.MetricFamilyToText(w, mf)
		}
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// probeTimeout is the configured timeout, or less if Prometheus's
// X-Prometheus-Scrape-Timeout-Seconds header says the scrape gives up
// sooner: then the scrape timeout less scrapeTimeoutOffset (or half the
// scrape timeout, if that is shorter than the offset).
func (p *Prober) probeTimeout(h http.Header) (time.Duration, error) {
	v := h.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return p.timeout, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s <= 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds: %q is not a positive number of seconds", v)
	}
	scrape := time.Duration(s * float64(time.Second))
	t := scrape - scrapeTimeoutOffset
	if t <= 0 {
		t = scrape / 2
	}
	return min(t, p.timeout), nil
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>tlsgate probe</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}
input,select,button{font:inherit;padding:.2rem .4rem}label{display:block;margin:.6rem 0}code{background:#f3f3f3}</style>
</head>
<body>
<h1>tlsgate probe</h1>
<p>A TLS probe exporter for Prometheus, compatible with blackbox_exporter.
Each <code>/probe</code> request probes one target and answers its metrics.</p>
<form action="probe" method="get">
<label>Target <input name="target" size="40" placeholder="api.example.com:443 or https://api.example.com/health" required></label>
<label>Module <select name="module">{{range .Modules}}<option>{{.}}</option>{{end}}</select></label>
<label><input type="checkbox" name="debug" value="true" checked> show the failure reason (debug)</label>
<button type="submit">Probe</button>
</form>
<p>Timeout: {{.Timeout}} (lowered by Prometheus's scrape timeout header).</p>
<ul>
<li><a href="metrics">/metrics</a>: the exporter's own metrics</li>
<li><a href="-/healthy">/-/healthy</a></li>
</ul>
</body>
</html>
`))

func (p *Prober) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := indexPage.Execute(w, struct {
		Modules []Module
		Timeout time.Duration
	}{Modules, p.timeout}); err != nil {
		p.log.Warn("rendering the index page", "err", err)
	}
}
