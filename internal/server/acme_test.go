package server

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/plan"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// These tests run the gateway against a real ACME CA: Pebble, on
// loopback, validating challenges against the gateway's own listeners.
// Pebble's nonce rejection (5% badNonce) stays on: the client must retry.

// Each test certifies its own name under example.com (Pebble's DNS,
// challtestsrv, answers 127.0.0.1 for all): certmagic keeps active
// challenges in a process-wide map by name, so parallel tests must not
// share one.

type acmeSetup struct {
	name       string // host to certify (a name under example.com, or a loopback IP)
	listen     string // the gateway's listen address; "" 127.0.0.1
	firstHost  string // a host listed before name, when set
	challenges string // YAML list body, e.g. "http-01"
	httpOff    bool
	profile    string // Pebble profile to order
	profiles   map[string]time.Duration
	opts       Options
	siteACME   string            // more keys for the site's acme: block, ", key: value..."
	eab        map[string]string // Pebble requires EAB with these keys
}

type acmeEnv struct {
	name   string
	yaml   string // the gateway's config
	opts   Options
	g      *gateway
	pebble *testpeer.Pebble
	dir    string
}

// startACME starts Pebble and a gateway whose site acmeName gets its
// certificate from it, plus an internal-CA site (localhost) that must
// serve whatever the ACME site's state.
func startACME(t *testing.T, s acmeSetup) *acmeEnv {
	t.Helper()
	dir := t.TempDir()
	listen := s.listen
	if listen == "" {
		listen = "127.0.0.1"
	}
	httpsPort := testpeer.FreePort(t)
	httpPort := 0
	httpListen := "off"
	if !s.httpOff {
		httpPort = testpeer.FreePort(t)
		httpListen = net.JoinHostPort(listen, fmt.Sprint(httpPort))
	}
	profiles := s.profiles
	if profiles == nil {
		profiles = map[string]time.Duration{"default": 90 * 24 * time.Hour}
	}
	p := testpeer.StartPebble(t, dir, testpeer.PebbleOptions{
		HTTPPort: httpPort, TLSPort: httpsPort, Profiles: profiles, EAB: s.eab})
	profile := s.profile
	if profile == "" {
		profile = "default"
	}
	challenges := ""
	if s.challenges != "" {
		challenges = ", challenges: [" + s.challenges + "]"
	}
	hosts := `"` + s.name + `"`
	if s.firstHost != "" {
		hosts = `"` + s.firstHost + `", ` + hosts
	}
	up := backend(t, "api")
	yaml := fmt.Sprintf(`data_dir: %s
listen: {https: "%s", http: "%s"}
acme:
  directory: %s
  email: test-%d@example.com
  ca_roots: [%s]
sites:
  - hosts: [%s]
    tls: {certificate: {source: acme, acme: {profile: %s%s%s}}}
    routes: [{upstreams: ["%s"]}]
  - hosts: [localhost]
    routes: [{upstreams: ["%s"]}]
`, filepath.Join(dir, "data"), net.JoinHostPort(listen, fmt.Sprint(httpsPort)), httpListen, p.Directory, time.Now().UnixNano(), p.APICAFile,
		hosts, profile, challenges, s.siteACME, up, up)
	g := startGatewayOpts(t, yaml, s.opts)
	return &acmeEnv{name: s.name, g: g, pebble: p, dir: dir, yaml: yaml, opts: s.opts}
}

// handshake connects to the gateway as a client of name that trusts
// roots, and returns the leaf it was shown.
func (e *acmeEnv) handshake(name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", e.g.https, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// waitCert waits (bounded) until the gateway serves name a certificate
// that verifies against Pebble's current issuing root, and other than
// not (when given).
func (e *acmeEnv) waitCert(t *testing.T, roots *x509.CertPool, within time.Duration, not *x509.Certificate) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		leaf, err := e.handshake(e.name, roots)
		if err == nil && (not == nil || leaf.SerialNumber.Cmp(not.SerialNumber) != 0) {
			return leaf
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no (new) certificate from Pebble for %s within %s; last handshake error: %v\nlogs:\n%s", e.name, within, last, e.g.logs)
	return nil
}

// writeRoots writes Pebble's issuing roots for curl.
func (e *acmeEnv) writeRoots(t *testing.T) string {
	t.Helper()
	body, err := e.pebbleGet("/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "issuer-root.pem")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (e *acmeEnv) pebbleGet(path string) ([]byte, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pebble.APIRoots}}}
	resp, err := c.Get(e.pebble.Mgmt + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return []byte(b.String()), nil
}

func TestACMEHTTP01(t *testing.T) {
	t.Parallel()
	e := startACME(t, acmeSetup{name: "http01.example.com", challenges: "http-01"})
	roots := e.pebble.IssuerRoots(t)
	leaf := e.waitCert(t, roots, 60*time.Second, nil)
	if !slicesContain(leaf.DNSNames, e.name) {
		t.Fatalf("certificate names %v, want %s", leaf.DNSNames, e.name)
	}
	if !strings.Contains(e.g.logs.String(), "challenges=http-01") {
		t.Errorf("log does not say which challenge was used:\n%s", e.g.logs)
	}
	// The CA's renewal information (ARI, RFC 9773) was fetched and stored
	// with the certificate: renewal follows its window.
	metas, _ := filepath.Glob(filepath.Join(e.dir, "data", "acme", "certificates", "*", e.name, e.name+".json"))
	if len(metas) != 1 {
		t.Fatalf("stored certificate metadata: %v", metas)
	}
	if meta, _ := os.ReadFile(metas[0]); !strings.Contains(string(meta), "suggestedWindow") {
		t.Errorf("no ARI window stored with the certificate:\n%s", meta)
	}

	// curl, trusting only Pebble's issuing root, gets through to the upstream.
	curl := testpeer.Require(t, "curl")
	_, port, _ := net.SplitHostPort(e.g.https)
	out, err := exec.Command(curl, "-sS", "--max-time", "10", "--cacert", e.writeRoots(t),
		"--resolve", e.name+":"+port+":127.0.0.1", "https://"+e.name+":"+port+"/hello").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "api") {
		t.Fatalf("curl through the ACME certificate: %v\n%s", err, out)
	}

	// The plain-HTTP listener still redirects everything that is not a challenge.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
		Get("http://" + e.g.http + "/.well-known/acme-challenge/not-a-token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("an unknown challenge token was answered 200")
	}
}

func TestACMETLSALPN01(t *testing.T) {
	t.Parallel()
	// No HTTP listener: tls-alpn-01 on the HTTPS port is the only way.
	e := startACME(t, acmeSetup{name: "alpn.example.com", httpOff: true})
	roots := e.pebble.IssuerRoots(t)
	e.waitCert(t, roots, 60*time.Second, nil) // verified against Pebble's issuing root
	if !strings.Contains(e.g.logs.String(), "challenges=tls-alpn-01") {
		t.Errorf("log does not say which challenge was used:\n%s", e.g.logs)
	}
	// The internal site was serving all along, and still is.
	if _, err := e.handshake("localhost", nil); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("internal site: want a handshake with our local CA's certificate, got %v", err)
	}
}

// TestACMEKeptAcrossRestartAndReload: a certificate is ordered once. A
// restarted gateway (same data dir) serves it from storage; a reload that
// drops the site stops serving the name, and one that brings it back
// serves the stored certificate again, all without a new order.
func TestACMEKeptAcrossRestartAndReload(t *testing.T) {
	t.Parallel()
	e := startACME(t, acmeSetup{name: "kept.example.com", challenges: "tls-alpn-01"})
	roots := e.pebble.IssuerRoots(t)
	first := e.waitCert(t, roots, 60*time.Second, nil)
	if err := e.g.stop(); err != nil {
		t.Fatal(err)
	}

	e.g = startGatewayOpts(t, e.yaml, e.opts)
	if leaf := e.waitCert(t, roots, 10*time.Second, nil); leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("after a restart: serial %x, want the stored %x", leaf.SerialNumber, first.SerialNumber)
	}

	without := strings.Replace(e.yaml, `- hosts: ["`+e.name+`"]`, "- hosts: [gone.example.com]", 1)
	without = strings.Replace(without, "source: acme, acme: {profile: default, challenges: [tls-alpn-01]}", "source: internal", 1)
	if err := os.WriteFile(e.g.configPath, []byte(without), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.handshake(e.name, roots); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Fatalf("after removing the site: want unrecognized_name, got %v", err)
	}
	if err := os.WriteFile(e.g.configPath, []byte(e.yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if leaf := e.waitCert(t, roots, 10*time.Second, nil); leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("after re-adding the site: serial %x, want the stored %x", leaf.SerialNumber, first.SerialNumber)
	}
	if n := strings.Count(e.g.logs.String(), "requesting certificate"); n != 0 {
		t.Errorf("the restarted gateway requested %d certificates; the stored one should have served", n)
	}
}

// TestACMEExternalAccountBinding: a CA that requires EAB issues with the
// right key (here with an RSA key type) and refuses a wrong one with its
// problem document in the log.
func TestACMEExternalAccountBinding(t *testing.T) {
	t.Parallel()
	const kid, mac = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "mac"), filepath.Join(dir, "wrong-mac")
	os.WriteFile(good, []byte(mac+"\n"), 0o600)
	os.WriteFile(bad, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 0o600)
	e := startACME(t, acmeSetup{name: "eab.example.com", challenges: "tls-alpn-01", eab: map[string]string{kid: mac},
		siteACME: fmt.Sprintf(", eab: {key_id: %s, mac_key_file: %s}, key_type: rsa-2048", kid, good)})
	leaf := e.waitCert(t, e.pebble.IssuerRoots(t), 60*time.Second, nil)
	if pk, ok := leaf.PublicKey.(*rsa.PublicKey); !ok || pk.N.BitLen() != 2048 {
		t.Errorf("key_type rsa-2048: got a %T key", leaf.PublicKey)
	}

	wrong := strings.Replace(e.yaml, good, bad, 1)
	wrong = strings.Replace(wrong, "eab.example.com", "eab-wrong.example.com", 1)
	wrong = strings.Replace(wrong, e.g.https, "127.0.0.1:0", 1)
	if e.g.http != "" {
		wrong = strings.Replace(wrong, e.g.http, "127.0.0.1:0", 1)
	}
	wrong = strings.Replace(wrong, "data_dir: ", "data_dir: "+dir+"/wrong-", 1)
	g := startGateway(t, wrong)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(g.logs.String(), "certificate request failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failure logged for a wrong EAB key\nlogs:\n%s", g.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if line := lineWith(g.logs.String(), "certificate request failed"); !strings.Contains(line, "urn:ietf:params:acme:error") {
		t.Errorf("the failure line does not carry the CA's problem document: %s", line)
	}
}

// TestACMERenewUnderLoad: short-lived certificates (Let's Encrypt's
// "shortlived" profile, 6 days, scaled down to a Pebble profile of the
// same name issuing 30-second certificates) renewed while clients keep
// connecting, over about four lifetimes. No request fails, no expired
// certificate is served, each certificate is replaced when 20–45% of
// its lifetime is left (tlsgate renews at a third; the switch lags by up
// to a check interval and the order), and every certificate has the
// profile's lifetime (Pebble's other profiles would show a dropped one).
//
// ARI is off (acme.Options.DisableARI): Pebble's window for a
// 30-second certificate is its whole lifetime, so with ARI the renewal
// time would be Pebble's random pick, not tlsgate's.
// TestACMEProfileKeptAcrossRenewals covers renewals with ARI.
func TestACMERenewUnderLoad(t *testing.T) {
	t.Parallel()
	const lifetime = 30 * time.Second
	e := startACME(t, acmeSetup{name: "renew.example.com", challenges: "http-01, tls-alpn-01", profile: "shortlived",
		profiles: testpeer.WithDecoys("shortlived", lifetime),
		opts:     Options{ACMERenewCheckInterval: time.Second, ACMEDisableARI: true}})
	roots := e.pebble.IssuerRoots(t)
	first := e.waitCert(t, roots, 60*time.Second, nil)
	t.Logf("first certificate: serial %x, %s → %s", first.SerialNumber, first.NotBefore.Format(time.TimeOnly), first.NotAfter.Format(time.TimeOnly))

	// Bounded load: 3 clients, a new connection per request, until the
	// served certificate switched 4 times; at most 4 lifetimes + 10 s and
	// 12000 requests.
	type served struct {
		from, to *x509.Certificate
		at       time.Time
	}
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		current    = first
		seen       = map[string]*x509.Certificate{first.SerialNumber.Text(16): first}
		switches   []served
		expired    []string
		firstErr   error
	)
	ctx, cancel := context.WithTimeout(context.Background(), 4*lifetime+10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && ok.Load()+failed.Load() < 12000 {
				tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: e.name, RootCAs: roots}, DisableKeepAlives: true}
				c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
				req, _ := http.NewRequest("GET", "https://"+e.g.https+"/hello", nil)
				req.Host = e.name
				resp, err := c.Do(req)
				now := time.Now()
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if firstErr == nil {
						firstErr = err
					}
				} else {
					ok.Add(1)
					leaf := resp.TLS.PeerCertificates[0]
					if now.After(leaf.NotAfter.Add(time.Second)) {
						expired = append(expired, fmt.Sprintf("serial %x at %s", leaf.SerialNumber, now.Format(time.StampMilli)))
					}
					if serial := leaf.SerialNumber.Text(16); seen[serial] == nil {
						seen[serial] = leaf
						if leaf.NotBefore.After(current.NotBefore) {
							switches = append(switches, served{current, leaf, now})
							current = leaf
						}
						if len(switches) >= 4 {
							cancel()
						}
					}
				}
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d requests, %d failed, %d certificates served", ok.Load(), failed.Load(), len(seen))
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during renewal; first: %v", failed.Load(), firstErr)
	}
	if len(expired) > 0 {
		t.Errorf("expired certificates served: %v", expired)
	}
	if len(switches) < 3 {
		t.Fatalf("the served certificate switched %d times in %s of %s certificates: renewal did not keep up\nlogs:\n%s",
			len(switches), 4*lifetime+10*time.Second, lifetime, e.g.logs)
	}
	// The fraction of the old certificate's lifetime left when the new
	// one was first served, and when the CA issued it.
	var atSwitch, atIssue []string
	for _, s := range switches {
		expires := s.from.NotAfter.Add(time.Second)
		left := float64(expires.Sub(s.at)) / float64(certLifetime(s.from))
		atSwitch = append(atSwitch, fmt.Sprintf("%.3f", left))
		atIssue = append(atIssue, fmt.Sprintf("%.3f", float64(expires.Sub(s.to.NotBefore))/float64(certLifetime(s.from))))
		if left < 0.20 || left > 0.45 {
			t.Errorf("certificate %x was replaced with %.0f%% of its lifetime left (%s of %s); want 20–45%% (renewal at a third)",
				s.from.SerialNumber, 100*left, expires.Sub(s.at).Round(time.Millisecond), certLifetime(s.from))
		}
	}
	t.Logf("lifetime left at each switch of the served certificate: %v (the CA issued the new one at %v)", atSwitch, atIssue)
	for serial, c := range seen {
		if got := certLifetime(c); got != lifetime {
			t.Errorf("served certificate %s lives %s, want the shortlived profile's %s: the profile was dropped", serial, got, lifetime)
		}
	}
	checkIssued(t, e.g.logs.String(), lifetime, len(seen))
	if !strings.Contains(e.g.logs.String(), "certificate renewed") {
		t.Errorf("no 'certificate renewed' log line")
	}
}

// TestACMEProfileKeptAcrossRenewals: every certificate ordered for a
// site has its profile's lifetime, through renewals that tell the CA
// which certificate they replace (ARI, RFC 9773) and after a restart that
// reads the certificate from storage. Pebble's other profiles have other
// lifetimes and it gives an order without a profile a random one, so a
// dropped profile shows (with 4 profiles, each order has a 3 in 4 chance
// of showing it).
func TestACMEProfileKeptAcrossRenewals(t *testing.T) {
	t.Parallel()
	// With ARI on, Pebble's window for these certificates is their whole
	// lifetime: each is renewed at a random time before a third is left.
	const lifetime = 20 * time.Second
	e := startACME(t, acmeSetup{name: "profile.example.com", challenges: "tls-alpn-01", profile: "short",
		profiles: testpeer.WithDecoys("short", lifetime),
		opts:     Options{ACMERenewCheckInterval: time.Second}})
	waitLogged := func(what string, n int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for strings.Count(e.g.logs.String(), what) < n {
			if time.Now().After(deadline) {
				checkIssued(t, e.g.logs.String(), lifetime, 0) // a long-lived certificate from a dropped profile?
				t.Fatalf("%q logged %d times within %s, want %d\nlogs:\n%s", what, strings.Count(e.g.logs.String(), what), within, n, e.g.logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitLogged(`msg="certificate renewed"`, 2, 60*time.Second)
	before := e.g.logs.String()
	if err := e.g.stop(); err != nil {
		t.Fatal(err)
	}
	e.g = startGatewayOpts(t, e.yaml, e.opts)
	e.waitCert(t, e.pebble.IssuerRoots(t), 10*time.Second, nil)
	waitLogged(`msg="certificate renewed"`, 2, 60*time.Second)
	checkIssued(t, before+e.g.logs.String(), lifetime, 5)

	pebbleLog, err := os.ReadFile(filepath.Join(e.dir, "pebble.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(pebbleLog), "is a replacement of"); n == 0 {
		t.Errorf("Pebble saw no ARI replacement order: the renewals did not name the certificate they replace")
	}
}

// certLifetime is a certificate's validity period: NotAfter is
// inclusive (RFC 5280), and Pebble sets it to NotBefore + validity - 1s.
func certLifetime(c *x509.Certificate) time.Duration {
	return c.NotAfter.Add(time.Second).Sub(c.NotBefore)
}

// issuedRE finds the certificates the gateway logs as obtained or renewed.
var issuedRE = regexp.MustCompile(`msg="certificate (?:obtained|renewed)" .*serial=(\S+) .*lifetime=(\S+)`)

// checkIssued checks that the gateway logged at least n issued
// certificates and that each has the wanted lifetime.
func checkIssued(t *testing.T, logs string, lifetime time.Duration, n int) {
	t.Helper()
	var got []string
	for _, m := range issuedRE.FindAllStringSubmatch(logs, -1) {
		got = append(got, m[1]+" "+m[2])
		if m[2] != lifetime.String() {
			t.Errorf("certificate %s lives %s, want the ordered profile's %s: the profile was dropped", m[1], m[2], lifetime)
		}
	}
	if len(got) < n {
		t.Errorf("%d certificates logged as issued, want at least %d: %v", len(got), n, got)
	}
	t.Logf("issued (serial, lifetime): %v", got)
}

// TestACMERenewWhileCADown stops Pebble (SIGSTOP: it keeps its accounts,
// as a real CA does through an outage, but answers nothing) before a
// renewal is due: the renewal fails with a clear log line, the old
// certificate keeps being served, and once Pebble runs again the retry
// succeeds.
func TestACMERenewWhileCADown(t *testing.T) {
	t.Parallel()
	// 300-second certificates, renewed when 95% of the lifetime is left
	// (after 15 s). The attempt hangs: the ACME client tries each request
	// 3 times with a 30 s timeout, so it fails after ~95 s; certmagic
	// retries a minute later (~170 s), well before expiry.
	e := startACME(t, acmeSetup{name: "cadown.example.com", challenges: "http-01", profile: "medium",
		profiles: map[string]time.Duration{"medium": 300 * time.Second},
		opts:     Options{ACMERenewCheckInterval: time.Second, ACMERenewalWindowRatio: 0.95}})
	roots := e.pebble.IssuerRoots(t)
	first := e.waitCert(t, roots, 60*time.Second, nil)
	e.pebble.Pause(t)

	deadline := time.Now().Add(150 * time.Second)
	for !strings.Contains(e.g.logs.String(), "certificate renewal failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no renewal failure logged while Pebble was down\nlogs:\n%s", e.g.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	line := lineWith(e.g.logs.String(), "certificate renewal failed")
	for _, want := range []string{"ca=" + e.pebble.Directory, "challenges=http-01", "err="} {
		if !strings.Contains(line, want) {
			t.Errorf("renewal failure line lacks %q: %s", want, line)
		}
	}
	// Still serving the first certificate.
	leaf, err := e.handshake(e.name, roots)
	if err != nil || leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("while the CA is down: want the first certificate, got %v, %v", leaf, err)
	}

	e.pebble.Resume(t)
	second := e.waitCert(t, roots, 120*time.Second, first)
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate expires %s, not after the first's %s", second.NotAfter, first.NotAfter)
	}
	if time.Now().After(first.NotAfter) {
		t.Errorf("the first certificate expired before the renewal was served")
	}
}

// TestACMEUnreachableCA: a CA that cannot be reached, or a wrong
// directory URL, gives a clear log line naming the CA; the ACME site
// refuses handshakes rather than serving a wrong certificate, while the
// other site serves.
func TestACMEUnreachableCA(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, host, directory, want string
	}{
		{"refused", "refused.example.com", "https://" + testpeer.ClosedAddr(t) + "/dir", "connection refused"},
		{"wrong path", "wrongpath.example.com", "", "404"}, // filled in below with Pebble's address
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			directory := tc.directory
			var caFile string
			if directory == "" {
				p := testpeer.StartPebble(t, t.TempDir(), testpeer.PebbleOptions{})
				directory = strings.TrimSuffix(p.Directory, "/dir") + "/no-such-directory"
				caFile = p.APICAFile
			} else {
				caFile = pkitest.NewCA(t, "Unrelated").WriteRoot(t, dir)
			}
			up := backend(t, "api")
			g := startGateway(t, fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:0", http: "127.0.0.1:0"}
acme: {directory: "%s", email: unreachable@example.com, ca_roots: [%s]}
sites:
  - hosts: [%s]
    tls: {certificate: {source: acme, acme: {profile: default}}}
    routes: [{upstreams: ["%s"]}]
  - hosts: [localhost]
    routes: [{upstreams: ["%s"]}]
`, filepath.Join(dir, "data"), directory, caFile, tc.host, up, up))
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(g.logs.String(), "certificate request failed") {
				if time.Now().After(deadline) {
					t.Fatalf("no failure logged\nlogs:\n%s", g.logs)
				}
				time.Sleep(100 * time.Millisecond)
			}
			line := lineWith(g.logs.String(), "certificate request failed")
			if !strings.Contains(line, directory) || !strings.Contains(line, tc.want) {
				t.Errorf("failure line should name the CA %s and say %q: %s", directory, tc.want, line)
			}
			_, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: tc.host, InsecureSkipVerify: true})
			if err == nil || !strings.Contains(err.Error(), "internal error") {
				t.Errorf("ACME site without a certificate: want a refused handshake (internal_error alert), got %v", err)
			}
			if !strings.Contains(g.logs.String(), "refusing TLS handshakes for this name until its certificate is issued") {
				t.Errorf("no log line explains the refused handshake")
			}
			c, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
			if err != nil {
				t.Fatalf("the other site stopped serving: %v", err)
			}
			c.Close()
		})
	}
}

func lineWith(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestACMECheck: `config validate` (Check) reads the files ACME settings
// name and reports each problem at its line, without contacting the CA.
func TestACMECheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(path, []byte(`acme:
  directory: https://127.0.0.1:1/dir
  ca_roots: [`+dir+`/missing-roots.pem]
sites:
  - hosts: [check.example.com]
    tls:
      certificate:
        source: acme
        acme: {eab: {key_id: kid, mac_key_file: `+dir+`/missing-mac}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = plan.Check(cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("Check accepted missing files")
	}
	for _, want := range []string{
		"tlsgate.yaml:3:14: acme.ca_roots[0]: reading CA bundle: open " + dir + "/missing-roots.pem: no such file or directory",
		"tlsgate.yaml:9:49: sites[0].tls.certificate.acme.eab.mac_key_file: reading the EAB MAC key: open " + dir + "/missing-mac: no such file or directory",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check errors lack %q:\n%v", want, err)
		}
	}
}

// TestACMERootsIDFollowsContents: the ACME client is shared by settings
// with the same RootsID, so a ca_roots file whose certificates change
// must give another ID (found with issue 13's ticket-key finding: the
// ID was the file names).
func TestACMERootsIDFollowsContents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	roots := filepath.Join(dir, "roots.pem")
	path := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(path, []byte(`acme:
  directory: https://127.0.0.1:1/dir
  ca_roots: [`+roots+`]
sites:
  - hosts: [roots.example.com]
    tls: {certificate: {source: acme}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`), 0o600)
	id := func(ca *pkitest.CA) string {
		t.Helper()
		os.WriteFile(roots, ca.PEM, 0o600)
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		s, errs := plan.ACMESettings(cfg, 0)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return s.RootsID
	}
	a, b := pkitest.NewCA(t, "same name"), pkitest.NewCA(t, "same name")
	if id(a) == id(b) {
		t.Error("two different CA roots in the same file give the same RootsID: a reload would keep trusting the old one")
	}
	if first, again := id(a), id(a); first != again {
		t.Error("the same roots give different RootsIDs")
	}
}

// TestACMEIPAddress: a site whose host is an IP address gets a
// certificate with that IP address SAN (RFC 8738), by http-01 and by
// tls-alpn-01, whose validation handshake names the address's reverse-DNS
// name as SNI. A client connecting to https://ADDRESS:PORT/ (Go sends no
// SNI for an address) verifies the IP SAN against Pebble's issuing root.
// The cases run one after another: certmagic keeps active challenges in
// a process-wide map by identifier.
func TestACMEIPAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ip, challenge, firstHost string }{
		{"127.0.0.1", "http-01", ""},
		{"127.0.0.1", "tls-alpn-01", ""},
		{"::1", "http-01", ""},
		{"::1", "tls-alpn-01", ""},
		// A site whose first host is a name: a client connecting to the
		// address still gets the address's certificate.
		{"127.0.0.1", "tls-alpn-01", "ipsite.example.com"},
	} {
		t.Run(tc.firstHost+" "+tc.ip+" "+tc.challenge, func(t *testing.T) {
			e := startACME(t, acmeSetup{name: tc.ip, listen: tc.ip, challenges: tc.challenge, firstHost: tc.firstHost})
			roots := e.pebble.IssuerRoots(t)
			leaf := e.waitCert(t, roots, 60*time.Second, nil)
			if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP(tc.ip)) || len(leaf.DNSNames) != 0 {
				t.Errorf("certificate names: IPs %v, DNS %v; want the one IP address %s", leaf.IPAddresses, leaf.DNSNames, tc.ip)
			}
			if !strings.Contains(e.g.logs.String(), "challenges="+tc.challenge) {
				t.Errorf("log does not say %s was used:\n%s", tc.challenge, e.g.logs)
			}
			if tc.challenge == "tls-alpn-01" && !strings.Contains(e.g.logs.String(), "server_name="+reverseName(t, tc.ip)) {
				t.Errorf("no tls-alpn-01 handshake for %s's reverse-DNS name in the log:\n%s", tc.ip, e.g.logs)
			}

			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
			defer c.CloseIdleConnections()
			resp, err := c.Get("https://" + e.g.https + "/hello")
			if err != nil {
				t.Fatalf("GET https://%s/: %v", e.g.https, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "api") {
				t.Errorf("GET https://%s/: %s %q", e.g.https, resp.Status, body)
			}
			if resp.TLS.ServerName != "" {
				t.Errorf("the client sent SNI %q for an IP address", resp.TLS.ServerName)
			}
		})
	}
}

// reverseName is ip's reverse-DNS name without the final dot, as
// tls-alpn-01 names it (RFC 8738 section 6).
func reverseName(t *testing.T, ip string) string {
	t.Helper()
	names, err := dns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(names, ".")
}
