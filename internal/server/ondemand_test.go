package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/acme/ondemand"
	"github.com/tlsgate/tlsgate/internal/metrics"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// On-demand TLS against a real CA: Pebble validates every name through
// the gateway's own listeners (its DNS answers 127.0.0.1 for any name),
// and the ask endpoint is a real HTTP server on loopback. What reached
// the CA is read from Pebble's own log (testpeer.Pebble.Orders).

// askServer is an on-demand ask endpoint that counts its requests.
type askServer struct {
	srv   *httptest.Server
	allow func(name string) bool

	mu    sync.Mutex
	asked map[string]int
}

func newAskServer(t *testing.T, allow func(string) bool) *askServer {
	t.Helper()
	a := &askServer{allow: allow, asked: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("domain")
		a.mu.Lock()
		a.asked[name]++
		a.mu.Unlock()
		if !a.allow(name) {
			http.Error(w, "not a customer", http.StatusForbidden)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *askServer) count(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asked[name]
}

func (a *askServer) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.asked {
		n += c
	}
	return n
}

type onDemandEnv struct {
	g      *gateway
	pebble *testpeer.Pebble
	ask    *askServer
	roots  *x509.CertPool
	yaml   string
}

// startOnDemand starts Pebble, an ask endpoint allowing what allow
// allows, and a gateway whose catch-all site ("*") gets certificates on
// demand with the on_demand keys in extra (", key: value ...").
func startOnDemand(t *testing.T, allow func(string) bool, extra string) *onDemandEnv {
	t.Helper()
	dir := t.TempDir()
	httpsPort, httpPort := testpeer.FreePort(t), testpeer.FreePort(t)
	p := testpeer.StartPebble(t, dir, testpeer.PebbleOptions{HTTPPort: httpPort, TLSPort: httpsPort,
		Profiles: map[string]time.Duration{"default": 90 * 24 * time.Hour}})
	ask := newAskServer(t, allow)
	up := backend(t, "customer-app")
	yaml := fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:%d", http: "127.0.0.1:%d"}
admin: {listen: "127.0.0.1:0"}
acme:
  directory: %s
  email: ondemand-%d@example.com
  ca_roots: [%s]
sites:
  - hosts: ["*"]
    tls:
      certificate:
        source: acme
        acme: {profile: default, challenges: [http-01], on_demand: {ask: "%s/check"%s}}
    routes: [{upstreams: ["%s"]}]
  - hosts: [localhost]
    routes: [{upstreams: ["%s"]}]
`, filepath.Join(dir, "data"), httpsPort, httpPort, p.Directory, time.Now().UnixNano(), p.APICAFile,
		ask.srv.URL, extra, up, up)
	g := startGateway(t, yaml)
	return &onDemandEnv{g: g, pebble: p, ask: ask, roots: p.IssuerRoots(t), yaml: yaml}
}

// handshake connects as a client of name that trusts Pebble's issuing
// root. The first handshake of an allowed name waits for its order.
func (e *onDemandEnv) handshake(name string) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 60 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", e.g.https, &tls.Config{ServerName: name, RootCAs: e.roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func (e *onDemandEnv) metric(t *testing.T, family string, labels map[string]string) float64 {
	t.Helper()
	return value(scrape(t, e.g.srv.AdminAddr().String()), family, labels)
}

// refusedAlert checks that a handshake was refused with a TLS alert
// (internal_error: GetCertificate failed), not a timeout or a reset.
func refusedAlert(t *testing.T, name string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("%s: want a handshake refused with an internal_error alert, got %v", name, err)
	}
}

// TestOnDemandIssues: an allowed name gets its certificate during its
// first handshake, one order and one ask; later handshakes are served
// from the cache; the connection serves its own name only.
func TestOnDemandIssues(t *testing.T) {
	t.Parallel()
	e := startOnDemand(t, func(string) bool { return true }, "")
	const name = "shop.issues.example.com"
	leaf, err := e.handshake(name)
	if err != nil {
		t.Fatalf("first handshake of an allowed name: %v\nlogs:\n%s", err, e.g.logs)
	}
	if !slicesContain(leaf.DNSNames, name) {
		t.Fatalf("certificate names %v, want %s", leaf.DNSNames, name)
	}
	again, err := e.handshake(name)
	if err != nil || again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("second handshake: %v, serial %v, want the first certificate", err, again)
	}
	if n := e.pebble.Orders(t); n != 1 {
		t.Errorf("Pebble accepted %d orders, want 1", n)
	}
	if n := e.ask.count(name); n != 1 {
		t.Errorf("the ask endpoint was asked %d times, want 1", n)
	}

	// Through to the upstream with Host = SNI; another Host on the same
	// connection is not served (421), whatever the catch-all.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: name, RootCAs: e.roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.g.https)
		}}}
	for host, want := range map[string]int{name: http.StatusOK, "other.issues.example.com": http.StatusMisdirectedRequest} {
		req, _ := http.NewRequest("GET", "https://"+name+"/", nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s on a connection for %s: status %d, want %d", host, name, resp.StatusCode, want)
		}
	}
	// The plain-HTTP listener redirects a name the catch-all holds.
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]int{name: http.StatusMovedPermanently, "unknown.issues.example.com": http.StatusMisdirectedRequest} {
		req, _ := http.NewRequest("GET", "http://"+e.g.http+"/x", nil)
		req.Host = host
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("plain HTTP for %s: status %d, want %d", host, resp.StatusCode, want)
		}
	}

	site := map[string]string{"site": "*"}
	for _, m := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"tlsgate_acme_on_demand_asks_total", map[string]string{"result": "allowed"}, 1},
		{"tlsgate_acme_on_demand_allowed_total", map[string]string{"kind": "new"}, 1},
		{"tlsgate_acme_on_demand_orders_total", map[string]string{"result": "success"}, 1},
		{"tlsgate_acme_on_demand_refused_total", nil, 0},
	} {
		labels := map[string]string{"site": site["site"]}
		for k, v := range m.labels {
			labels[k] = v
		}
		if got := e.metric(t, m.family, labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.family, m.labels, got, m.want)
		}
	}
}

// TestOnDemandRefusedName: a name the ask endpoint refuses gets a TLS
// alert and no order reaches the CA; asked again within refusal_cache,
// the endpoint is not asked again.
func TestOnDemandRefusedName(t *testing.T) {
	t.Parallel()
	e := startOnDemand(t, func(name string) bool { return !strings.HasPrefix(name, "denied") }, ", refusal_cache: 1h")
	const name = "denied.refused.example.com"
	for range 2 {
		_, err := e.handshake(name)
		refusedAlert(t, name, err)
	}
	if n := e.ask.count(name); n != 1 {
		t.Errorf("two handshakes within refusal_cache asked the endpoint %d times, want 1", n)
	}
	if n := e.pebble.Orders(t); n != 0 {
		t.Errorf("Pebble accepted %d orders for a refused name, want 0", n)
	}
	if n := e.pebble.Validations(t, name); n != 0 {
		t.Errorf("Pebble validated the refused name %d times", n)
	}
	if got := e.metric(t, "tlsgate_acme_on_demand_refused_total", map[string]string{"site": "*", "reason": "ask_denied"}); got != 1 {
		t.Errorf("refused{ask_denied} = %v, want 1", got)
	}
	if got := e.metric(t, "tlsgate_acme_on_demand_refused_total", map[string]string{"site": "*", "reason": "cached_refusal"}); got != 1 {
		t.Errorf("refused{cached_refusal} = %v, want 1", got)
	}
	// A reload that keeps the site keeps what its gate remembers.
	if err := e.g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	_, err := e.handshake(name)
	refusedAlert(t, name+" after a reload", err)
	if n := e.ask.count(name); n != 1 {
		t.Errorf("after a reload the endpoint was asked again (%d times): the refusal cache was lost", n)
	}
	// Another, allowed name of the same site still gets its certificate.
	if _, err := e.handshake("welcome.refused.example.com"); err != nil {
		t.Fatalf("an allowed name after a refused one: %v", err)
	}
	if n := e.pebble.Orders(t); n != 1 {
		t.Errorf("Pebble accepted %d orders, want 1 (the allowed name's)", n)
	}
}

// burst hands n new names (prefix-NNN) to the gateway from that many
// clients at once, each handshake bounded by timeout, and sorts the outcomes.
type burstResult struct {
	ok, refused, timedOut, other int
	firstOther                   error
	slowestRefusal               time.Duration
}

func (e *onDemandEnv) burst(prefix string, n, clients int, timeout time.Duration) burstResult {
	var (
		mu   sync.Mutex
		r    burstResult
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				name := fmt.Sprintf("%s-%03d.burst.example.com", prefix, i)
				start := time.Now()
				d := &net.Dialer{Timeout: timeout}
				c, err := tls.DialWithDialer(d, "tcp", e.g.https, &tls.Config{ServerName: name, RootCAs: e.roots})
				took := time.Since(start)
				if err == nil {
					c.Close()
				}
				var ne net.Error
				mu.Lock()
				switch {
				case err == nil:
					r.ok++
				case strings.Contains(err.Error(), "internal error"):
					r.refused++
					r.slowestRefusal = max(r.slowestRefusal, took)
				case errors.As(err, &ne) && ne.Timeout():
					r.timedOut++
				default:
					r.other++
					if r.firstOther == nil {
						r.firstOther = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return r
}

// TestOnDemandBurst: 200 new names, all allowed by the ask endpoint,
// arrive in two bursts of 100. First with the CA frozen: max_concurrent
// orders start and wait, every other name is refused at once for
// concurrency, and the CA sees exactly max_concurrent orders once it
// runs again. Then with the CA running: orders stop at rate.orders, the
// other names are refused for rate. Names refused for limits are not
// asked about.
func TestOnDemandBurst(t *testing.T) {
	t.Parallel()
	const rateOrders, maxConcurrent = 5, 2
	e := startOnDemand(t, func(string) bool { return true },
		fmt.Sprintf(", rate: {orders: %d, per: 1h}, max_concurrent: %d", rateOrders, maxConcurrent))
	site := func(labels ...string) map[string]string {
		m := map[string]string{"site": "*"}
		for i := 0; i+1 < len(labels); i += 2 {
			m[labels[i]] = labels[i+1]
		}
		return m
	}

	e.pebble.Pause(t)
	began := time.Now()
	r := e.burst("frozen", 100, 20, 3*time.Second)
	t.Logf("CA frozen, 100 names in %v: %d refused (slowest %v), %d waiting for their order (client timeout), %d certified, %d other",
		time.Since(began).Round(time.Millisecond), r.refused, r.slowestRefusal.Round(time.Millisecond), r.timedOut, r.ok, r.other)
	if r.timedOut != maxConcurrent || r.refused != 100-maxConcurrent || r.other != 0 {
		t.Errorf("want %d handshakes waiting for their order and %d refused with an alert; got %d waiting, %d refused, %d other (first: %v)",
			maxConcurrent, 100-maxConcurrent, r.timedOut, r.refused, r.other, r.firstOther)
	}
	if got := e.metric(t, "tlsgate_acme_on_demand_refused_total", site("reason", "concurrency")); got != 100-maxConcurrent {
		t.Errorf("refused{concurrency} = %v, want %d", got, 100-maxConcurrent)
	}
	e.pebble.Resume(t)
	deadline := time.Now().Add(90 * time.Second)
	for e.metric(t, "tlsgate_acme_on_demand_orders_total", site("result", "success")) < maxConcurrent {
		if time.Now().After(deadline) {
			t.Fatalf("the %d orders started while the CA was frozen did not finish\nlogs:\n%s", maxConcurrent, e.g.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := e.pebble.Orders(t); n != maxConcurrent {
		t.Errorf("after the frozen burst Pebble accepted %d orders, want max_concurrent = %d", n, maxConcurrent)
	}

	began = time.Now()
	// One client: each order ends before the next name comes, so the
	// rate, not the concurrency, is what binds.
	r2 := e.burst("running", 100, 1, 60*time.Second)
	pebbleOrders := e.pebble.Orders(t)
	t.Logf("CA running, 100 names in %v: %d certified, %d refused (slowest %v), %d other; Pebble accepted %d orders in all; %d asks in all",
		time.Since(began).Round(time.Millisecond), r2.ok, r2.refused, r2.slowestRefusal.Round(time.Millisecond), r2.other, pebbleOrders, e.ask.total())
	if r2.other+r2.timedOut > 0 {
		t.Errorf("%d handshakes failed otherwise than with an alert; first: %v", r2.other+r2.timedOut, r2.firstOther)
	}
	if pebbleOrders > rateOrders {
		t.Errorf("Pebble accepted %d orders for 200 names, more than rate.orders = %d", pebbleOrders, rateOrders)
	}
	if r2.ok != rateOrders-maxConcurrent {
		t.Errorf("%d names certified in the second burst, want the %d the rate has left", r2.ok, rateOrders-maxConcurrent)
	}
	fams := scrape(t, e.g.srv.AdminAddr().String())
	allowed := value(fams, "tlsgate_acme_on_demand_allowed_total", site("kind", "new"))
	rate := value(fams, "tlsgate_acme_on_demand_refused_total", site("reason", "rate_limited"))
	conc := value(fams, "tlsgate_acme_on_demand_refused_total", site("reason", "concurrency"))
	success := value(fams, "tlsgate_acme_on_demand_orders_total", site("result", "success"))
	t.Logf("metrics: allowed{new} %v, refused{rate_limited} %v, refused{concurrency} %v, orders{success} %v", allowed, rate, conc, success)
	if allowed != rateOrders || rate != 100-(rateOrders-maxConcurrent) || conc != 100-maxConcurrent || success != allowed {
		t.Errorf("metrics: allowed{new} %v (want %d), refused{rate_limited} %v (want %d), refused{concurrency} %v (want %d), orders{success} %v (want %d)",
			allowed, rateOrders, rate, 100-(rateOrders-maxConcurrent), conc, 100-maxConcurrent, success, rateOrders)
	}
	// Limits are checked before asking, so a flood is not passed on to
	// the ask endpoint; only names that raced for the last free slot
	// were asked in vain.
	if n := e.ask.total(); n >= 100 {
		t.Errorf("the ask endpoint was asked %d times for 200 names: names refused for limits should not be asked", n)
	}
}

// TestOnDemandAskDown: with the ask endpoint down, a new name fails
// closed (alert, no order) while a name already held keeps being served,
// from the cache and, after a restart, from storage.
func TestOnDemandAskDown(t *testing.T) {
	t.Parallel()
	e := startOnDemand(t, func(string) bool { return true }, "")
	const held = "held.down.example.com"
	first, err := e.handshake(held)
	if err != nil {
		t.Fatalf("certifying %s: %v", held, err)
	}
	e.ask.srv.Close()

	_, err = e.handshake("new.down.example.com")
	refusedAlert(t, "new name, ask endpoint down", err)
	if leaf, err := e.handshake(held); err != nil || leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("held name while the ask endpoint is down: %v", err)
	}
	if err := e.g.stop(); err != nil {
		t.Fatal(err)
	}
	e.g = startGateway(t, e.yaml)
	if leaf, err := e.handshake(held); err != nil || leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("held name after a restart, ask endpoint down: %v\nlogs:\n%s", err, e.g.logs)
	}
	_, err = e.handshake("new2.down.example.com")
	refusedAlert(t, "new name after restart, ask endpoint down", err)
	if n := e.pebble.Orders(t); n != 1 {
		t.Errorf("Pebble accepted %d orders, want 1 (the held name's)", n)
	}
	if got := e.metric(t, "tlsgate_acme_on_demand_refused_total", map[string]string{"site": "*", "reason": "ask_error"}); got != 1 {
		t.Errorf("refused{ask_error} after the restart = %v, want 1", got)
	}
	if got := e.metric(t, "tlsgate_acme_on_demand_allowed_total", map[string]string{"site": "*", "kind": "held"}); got != 1 {
		t.Errorf("allowed{held} after the restart = %v, want 1 (loaded from storage)", got)
	}
}

// TestOnDemandBackoff: a name whose order fails (its DNS answers
// SERVFAIL, so the CA cannot validate it) is refused until its back-off
// ends: no second order for it reaches the CA.
func TestOnDemandBackoff(t *testing.T) {
	t.Parallel()
	e := startOnDemand(t, func(string) bool { return true }, ", backoff: {initial: 1h, max: 2h}")
	const name = "broken.backoff.example.com"
	e.pebble.ServFail(t, name)
	_, err := e.handshake(name)
	refusedAlert(t, "first handshake of a name the CA cannot validate", err)
	orders := e.pebble.Orders(t)
	t.Logf("the failed attempt made %d order(s); Pebble validated the name %d time(s)", orders, e.pebble.Validations(t, name))
	if orders < 1 {
		t.Fatalf("the failed attempt made no order (Pebble log):\n%s", e.pebble.Log(t))
	}
	for range 3 {
		_, err := e.handshake(name)
		refusedAlert(t, "handshake within the back-off", err)
	}
	if n := e.pebble.Orders(t); n != orders {
		t.Errorf("Pebble accepted %d orders, %d after the first attempt: the back-off let another through", n, orders)
	}
	if n := e.ask.count(name); n != 1 {
		t.Errorf("asked %d times for %s, want 1 (the back-off refuses before asking)", n, name)
	}
	if got := e.metric(t, "tlsgate_acme_on_demand_refused_total", map[string]string{"site": "*", "reason": "backoff"}); got != 3 {
		t.Errorf("refused{backoff} = %v, want 3", got)
	}
	if got := e.metric(t, "tlsgate_acme_on_demand_orders_total", map[string]string{"site": "*", "result": "failure"}); got < 1 {
		t.Errorf("orders{failure} = %v, want >= 1", got)
	}
	if !strings.Contains(e.g.logs.String(), "on-demand certificate request failed") {
		t.Errorf("no log line for the failed order")
	}
}

// TestOnDemandReasonsMatch: the refusal reasons the metrics pre-create
// and document are the gate's, all of them.
func TestOnDemandReasonsMatch(t *testing.T) {
	var gate []string
	for _, r := range ondemand.Reasons {
		gate = append(gate, string(r))
	}
	if !slices.Equal(gate, metrics.OnDemandReasons) {
		t.Errorf("ondemand.Reasons %v != metrics.OnDemandReasons %v", gate, metrics.OnDemandReasons)
	}
}

// TestOnDemandRefusesNonHostnameSNI: an SNI that is not a DNS host name
// in A-label form (a wildcard, "*", a name certmagic would rewrite by
// IDNA mapping or trimming spaces, one with a port) is refused before
// the ask endpoint is asked: it must not be asked, nor an order made,
// for a name that is not the one the client sent, nor for a wildcard.
// (Such an order's slot was never given back: with max_concurrent: 1
// one handshake stopped every new name for 4 minutes.)
func TestOnDemandRefusesNonHostnameSNI(t *testing.T) {
	t.Parallel()
	e := startOnDemand(t, func(string) bool { return true }, ", max_concurrent: 1")
	for _, sni := range []string{
		"*.wild.example.com",
		"*",
		"bücher.idn.example.com",  // certmagic asks for xn--bcher-kva.idn.example.com
		"ｆｕｌｌ.idn.example.com",    // fullwidth: IDNA maps it to full.idn.example.com
		"spaced.example.com ",     // certmagic trims the space
		"port.example.com:443",    // not a host name
		"under_score.example.com", // not a host name a CA certifies
		strings.Repeat("a", 64) + ".example.com",
		strings.Repeat("abcdefgh.", 40) + "example.com", // 371 characters: each kept in the refusal cache
	} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", e.g.https,
			&tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Errorf("SNI %q: handshake succeeded, want refused", sni)
			continue
		}
		refusedAlert(t, sni, err)
	}
	e.ask.mu.Lock()
	asked := maps.Clone(e.ask.asked)
	e.ask.mu.Unlock()
	if len(asked) != 0 {
		t.Errorf("the ask endpoint was asked about names no client sent as a host name: %v", asked)
	}
	if n := e.pebble.Orders(t); n != 0 {
		t.Errorf("Pebble accepted %d orders for SNI values that are not host names, want 0", n)
	}
	// An upper-case spelling of a host name is that host name, and it
	// gets the one slot of max_concurrent.
	if _, err := e.handshake("UPPER.Case.Example.COM"); err != nil {
		t.Fatalf("upper-case SNI after the refused ones: %v", err)
	}
	if n := e.ask.count("upper.case.example.com"); n != 1 {
		t.Errorf("upper-case SNI asked %d times as upper.case.example.com, want 1", n)
	}
}

// TestReverseNameSNIServesNoOtherSite: a handshake that looks like a
// tls-alpn-01 validation of an address (SNI 1.0.0.127.in-addr.arpa,
// ALPN acme-tls/1 alone) is set up by the address's site. When that site
// cannot answer tls-alpn-01 (its certificate is not from ACME), the
// client must not get a connection of that site's certificate and TLS
// policy on which the catch-all site, chosen by the SNI, serves requests.
func TestReverseNameSNIServesNoOtherSite(t *testing.T) {
	t.Parallel()
	e := startOnDemand(t, func(string) bool { return true }, "")
	withIP := strings.Replace(e.yaml, "hosts: [localhost]", `hosts: [localhost, "127.0.0.1"]`, 1)
	if withIP == e.yaml {
		t.Fatal("the config of startOnDemand changed: no localhost site to add the address to")
	}
	if err := os.WriteFile(e.g.configPath, []byte(withIP), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	const sni = "1.0.0.127.in-addr.arpa"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", e.g.https,
		&tls.Config{ServerName: sni, NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true})
	if err != nil {
		return // refused: nothing is served
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sni)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return // closed without an answer
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a connection made with the 127.0.0.1 site's certificate %v (ALPN %q) served %s: %d %s",
			c.ConnectionState().PeerCertificates[0].Subject, c.ConnectionState().NegotiatedProtocol, sni, resp.StatusCode, body)
	}
}
