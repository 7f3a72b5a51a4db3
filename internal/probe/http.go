package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxRedirects is blackbox's limit: the 11th redirect is not followed and
// its 3xx status fails the probe.
const maxRedirects = 10

// targetURL turns an http_2xx target into a URL: host:port means
// https://host:port/, a URL must be https:// or http://.
func targetURL(target string) (*url.URL, error) {
	s := target
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("target %q: want host:port or an https:// URL", target)
	}
	return u, nil
}

// hop is one request of an http_2xx probe (the first, or one after a
// redirect). Its fields are guarded by httpRun.mu, as the transport's
// dialing goroutine writes them.
type hop struct {
	handshake handshake // if the hop dialed with TLS
	tls       bool      // the hop dialed with TLS

	resolve, connect, tlsTime time.Duration
	gotConn, firstByte, end   time.Time
}

// httpRun is the state of one http_2xx probe: the transport's dialer,
// round-tripper and trace hooks all record into the current hop.
type httpRun struct {
	p         *Prober
	transport *http.Transport
	firstHost string
	firstIP   net.IP

	mu   sync.Mutex
	hops []*hop
}

// update runs f on the current hop with mu held.
func (r *httpRun) update(f func(h *hop)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.hops) > 0 {
		f(r.hops[len(r.hops)-1])
	}
}

// RoundTrip starts a hop. Keep-alives are off, so every hop dials.
func (r *httpRun) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hops = append(r.hops, &hop{})
	r.mu.Unlock()
	return r.transport.RoundTrip(req)
}

// dial connects to addr, the first host at the address resolved (and
// reported) at the start, and completes a TLS handshake if useTLS.
func (r *httpRun) dial(ctx context.Context, addr string, useTLS bool) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip := r.firstIP
	if host != r.firstHost {
		var took time.Duration
		ip, took, err = lookup(ctx, host)
		r.update(func(h *hop) { h.resolve += took })
		if err != nil {
			return nil, err
		}
	}
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
	took := time.Since(start)
	r.update(func(h *hop) { h.connect += took })
	if err != nil || !useTLS {
		return conn, err
	}

	hs := new(handshake) // RoundTrip has started a hop, which update replaces this with
	r.update(func(h *hop) { h.tls = true; hs = &h.handshake })
	start = time.Now()
	tc := tls.Client(conn, r.p.tlsConfig(host, []string{"h2", "http/1.1"}, hs))
	err = tc.HandshakeContext(ctx)
	took = time.Since(start)
	r.update(func(h *hop) { h.tlsTime += took })
	if err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// probeHTTP is blackbox's http prober with its http_2xx module's
// defaults: GET, follow redirects, any 2xx is a success.
func (p *Prober) probeHTTP(ctx context.Context, target string, reg prometheus.Registerer) error {
	var (
		durations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "probe_http_duration_seconds",
			Help: "Duration of http request by phase, summed over all redirects",
		}, []string{"phase"})
		contentLength = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probe_http_content_length",
			Help: "Length of http content response",
		})
		bodyLength = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probe_http_uncompressed_body_length",
			Help: "Length of uncompressed response body",
		})
		redirectsGauge = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probe_http_redirects",
			Help: "The number of redirects",
		})
		isSSL = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probe_http_ssl",
			Help: "Indicates if SSL was used for the final redirect",
		})
		statusCode = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probe_http_status_code",
			Help: "Response HTTP status code",
		})
		httpVersion = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probe_http_version",
			Help: "Returns the version of HTTP of the probe response",
		})
		lastModified = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probe_http_last_modified_timestamp_seconds",
			Help: "Returns the Last-Modified HTTP response header in unixtime",
		})
	)
	reg.MustRegister(durations, contentLength, bodyLength, redirectsGauge, isSSL, statusCode, httpVersion)
	for _, phase := range []string{"resolve", "connect", "tls", "processing", "transfer"} {
		durations.WithLabelValues(phase)
	}

	u, err := targetURL(target)
	if err != nil {
		return err
	}
	ip, lookupSeconds, err := resolve(ctx, u.Hostname(), reg)
	durations.WithLabelValues("resolve").Add(lookupSeconds)
	if err != nil {
		return err
	}

	r := &httpRun{p: p, firstHost: u.Hostname(), firstIP: ip}
	r.transport = &http.Transport{
		Proxy:          nil, // probe the target, not a proxy named by the environment
		DialContext:    func(ctx context.Context, _, addr string) (net.Conn, error) { return r.dial(ctx, addr, false) },
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return r.dial(ctx, addr, true) },
		// A fresh connection per hop, so each hop's handshake is measured
		// and reported; and no Accept-Encoding, so the body length is the
		// length served.
		DisableKeepAlives:      true,
		DisableCompression:     true,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: 1 << 20,
	}
	defer r.transport.CloseIdleConnections()
	redirects := 0
	client := &http.Client{
		Transport: r,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			redirects = len(via)
			if redirects > maxRedirects {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	trace := &httptrace.ClientTrace{
		GotConn:              func(httptrace.GotConnInfo) { r.update(func(h *hop) { h.gotConn = time.Now() }) },
		GotFirstResponseByte: func() { r.update(func(h *hop) { h.firstByte = time.Now() }) },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	req.Header.Set("User-Agent", p.userAgent)

	var result error
	resp, err := client.Do(req)
	if err != nil {
		result = err
		resp = &http.Response{} // zero metrics, as blackbox reports them
	} else {
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.update(func(h *hop) { h.end = time.Now() })
		bodyLength.Set(float64(n))
		switch {
		case err != nil:
			result = fmt.Errorf("reading the response body: %w", err)
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			result = fmt.Errorf("%s answered %s, want 2xx", u.Redacted(), resp.Status)
		}
		if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
			reg.MustRegister(lastModified)
			lastModified.Set(float64(t.Unix()))
		}
		if v, err := strconv.ParseFloat(strings.TrimPrefix(resp.Proto, "HTTP/"), 64); err == nil {
			httpVersion.Set(v)
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hops {
		durations.WithLabelValues("resolve").Add(h.resolve.Seconds())
		durations.WithLabelValues("connect").Add(h.connect.Seconds())
		durations.WithLabelValues("tls").Add(h.tlsTime.Seconds())
		if !h.gotConn.IsZero() && !h.firstByte.IsZero() {
			durations.WithLabelValues("processing").Add(h.firstByte.Sub(h.gotConn).Seconds())
		}
		if !h.firstByte.IsZero() && !h.end.IsZero() {
			durations.WithLabelValues("transfer").Add(h.end.Sub(h.firstByte).Seconds())
		}
	}
	// TLS metrics describe the final hop: its response's connection, or,
	// if it failed, the handshake as far as it got.
	if n := len(r.hops); n > 0 && r.hops[n-1].tls {
		state, chains := r.hops[n-1].handshake.result()
		if resp.TLS != nil {
			state = resp.TLS
		}
		if state != nil {
			registerTLS(reg, state, chains)
		}
	}
	if resp.TLS != nil {
		isSSL.Set(1)
	}
	statusCode.Set(float64(resp.StatusCode))
	contentLength.Set(float64(resp.ContentLength))
	redirectsGauge.Set(float64(redirects))
	return result
}
