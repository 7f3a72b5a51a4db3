package probe_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/probe"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// sample is one parsed series.
type sample struct {
	labels map[string]string
	value  float64
}

// family is one parsed metric family.
type family struct {
	typ, help string
	samples   []sample
}

// result is a parsed probe answer.
type result struct {
	families map[string]family
	body     string
}

// probeURL probes through exporter (a running probe.Handler) and parses
// the answer with expfmt, failing the test on anything but 200.
func probeURL(t *testing.T, exporter string, q url.Values, header http.Header) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, exporter+"/probe?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /probe?%s: %s\n%s", q.Encode(), resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing the probe answer: %v\n%s", err, body)
	}
	r := result{families: map[string]family{}, body: string(body)}
	for name, mf := range mfs {
		f := family{typ: mf.GetType().String(), help: mf.GetHelp()}
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetUntyped() != nil:
				s.value = m.GetUntyped().GetValue()
			}
			f.samples = append(f.samples, s)
		}
		r.families[name] = f
	}
	return r
}

// value returns the one series of name, failing if there is not exactly one.
func (r result) value(t *testing.T, name string) float64 {
	t.Helper()
	return r.series(t, name).value
}

func (r result) series(t *testing.T, name string) sample {
	t.Helper()
	f, ok := r.families[name]
	if !ok || len(f.samples) != 1 {
		t.Fatalf("want one series of %s, got %d in:\n%s", name, len(f.samples), r.body)
	}
	return f.samples[0]
}

func (r result) has(name string) bool { _, ok := r.families[name]; return ok }

// exporter starts a probe exporter on loopback with cfg and returns its URL.
func exporter(t *testing.T, cfg probe.Config) string {
	t.Helper()
	srv := httptest.NewServer(probe.New(cfg).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// tlsServer starts a Go HTTPS server on 127.0.0.1 with cert and returns
// its port. tweak, if set, adjusts the server before it starts.
func tlsServer(t *testing.T, cert *tls.Certificate, h http.Handler, tweak func(*httptest.Server)) string {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	// Probes that reject the certificate make the server log handshake
	// errors: expected here.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tweak != nil {
		tweak(srv)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

func query(target string, module probe.Module) url.Values {
	return url.Values{"target": {target}, "module": {string(module)}}
}

// fnvHash is probe_ip_addr_hash for ip, computed independently.
func fnvHash(ip net.IP) float64 {
	h := fnv.New32a()
	h.Write(ip.To4())
	return float64(h.Sum32())
}

func TestProbeGoodEndpoint(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "probe test CA")
	// The leaf outlives its CA, so the presented chain's earliest expiry
	// (the leaf: only it is sent) and the verified chain's (the CA)
	// differ, and each metric is seen to use the right one.
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"localhost", "127.0.0.1"}, NotAfter: time.Now().Add(90 * 24 * time.Hour)})
	lastModified := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			http.Redirect(w, r, "/b", http.StatusFound)
		case "/b":
			http.Redirect(w, r, "/health", http.StatusFound)
		default:
			w.Header().Set("Last-Modified", lastModified.Format(http.TimeFormat))
			w.Header().Set("Content-Length", "3")
			io.WriteString(w, "ok\n")
		}
	})
	h1 := tlsServer(t, leaf, h, nil)
	h2 := tlsServer(t, leaf, h, func(s *httptest.Server) { s.EnableHTTP2 = true })
	exp := exporter(t, probe.Config{Roots: ca.Pool()})

	sum := sha256.Sum256(leaf.Leaf.Raw)
	wantInfo := map[string]string{
		"fingerprint_sha256": hex.EncodeToString(sum[:]),
		"subject":            "CN=localhost",
		"issuer":             "CN=probe test CA",
		"subjectalternative": "localhost",
		"serialnumber":       fmt.Sprintf("%x", leaf.Leaf.SerialNumber.Bytes()),
	}
	cases := []struct {
		name         string
		target       string
		module       probe.Module
		httpVersion  float64
		redirects    float64
		lastModified bool
	}{
		{"http_2xx host:port", "localhost:" + h1, probe.HTTP2xx, 1.1, 0, true},
		{"http_2xx URL with redirects", "https://localhost:" + h1 + "/a", probe.HTTP2xx, 1.1, 2, true},
		{"http_2xx HTTP/2", "https://127.0.0.1:" + h2 + "/health", probe.HTTP2xx, 2, 0, true},
		{"tcp_tls", "localhost:" + h1, probe.TCPTLS, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := probeURL(t, exp, query(tc.target, tc.module), nil)
			if got := r.value(t, "probe_success"); got != 1 {
				t.Fatalf("probe_success %v, want 1:\n%s", got, r.body)
			}
			if got, want := r.value(t, "probe_ssl_earliest_cert_expiry"), float64(leaf.Leaf.NotAfter.Unix()); got != want {
				t.Errorf("probe_ssl_earliest_cert_expiry %v, want the leaf's NotAfter %v", got, want)
			}
			if got, want := r.value(t, "probe_ssl_last_chain_expiry_timestamp_seconds"), float64(ca.Cert.NotAfter.Unix()); got != want {
				t.Errorf("probe_ssl_last_chain_expiry_timestamp_seconds %v, want the CA's NotAfter %v", got, want)
			}
			if s := r.series(t, "probe_tls_version_info"); s.labels["version"] != "TLS 1.3" || s.value != 1 {
				t.Errorf("probe_tls_version_info %v, want version=TLS 1.3", s)
			}
			if s := r.series(t, "probe_ssl_last_chain_info"); fmt.Sprint(s.labels) != fmt.Sprint(wantInfo) || s.value != 1 {
				t.Errorf("probe_ssl_last_chain_info %v\nwant %v", s.labels, wantInfo)
			}
			if r.value(t, "probe_ip_protocol") != 4 || r.value(t, "probe_ip_addr_hash") != fnvHash(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("probe_ip_protocol/probe_ip_addr_hash wrong:\n%s", r.body)
			}
			if d := r.value(t, "probe_duration_seconds"); d <= 0 || d > 5 {
				t.Errorf("probe_duration_seconds %v", d)
			}
			r.value(t, "probe_dns_lookup_time_seconds")
			if s := r.series(t, "probe_tls_cipher_info"); !strings.HasPrefix(s.labels["cipher"], "TLS_") {
				t.Errorf("probe_tls_cipher_info %v", s.labels)
			}
			if tc.module == probe.TCPTLS {
				if r.has("probe_http_status_code") {
					t.Errorf("tcp_tls reports http metrics:\n%s", r.body)
				}
				return
			}
			for name, want := range map[string]float64{
				"probe_http_status_code":              200,
				"probe_http_ssl":                      1,
				"probe_http_version":                  tc.httpVersion,
				"probe_http_redirects":                tc.redirects,
				"probe_http_content_length":           3,
				"probe_http_uncompressed_body_length": 3,
			} {
				if got := r.value(t, name); got != want {
					t.Errorf("%s %v, want %v", name, got, want)
				}
			}
			if got := r.value(t, "probe_http_last_modified_timestamp_seconds"); got != float64(lastModified.Unix()) {
				t.Errorf("probe_http_last_modified_timestamp_seconds %v", got)
			}
			phases := map[string]bool{}
			for _, s := range r.families["probe_http_duration_seconds"].samples {
				phases[s.labels["phase"]] = true
				if s.value < 0 || s.value > 5 {
					t.Errorf("phase %s: %v s", s.labels["phase"], s.value)
				}
			}
			if len(phases) != 5 || !phases["tls"] || !phases["transfer"] {
				t.Errorf("probe_http_duration_seconds phases %v", phases)
			}
		})
	}
}

// TestProbeMetricsAsBlackbox pins the names, types, help texts and label
// names of every metric to blackbox_exporter's, so that its alert rules
// and dashboards work unchanged.
func TestProbeMetricsAsBlackbox(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "probe test CA")
	port := tlsServer(t, ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	}), nil)
	r := probeURL(t, exporter(t, probe.Config{Roots: ca.Pool()}), query("127.0.0.1:"+port, probe.HTTP2xx), nil)
	want := map[string]string{
		"probe_success":                                 "Displays whether or not the probe was a success",
		"probe_duration_seconds":                        "Returns how long the probe took to complete in seconds",
		"probe_dns_lookup_time_seconds":                 "Returns the time taken for probe dns lookup in seconds",
		"probe_ip_protocol":                             "Specifies whether probe ip protocol is IP4 or IP6",
		"probe_ip_addr_hash":                            "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
		"probe_ssl_earliest_cert_expiry":                "Returns last SSL chain expiry in unixtime",
		"probe_ssl_last_chain_expiry_timestamp_seconds": "Returns last SSL chain expiry in timestamp",
		"probe_ssl_last_chain_info":                     "Contains SSL leaf certificate information",
		"probe_tls_version_info":                        "Returns the TLS version used or NaN when unknown",
		"probe_tls_cipher_info":                         "Returns the TLS cipher negotiated during handshake",
		"probe_http_status_code":                        "Response HTTP status code",
		"probe_http_ssl":                                "Indicates if SSL was used for the final redirect",
		"probe_http_version":                            "Returns the version of HTTP of the probe response",
		"probe_http_redirects":                          "The number of redirects",
		"probe_http_content_length":                     "Length of http content response",
		"probe_http_uncompressed_body_length":           "Length of uncompressed response body",
		"probe_http_duration_seconds":                   "Duration of http request by phase, summed over all redirects",
		"probe_http_last_modified_timestamp_seconds":    "Returns the Last-Modified HTTP response header in unixtime",
	}
	labels := map[string]string{
		"probe_ssl_last_chain_info":   "fingerprint_sha256,issuer,serialnumber,subject,subjectalternative",
		"probe_tls_version_info":      "version",
		"probe_tls_cipher_info":       "cipher",
		"probe_http_duration_seconds": "phase",
	}
	for name, help := range want {
		f, ok := r.families[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if f.typ != "GAUGE" || f.help != help {
			t.Errorf("%s: %s %q, want GAUGE %q", name, f.typ, f.help, help)
		}
		var names []string
		for k := range f.samples[0].labels {
			names = append(names, k)
		}
		if got := strings.Join(slices.Sorted(slices.Values(names)), ","); got != labels[name] {
			t.Errorf("%s labels %q, want %q", name, got, labels[name])
		}
	}
	for name := range r.families {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected metric %s", name)
		}
	}
}

func TestProbeVerificationFailures(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "probe test CA")
	other := pkitest.NewCA(t, "someone else's CA")
	expired := ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	expiredPort := tlsServer(t, expired, nil, nil)
	untrustedPort := tlsServer(t, other.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), nil, nil)
	wrongNamePort := tlsServer(t, ca.Issue(t, pkitest.Leaf{Names: []string{"api.example.com"}}), nil, nil)
	strict := exporter(t, probe.Config{Roots: ca.Pool()})
	insecure := exporter(t, probe.Config{Roots: ca.Pool(), InsecureSkipVerify: true})

	for _, module := range probe.BlackboxModules {
		for _, tc := range []struct {
			name, port string
		}{{"expired", expiredPort}, {"untrusted", untrustedPort}, {"wrong name", wrongNamePort}} {
			t.Run(string(module)+" "+tc.name, func(t *testing.T) {
				t.Parallel()
				target := "127.0.0.1:" + tc.port
				r := probeURL(t, strict, query(target, module), nil)
				if got := r.value(t, "probe_success"); got != 0 {
					t.Fatalf("probe_success %v, want 0", got)
				}
				// The presented chain is reported though it failed:
				// the point of probing it.
				if !r.has("probe_ssl_earliest_cert_expiry") || r.series(t, "probe_tls_version_info").labels["version"] != "TLS 1.3" {
					t.Errorf("the presented chain is not reported:\n%s", r.body)
				}
				if r.has("probe_ssl_last_chain_expiry_timestamp_seconds") {
					t.Errorf("a chain that did not verify has a last_chain expiry:\n%s", r.body)
				}
				if tc.name == "expired" {
					got := r.value(t, "probe_ssl_earliest_cert_expiry")
					if got != float64(expired.Leaf.NotAfter.Unix()) || got >= float64(time.Now().Unix()) {
						t.Errorf("probe_ssl_earliest_cert_expiry %v, want the past NotAfter %v", got, expired.Leaf.NotAfter.Unix())
					}
				}
				if module == probe.HTTP2xx && (r.value(t, "probe_http_status_code") != 0 || r.value(t, "probe_http_ssl") != 0) {
					t.Errorf("an HTTP request was made over an unverified connection:\n%s", r.body)
				}

				r = probeURL(t, insecure, query(target, module), nil)
				if got := r.value(t, "probe_success"); got != 1 {
					t.Fatalf("with InsecureSkipVerify: probe_success %v, want 1:\n%s", got, r.body)
				}
			})
		}
	}
}

// TestProbeTLS10 checks that an endpoint that speaks only TLS 1.0 is
// reported as such, by a Go server and by nginx with OpenSSL 3.
func TestProbeTLS10(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "probe test CA")
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}})
	exp := exporter(t, probe.Config{Roots: ca.Pool()})
	check := func(t *testing.T, target string) {
		t.Helper()
		for _, module := range probe.BlackboxModules {
			r := probeURL(t, exp, query(target, module), nil)
			if s := r.series(t, "probe_tls_version_info"); s.labels["version"] != "TLS 1.0" || s.value != 1 {
				t.Errorf("%s: probe_tls_version_info %v, want version=TLS 1.0\n%s", module, s.labels, r.body)
			}
			if got := r.value(t, "probe_success"); got != 1 {
				t.Errorf("%s: probe_success %v, want 1 (the chain verifies; the version is for alerts to judge)\n%s", module, got, r.body)
			}
		}
	}

	t.Run("go", func(t *testing.T) {
		t.Parallel()
		port := tlsServer(t, leaf, nil, func(s *httptest.Server) {
			s.TLS.MinVersion, s.TLS.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
		})
		check(t, "127.0.0.1:"+port)
	})

	t.Run("nginx", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		certFile, keyFile := pkitest.WriteFiles(t, dir, "leaf", leaf)
		addr := fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t))
		testpeer.StartNginx(t, dir, fmt.Sprintf(`
  server {
    listen %s ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    # OpenSSL 3 refuses TLS 1.0 below security level 0.
    ssl_protocols TLSv1;
    ssl_ciphers DEFAULT:@SECLEVEL=0;
    location / { return 200 "ok\n"; }
  }`, addr, certFile, keyFile), addr)
		check(t, addr)
	})
}

func TestProbeUnreachable(t *testing.T) {
	t.Parallel()
	exp := exporter(t, probe.Config{Timeout: 30 * time.Second})

	// A listener that accepts and never says a word: the handshake must
	// give up at the scrape timeout, not hang.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	for _, module := range probe.BlackboxModules {
		for _, tc := range []struct {
			name, target string
			within       time.Duration
		}{
			{"closed port", testpeer.ClosedAddr(t), time.Second},
			{"silent listener", silent.Addr().String(), 3 * time.Second},
			{"not a target", map[probe.Module]string{probe.TCPTLS: "127.0.0.1", probe.HTTP2xx: "ftp://127.0.0.1/"}[module], time.Second},
		} {
			t.Run(string(module)+" "+tc.name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				// Prometheus announces a 2 s scrape timeout: the probe
				// gets 1.5 s of it.
				r := probeURL(t, exp, query(tc.target, module), http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"2"}})
				took := time.Since(start)
				if got := r.value(t, "probe_success"); got != 0 {
					t.Fatalf("probe_success %v, want 0", got)
				}
				if took > tc.within {
					t.Errorf("took %s, want under %s", took, tc.within)
				}
				if r.has("probe_tls_version_info") {
					t.Errorf("TLS metrics without a handshake:\n%s", r.body)
				}
			})
		}
	}
}

func TestProbeHTTPStatus(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "probe test CA")
	port := tlsServer(t, ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}), nil)
	exp := exporter(t, probe.Config{Roots: ca.Pool()})
	r := probeURL(t, exp, query("https://127.0.0.1:"+port+"/", probe.HTTP2xx), nil)
	if r.value(t, "probe_success") != 0 || r.value(t, "probe_http_status_code") != 503 {
		t.Errorf("a 503 is not a failure with its status:\n%s", r.body)
	}
	// The chain verified, so the TLS metrics are all there.
	if r.value(t, "probe_http_ssl") != 1 || !r.has("probe_ssl_last_chain_expiry_timestamp_seconds") {
		t.Errorf("TLS metrics missing:\n%s", r.body)
	}
	r = probeURL(t, exp, query("https://127.0.0.1:"+port+"/loop", probe.HTTP2xx), nil)
	if r.value(t, "probe_success") != 0 || r.value(t, "probe_http_status_code") != 302 || r.value(t, "probe_http_redirects") != 11 {
		t.Errorf("a redirect loop is not stopped after 10 redirects:\n%s", r.body)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "probe test CA")
	port := tlsServer(t, ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), nil, nil)
	exp := exporter(t, probe.Config{Roots: ca.Pool()})
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(exp + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/", 200, `<form action="probe"`},
		{"/probe", 400, "Target parameter is missing"},
		{"/probe?target=127.0.0.1:1&module=icmp", 400, `Unknown module "icmp"`},
		{"/probe?target=127.0.0.1:" + port + "&debug=true", 200, "with module http_2xx, timeout 10s: success"},
		{"/probe?target=127.0.0.1:1&module=tcp_tls&debug=true", 200, "failure: dial tcp 127.0.0.1:1: connect: connection refused"},
		{"/-/healthy", 200, "Healthy"},
		{"/nothing", 404, ""},
	} {
		code, body := get(tc.path)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, want %d with %q:\n%s", tc.path, code, tc.code, tc.want, body)
		}
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`tlsgate_probes_total{module="http_2xx",result="success"} 1`,
		`tlsgate_probes_total{module="tcp_tls",result="failure"} 1`,
		`tlsgate_probe_duration_seconds_count{module="http_2xx"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// TestScrapeTimeoutHeader checks the timeout from Prometheus's header,
// through the debug output that states it.
func TestScrapeTimeoutHeader(t *testing.T) {
	t.Parallel()
	exp := exporter(t, probe.Config{Timeout: 5 * time.Second})
	for _, tc := range []struct {
		header string
		code   int
		want   string
	}{
		{"", 200, "timeout 5s"},
		{"3", 200, "timeout 2.5s"},
		{"30", 200, "timeout 5s"},
		{"0.4", 200, "timeout 200ms"},
		{"soon", 400, "is not a positive number of seconds"},
		{"-1", 400, "is not a positive number of seconds"},
	} {
		req, _ := http.NewRequest(http.MethodGet, exp+"/probe?module=tcp_tls&debug=true&target="+testpeer.ClosedAddr(t), nil)
		if tc.header != "" {
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("header %q: %d %q, want %d with %q", tc.header, resp.StatusCode, b, tc.code, tc.want)
		}
	}
}

// TestProbeDirect uses Probe without the handler, as a library.
func TestProbeDirect(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "probe test CA")
	port := tlsServer(t, ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}), nil, nil)
	p := probe.New(probe.Config{Roots: ca.Pool()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	if err := p.Probe(ctx, probe.TCPTLS, "127.0.0.1:"+port, reg); err != nil {
		t.Fatal(err)
	}
	err := p.Probe(ctx, probe.Module("smtp"), "127.0.0.1:"+port, prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), `unknown module "smtp"`) {
		t.Errorf("unknown module: %v", err)
	}
	// An untrusted chain fails with crypto/tls's own error type.
	err = probe.New(probe.Config{Roots: x509.NewCertPool()}).Probe(ctx, probe.TCPTLS, "127.0.0.1:"+port, prometheus.NewRegistry())
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("untrusted: %v, want a *tls.CertificateVerificationError", err)
	}
}

// TestProbeGrade: module tls_grade reports the scanner's grade; a site
// without HSTS is capped at A-, one with a year of HSTS is not.
func TestProbeGrade(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "grade CA")
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"localhost", "127.0.0.1"}})
	plain := tlsServer(t, leaf, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), nil)
	hsts := tlsServer(t, leaf, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}), nil)
	exp := exporter(t, probe.Config{Roots: ca.Pool()})
	grade := func(port string) (string, float64) {
		r := probeURL(t, exp, query("localhost:"+port, probe.TLSGrade), nil)
		if r.value(t, "probe_success") != 1 {
			t.Fatalf("tls_grade probe of %s failed", port)
		}
		s := r.series(t, "tlsgate_probe_grade")
		return s.labels["grade"], r.value(t, "tlsgate_probe_grade_value")
	}
	if g, v := grade(plain); g != "A-" || v != 5 {
		t.Errorf("without HSTS: grade %s (%v), want A- (5)", g, v)
	}
	if g, v := grade(hsts); v < 6 {
		t.Errorf("with HSTS: grade %s (%v), want A or better", g, v)
	}
	r := probeURL(t, exp, query("localhost:1", probe.TLSGrade), nil)
	if r.value(t, "probe_success") != 0 || r.has("tlsgate_probe_grade") {
		t.Error("an unreachable target: want probe_success 0 and no grade")
	}
}
