package server

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// scrape fetches and parses the gateway's /metrics.
func scrape(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("/metrics X-Content-Type-Options = %q, want nosniff", v)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value sums the samples of family whose labels include want.
func value(fams map[string]*dto.MetricFamily, family string, want map[string]string) float64 {
	f := fams[family]
	if f == nil {
		return 0
	}
	var sum float64
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			if labels[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func labelNames(fams map[string]*dto.MetricFamily, family string) string {
	f := fams[family]
	if f == nil || len(f.Metric) == 0 {
		return ""
	}
	var names []string
	for _, l := range f.Metric[0].Label {
		names = append(names, l.GetName())
	}
	return strings.Join(names, ",")
}

func TestMetricsAndStatusPage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "Metrics CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "site", ca.Issue(t, pkitest.Leaf{Names: []string{"metrics.example.com"}}))
	leaf := leafOf(t, certFile)
	clientCA := pkitest.NewCA(t, "Clients CA")
	clientCAFile := clientCA.WriteRoot(t, dir)
	client := clientCA.Issue(t, pkitest.Leaf{Names: []string{"billing"}, Client: true})
	up := backend(t, "api")
	dead := "http://" + testpeer.ClosedAddr(t)
	g := startGateway(t, fmt.Sprintf(`
listen: {https: "127.0.0.1:0", http: "off"}
admin: {listen: "127.0.0.1:0"}
sites:
  - hosts: [metrics.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    client_auth: {ca: [%s]}
    routes:
      - {path: /, upstreams: ["%s"]}
      - {path: /internal/, upstreams: ["%s"], client_auth: require}
      - {path: /dead/, upstreams: ["%s"]}
`, certFile, keyFile, clientCAFile, up, up, dead))
	admin := g.srv.AdminAddr().String()

	before := scrape(t, admin)
	// The certificate's expiry, exactly.
	if got := value(before, "tlsgate_certificate_not_after_timestamp_seconds", map[string]string{"name": "metrics.example.com", "source": "files", "issuer": "Metrics CA"}); got != float64(leaf.NotAfter.Unix()) {
		t.Errorf("not_after gauge %v, want %d", got, leaf.NotAfter.Unix())
	}
	if got := labelNames(before, "tlsgate_certificate_not_after_timestamp_seconds"); got != "issuer,name,serial,site,source" {
		t.Errorf("not_after labels %s", got)
	}

	// 3 full handshakes (one request each), then 2 resumed ones.
	roots := ca.Pool()
	cache := tls.NewLRUClientSessionCache(4)
	get := func(path string, cert *tls.Certificate) (int, *tls.ConnectionState) {
		cfg := &tls.Config{ServerName: "metrics.example.com", RootCAs: roots, ClientSessionCache: cache}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
			cfg.ClientSessionCache = nil
		}
		tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+g.https+path, nil)
		req.Host = "metrics.example.com"
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.TLS
	}
	resumed := 0
	get0 := get
	get = func(path string, cert *tls.Certificate) (int, *tls.ConnectionState) {
		s, cs := get0(path, cert)
		if cs.DidResume {
			resumed++
		}
		return s, cs
	}
	for range 5 {
		get("/hello", nil)
	}
	if resumed == 0 {
		t.Fatal("no session was resumed")
	}
	if s, _ := get("/internal/x", client); s != 200 {
		t.Fatalf("mTLS request: %d", s)
	}
	if s, _ := get("/internal/x", nil); s != 403 {
		t.Fatalf("mTLS request without a certificate: %d", s)
	}
	if s, _ := get("/dead/x", nil); s != 502 {
		t.Fatalf("dead upstream: %d", s)
	}
	// Failures: an unknown name, and bytes that are not TLS (net/http
	// answers plain HTTP itself, without a handshake error).
	if _, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "other.example.com", InsecureSkipVerify: true}); err == nil {
		t.Fatal("unknown SNI accepted")
	}
	if c, err := net.Dial("tcp", g.https); err == nil {
		fmt.Fprintf(c, "hello, is this TLS?\r\n\r\n")
		io.Copy(io.Discard, c)
		c.Close()
	}

	// The server logs (and so counts) a failed handshake just after the
	// client saw it fail: wait, bounded, for both failures to arrive.
	after := scrape(t, admin)
	failures := func() float64 {
		return value(after, "tlsgate_tls_handshake_failures_total", nil) - value(before, "tlsgate_tls_handshake_failures_total", nil)
	}
	for deadline := time.Now().Add(5 * time.Second); failures() < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		after = scrape(t, admin)
	}
	delta := func(family string, labels map[string]string) float64 {
		return value(after, family, labels) - value(before, family, labels)
	}
	site := map[string]string{"site": "metrics.example.com"}
	if d := delta("tlsgate_tls_handshakes_total", site); d != 8 {
		t.Errorf("handshakes moved by %v, want 8 (5 + mTLS 2 + dead 1)", d)
	}
	if d := delta("tlsgate_tls_handshakes_total", map[string]string{"resumed": "true"}); d != float64(resumed) {
		t.Errorf("resumed handshakes moved by %v, want %d", d, resumed)
	}
	if d := delta("tlsgate_tls_handshakes_total", map[string]string{"version": "TLS 1.3", "group": "X25519MLKEM768", "alpn": "none"}); d < 1 {
		t.Errorf("no TLS 1.3 X25519MLKEM768 handshakes counted: labels %s", labelNames(after, "tlsgate_tls_handshakes_total"))
	}
	if got := labelNames(after, "tlsgate_tls_handshakes_total"); got != "alpn,cipher,group,resumed,site,version" {
		t.Errorf("handshake labels %s", got)
	}
	for reason, want := range map[string]float64{"unknown_sni": 1, "not_tls": 1} {
		if d := delta("tlsgate_tls_handshake_failures_total", map[string]string{"reason": reason}); d != want {
			t.Errorf("handshake failures %s moved by %v, want %v", reason, d, want)
		}
	}
	for result, want := range map[string]float64{"success": 1, "no certificate": 1} {
		if d := delta("tlsgate_client_cert_verifications_total", map[string]string{"route": "/internal/", "result": result}); d != want {
			t.Errorf("client cert %q moved by %v, want %v", result, d, want)
		}
	}
	if v := value(after, "tlsgate_client_cert_earliest_expiry_timestamp_seconds", map[string]string{"issuer": "CN=Clients CA"}); v != float64(client.Leaf.NotAfter.Unix()) {
		t.Errorf("client cert earliest expiry %v, want %d", v, client.Leaf.NotAfter.Unix())
	}
	if d := delta("tlsgate_http_requests_total", map[string]string{"route": "/", "method": "GET", "code": "2xx"}); d != 5 {
		t.Errorf("requests / GET 2xx moved by %v, want 5", d)
	}
	if d := delta("tlsgate_http_request_duration_seconds", map[string]string{"route": "/internal/"}); d != 2 {
		t.Errorf("latency observations on /internal/ moved by %v, want 2", d)
	}
	if d := delta("tlsgate_upstream_errors_total", map[string]string{"route": "/dead/", "kind": "connect"}); d != 1 {
		t.Errorf("upstream connect errors moved by %v, want 1", d)
	}
	if v := value(after, "tlsgate_upstream_up", map[string]string{"route": "/dead/"}); v != 0 {
		t.Errorf("dead upstream up=%v", v)
	}
	if v := value(after, "tlsgate_upstream_up", map[string]string{"route": "/"}); v != 1 {
		t.Errorf("live upstream up=%v", v)
	}
	if after["go_goroutines"] == nil || after["process_cpu_seconds_total"] == nil {
		t.Error("no Go runtime or process metrics")
	}

	// The status page and its JSON.
	for _, path := range []string{"/", "/status.json"} {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "metrics.example.com") {
			t.Errorf("%s: %d\n%.400s", path, resp.StatusCode, body)
		}
		if strings.Contains(string(body), "PRIVATE KEY") {
			t.Errorf("%s shows a private key", path)
		}
		if path == "/status.json" {
			var snap struct {
				Certificates       []struct{ Name string }
				ClientCertFailures []struct{ Reason string } `json:"client_cert_failures"`
			}
			if err := json.Unmarshal(body, &snap); err != nil || len(snap.Certificates) != 1 || len(snap.ClientCertFailures) != 1 {
				t.Errorf("status.json: %v %+v", err, snap)
			}
		}
	}
	for _, path := range []string{"/metrics"} {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "PRIVATE KEY") || strings.Contains(string(body), keyFile) {
			t.Errorf("%s exposes key material or paths", path)
		}
	}
}
