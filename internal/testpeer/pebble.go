package testpeer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// PebbleOptions configures StartPebble. The zero value is usable when the
// test solves no challenge.
type PebbleOptions struct {
	// HTTPPort and TLSPort are the 127.0.0.1 ports Pebble connects to for
	// http-01 and tls-alpn-01 validation: the gateway's own listener
	// ports. Zero makes every validation of that type fail.
	HTTPPort, TLSPort int

	// Profiles maps a profile name to the validity of the certificates
	// issued under it, in whole seconds of at least one (Pebble's notAfter
	// is notBefore + validity - 1s). Empty means {"default": 90 days}.
	// Pebble gives an order that names no profile a RANDOM one of these:
	// tests must always name one.
	Profiles map[string]time.Duration

	// EAB, when set, makes Pebble require External Account Binding with
	// these key IDs and their base64url HMAC keys.
	EAB map[string]string

	// NonceReject is the percentage of good nonces Pebble rejects as
	// badNonce (PEBBLE_WFE_NONCEREJECT), to exercise client retries. Zero
	// keeps Pebble's default of 5; -1 means none.
	NonceReject int

	// DNSServer, when set, is the DNS server (127.0.0.1:PORT, UDP) Pebble
	// asks during validation instead of a pebble-challtestsrv of its own:
	// a Knot from StartKnot, for dns-01 against records a client really
	// published. http-01 and tls-alpn-01 then need A records there.
	DNSServer string
}

// WithDecoys returns Profiles for a test that orders under the profile
// name, valid for validity: that profile and three decoys of other
// lifetimes (47 s, 1 h, 7 days). Pebble gives an order that names no
// profile a random one, so a certificate without the named profile's
// validity shows that the client dropped the profile (3 times in 4).
func WithDecoys(name string, validity time.Duration) map[string]time.Duration {
	p := map[string]time.Duration{"decoy-47s": 47 * time.Second, "decoy-1h": time.Hour, "decoy-7d": 7 * 24 * time.Hour}
	for n, v := range p {
		if v == validity || n == name {
			panic(fmt.Sprintf("testpeer.WithDecoys(%q, %v): the decoy %s is alike", name, validity, n))
		}
	}
	p[name] = validity
	return p
}

// Pebble is a running Pebble ACME test CA with its pebble-challtestsrv DNS
// server (answering 127.0.0.1 for every A query and nothing for AAAA), both
// on 127.0.0.1 only. Authorizations are never reused (PEBBLE_AUTHZREUSE=0),
// so every order makes the client solve a challenge, and validation does
// not sleep (PEBBLE_VA_NOSLEEP=1).
//
// Its methods take the test and must be called from the test's goroutine.
type Pebble struct {
	Directory string         // ACME directory URL, https://127.0.0.1:PORT/dir
	Mgmt      string         // management API base URL, https://127.0.0.1:PORT
	APICAFile string         // PEM of the throw-away CA of Pebble's own HTTPS certificate
	APIRoots  *x509.CertPool // the same CA, for the ACME client (not the issuing root: see IssuerRoots)

	bin     string // pebble executable
	dir     string
	config  string   // pebble config file
	dnsAddr string   // pebble-challtestsrv DNS, TCP and UDP
	dnsMgmt string   // pebble-challtestsrv management API, http://127.0.0.1:PORT
	env     []string // pebble's environment
	client  *http.Client
	chall   *process // pebble-challtestsrv
	pebble  *process // nil while stopped
}

// process is a child whose exit is awaited in the background.
type process struct {
	cmd     *exec.Cmd
	logFile string
	logFrom int64         // where this run's output starts in logFile
	done    chan struct{} // closed once err is set
	err     error
}

// pebbleStartTimeout bounds the wait for Pebble's directory. Pebble starts
// in well under a second here; the rest is slack for a loaded CI machine.
const pebbleStartTimeout = 20 * time.Second

// StartPebble starts pebble-challtestsrv and Pebble on free 127.0.0.1 ports,
// writing their configuration, certificates and logs (pebble.log,
// challtestsrv.log) into dir (created if missing), and waits until the ACME directory answers.
// Both are stopped when the test ends; if the test failed, the tail of
// their logs is printed. The programs come from 'make tools' (Require).
func StartPebble(t testing.TB, dir string, opts PebbleOptions) *Pebble {
	t.Helper()
	pebbleBin := Require(t, "pebble")
	challBin := ""
	if opts.DNSServer == "" {
		challBin = Require(t, "pebble-challtestsrv")
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Pebble{bin: pebbleBin, dir: dir, config: filepath.Join(dir, "pebble.json")}
	began := time.Now()
	p.writeAPICert(t)
	p.client = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: p.APIRoots},
			// After Stop, pooled connections would point at a dead Pebble.
			DisableKeepAlives: true,
		},
		Timeout: 5 * time.Second,
	}

	p.env = pebbleEnv(t, opts)
	t.Cleanup(func() {
		if p.pebble != nil {
			p.pebble.stop()
			p.pebble = nil
		}
		if p.chall != nil {
			p.chall.stop()
		}
		if t.Failed() {
			logTail(t, filepath.Join(dir, "pebble.log"))
			if opts.DNSServer == "" {
				logTail(t, filepath.Join(dir, "challtestsrv.log"))
			}
		}
	})
	if opts.DNSServer != "" {
		p.dnsAddr = opts.DNSServer
	} else {
		p.startChallSrv(t, challBin)
	}

	// Another test binary may take a port between stablePort and Pebble's
	// listen: then try other ports.
	for attempt := 1; ; attempt++ {
		listen, mgmt := stablePort(t, false), stablePort(t, false)
		p.Directory = fmt.Sprintf("https://127.0.0.1:%d/dir", listen)
		p.Mgmt = fmt.Sprintf("https://127.0.0.1:%d", mgmt)
		p.writeConfig(t, opts, listen, mgmt)
		err := p.run()
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
	}
	t.Logf("pebble ready at %s in %v", p.Directory, time.Since(began).Round(time.Millisecond))
	return p
}

// startChallSrv starts pebble-challtestsrv as Pebble's DNS server.
func (p *Pebble) startChallSrv(t testing.TB, program string) {
	t.Helper()
	logFile := filepath.Join(p.dir, "challtestsrv.log")
	for attempt := 1; ; attempt++ {
		p.dnsAddr = fmt.Sprintf("127.0.0.1:%d", stablePort(t, true))
		mgmt := fmt.Sprintf("127.0.0.1:%d", stablePort(t, false))
		// The "" flags stop challtestsrv from serving challenges itself
		// (it would bind 5001, 5002, 5003 and 8443 on every interface);
		// -defaultIPv6 "" makes Pebble validate against 127.0.0.1, not
		// [::1] (it tries AAAA first).
		proc, err := start(logFile, nil, program,
			"-dnsserver", p.dnsAddr, "-management", mgmt,
			"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
		if err != nil {
			t.Fatal(err)
		}
		// challtestsrv logs a failed listen and keeps running: wait for
		// both listeners, then look for that line.
		err = waitFor(proc, func() error {
			if err := dial(p.dnsAddr); err != nil {
				return err
			}
			return dial(mgmt)
		})
		if err == nil && strings.Contains(proc.logSince(), "address already in use") {
			err = errPortTaken
		}
		if err == nil {
			p.chall = proc
			p.dnsMgmt = "http://" + mgmt
			return
		}
		proc.stop()
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatalf("starting pebble-challtestsrv: %v (see %s)", err, logFile)
		}
	}
}

// Stop stops Pebble (not its DNS server), as a CA outage. Pebble keeps
// nothing across a restart: accounts, orders and certificates are lost.
func (p *Pebble) Stop(t testing.TB) {
	t.Helper()
	if p.pebble == nil {
		t.Fatal("testpeer: Pebble.Stop: pebble is not running")
	}
	select {
	case <-p.pebble.done:
		t.Fatalf("pebble had exited on its own (%v): see %s", p.pebble.err, p.pebble.logFile)
	default:
	}
	p.pebble.stop()
	p.pebble = nil
}

// Start starts Pebble again after Stop, on the same ports with the same
// configuration, and waits until its directory answers. Pebble makes a new
// issuing root at every start.
func (p *Pebble) Start(t testing.TB) {
	t.Helper()
	if p.pebble != nil {
		t.Fatal("testpeer: Pebble.Start: pebble is already running")
	}
	began := time.Now()
	if err := p.run(); err != nil {
		t.Fatal(err)
	}
	t.Logf("pebble restarted in %v", time.Since(began).Round(time.Millisecond))
}

// Pause freezes Pebble (SIGSTOP): it keeps its state, but connections to
// it hang, as with a CA that is down or unreachable behind a firewall. A
// client times out. Resume lets it go on. Unlike Stop+Start, the CA's
// accounts and certificates survive, as they do at a real CA's outage.
func (p *Pebble) Pause(t testing.TB) {
	t.Helper()
	p.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() {
		if p.pebble != nil {
			p.pebble.cmd.Process.Signal(syscall.SIGCONT) // so the cleanup can stop it
		}
	})
}

// Resume continues a paused Pebble (SIGCONT).
func (p *Pebble) Resume(t testing.TB) {
	t.Helper()
	p.signal(t, syscall.SIGCONT)
}

func (p *Pebble) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if p.pebble == nil {
		t.Fatalf("testpeer: Pebble: cannot send %v: pebble is not running", sig)
	}
	if err := p.pebble.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testpeer: Pebble: sending %v: %v", sig, err)
	}
}

// errPortTaken says a program could not listen on a port it was given.
var errPortTaken = errors.New("port taken by another program")

// run starts Pebble and waits until it answers.
func (p *Pebble) run() error {
	logFile := filepath.Join(p.dir, "pebble.log")
	proc, err := start(logFile, p.env, p.bin, "-config", p.config, "-dnsserver", p.dnsAddr)
	if err != nil {
		return err
	}
	if err := waitFor(proc, p.checkReady); err != nil {
		proc.stop()
		if strings.Contains(proc.logSince(), "address already in use") {
			err = fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return fmt.Errorf("starting pebble: %w (see %s)", err, logFile)
	}
	p.pebble = proc
	return nil
}

// checkReady reports whether both of Pebble's listeners answer, and that
// this Pebble is recent enough (ARI).
func (p *Pebble) checkReady() error {
	// Short: a port taken by a program that accepts and never answers
	// must not hold up noticing that Pebble exited.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	body, err := p.get(ctx, p.Directory)
	if err != nil {
		return err
	}
	var dir map[string]any
	if err := json.Unmarshal(body, &dir); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	if _, ok := dir["renewalInfo"]; !ok {
		return errFatal{fmt.Errorf("the directory lists no renewalInfo: is %s an old Pebble (Debian's)? Run 'make tools'", p.bin)}
	}
	_, err = p.get(ctx, p.Mgmt+"/roots/0")
	return err
}

// errFatal stops waitFor at once.
type errFatal struct{ error }

func (e errFatal) Unwrap() error { return e.error }

// IssuerRoots returns the roots Pebble issues certificates under. They
// change at every Start: fetch them again after each.
func (p *Pebble) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	body, err := p.get(context.Background(), p.Mgmt+"/roots/0")
	if err != nil {
		t.Fatalf("fetching Pebble's issuing root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(body) {
		t.Fatalf("Pebble's /roots/0 holds no PEM certificate: %q", body)
	}
	return pool
}

// SetRenewalInfo makes Pebble's ARI endpoint suggest the renewal window
// [start, end) for cert, which Pebble must have issued since its last
// Start. Pebble serves it with Retry-After: 6h, so an ARI client that
// already fetched the window will not see the change before that.
func (p *Pebble) SetRenewalInfo(t testing.TB, cert *x509.Certificate, start, end time.Time) {
	t.Helper()
	window, err := json.Marshal(map[string]any{
		"suggestedWindow": map[string]string{
			"start": start.UTC().Format(time.RFC3339),
			"end":   end.UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Field names from Pebble's wfe.SetRenewalInfo; the ARI response is
	// served verbatim.
	req, err := json.Marshal(map[string]string{
		"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		"ariResponse": string(window),
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.client.Post(p.Mgmt+"/set-renewal-info/", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatalf("setting renewal info: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setting renewal info for serial %x: %s: %s", cert.SerialNumber, resp.Status, body)
	}
}

// get fetches url from Pebble and returns the body of a 200 response.
func (p *Pebble) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body, nil
}

// writeAPICert writes a throw-away CA and its certificate for 127.0.0.1
// and localhost, which Pebble serves its ACME and management APIs with.
func (p *Pebble) writeAPICert(t testing.TB) {
	t.Helper()
	ca := pkitest.NewCA(t, "tlsgate test Pebble API CA")
	p.APICAFile = filepath.Join(p.dir, "pebble-api-ca.pem")
	if err := os.WriteFile(p.APICAFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	p.APIRoots = ca.Pool()
	pkitest.WriteFiles(t, p.dir, "pebble-api", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1", "localhost"}}))
}

// writeConfig writes Pebble's JSON configuration (field names from
// cmd/pebble/main.go of Pebble v2.10.3).
func (p *Pebble) writeConfig(t testing.TB, opts PebbleOptions, listen, mgmt int) {
	t.Helper()
	type profile struct {
		Description    string `json:"description"`
		ValidityPeriod uint64 `json:"validityPeriod"` // seconds
	}
	profiles := map[string]profile{}
	if len(opts.Profiles) == 0 {
		opts.Profiles = map[string]time.Duration{"default": 90 * 24 * time.Hour}
	}
	for name, validity := range opts.Profiles {
		if validity < time.Second || validity%time.Second != 0 {
			t.Fatalf("testpeer: PebbleOptions.Profiles[%q] = %v: must be whole seconds, at least one", name, validity)
		}
		profiles[name] = profile{
			Description:    fmt.Sprintf("tlsgate test profile, %v certificates", validity),
			ValidityPeriod: uint64(validity / time.Second),
		}
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", listen),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":             filepath.Join(p.dir, "pebble-api.pem"),
		"privateKey":              filepath.Join(p.dir, "pebble-api.key"),
		"httpPort":                opts.HTTPPort,
		"tlsPort":                 opts.TLSPort,
		"ocspResponderURL":        "",
		// ECDSA: generating Pebble's RSA root and intermediate at every
		// start is slower, and the chain type does not matter to a client.
		"keyAlgorithm": "ecdsa",
		"profiles":     profiles,
		// Retry-After 0: clients poll orders and authorizations at once.
		"retryAfter": map[string]int{"authz": 0, "order": 0},
	}}
	if len(opts.EAB) > 0 {
		pc := cfg["pebble"].(map[string]any)
		pc["externalAccountBindingRequired"] = true
		pc["externalAccountMACKeys"] = opts.EAB
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.config, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pebbleEnv returns the environment for Pebble: ours without any PEBBLE_*
// variable (a stray PEBBLE_VA_ALWAYS_VALID would hide broken challenge
// answers), plus the settings the tests rely on.
func pebbleEnv(t testing.TB, opts PebbleOptions) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PEBBLE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0")
	switch {
	case opts.NonceReject == -1:
		env = append(env, "PEBBLE_WFE_NONCEREJECT=0")
	case opts.NonceReject > 0 && opts.NonceReject <= 100:
		env = append(env, "PEBBLE_WFE_NONCEREJECT="+strconv.Itoa(opts.NonceReject))
	case opts.NonceReject != 0:
		t.Fatalf("testpeer: PebbleOptions.NonceReject = %d: must be -1 (none), 0 (Pebble's 5%%) or a percentage", opts.NonceReject)
	}
	return env
}

// start runs program with its output appended to logFile.
func start(logFile string, env []string, program string, args ...string) (*process, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own descriptor
	p := &process{logFile: logFile, done: make(chan struct{})}
	if fi, err := f.Stat(); err == nil {
		p.logFrom = fi.Size()
	}
	fmt.Fprintf(f, "==== %s testpeer: %s %s\n", time.Now().Format(time.RFC3339Nano), program, strings.Join(quoteEmpty(args), " "))
	p.cmd = exec.Command(program, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", program, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop ends the process with SIGTERM, then SIGKILL after 5 seconds, and
// waits until it has exited (and released its ports).
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// logSince returns what this run of the process has logged so far.
func (p *process) logSince() string {
	b, err := os.ReadFile(p.logFile)
	if err != nil || int64(len(b)) < p.logFrom {
		return ""
	}
	return string(b[p.logFrom:])
}

// waitFor calls ready until it returns nil, the process exits, ready
// returns an errFatal, or pebbleStartTimeout passes.
func waitFor(p *process, ready func() error) error {
	deadline := time.Now().Add(pebbleStartTimeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited while starting (%v)", p.err)
		default:
		}
		err := ready()
		if err == nil {
			return nil
		}
		if errors.As(err, new(errFatal)) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", pebbleStartTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dial reports whether addr accepts TCP connections.
func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// stablePort returns a 127.0.0.1 port that is free (for TCP, and for UDP
// too if udp) and outside the kernel's ephemeral range, so that while
// Pebble is stopped no outgoing connection or ":0" listener takes it and
// Start can listen there again.
// A port is never handed out twice in one test binary: parallel tests do
// not race each other for it.
func stablePort(t testing.TB, udp bool) int {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	if hi-lo < 1000 {
		lo = 1024 // an ephemeral range starting low: take what is below it
	}
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		if !handedOut.ports[port] && portFree(port, udp) {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatalf("no free 127.0.0.1 port in [%d, %d)", lo, hi)
	return 0
}

// handedOut holds the ports stablePort has returned.
var handedOut struct {
	sync.Mutex
	ports map[int]bool // guarded by the mutex
}

// ephemeralLow returns the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768 // Linux's default
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 1024 {
		return 32768
	}
	return low
}

func portFree(port int, udp bool) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer ln.Close()
	if udp {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

// logTail logs the last lines of a log file.
func logTail(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Logf("%s: %v", path, err)
		return
	}
	defer f.Close()
	const n = 40
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	t.Logf("last lines of %s:\n%s", path, strings.Join(lines, "\n"))
}

// quoteEmpty shows empty arguments as "" in the log.
func quoteEmpty(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" {
			out[i] = `""`
		}
	}
	return out
}

// Log returns what Pebble has logged so far (all its runs).
func (p *Pebble) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "pebble.log"))
	if err != nil {
		t.Fatalf("reading Pebble's log: %v", err)
	}
	return string(b)
}

// Orders counts the orders Pebble has accepted since it started: it logs
// `Added order "ID" to the db` for each new-order request it accepts.
func (p *Pebble) Orders(t testing.TB) int {
	t.Helper()
	return strings.Count(p.Log(t), "Added order ")
}

// Validations counts the challenge validations Pebble's VA has started
// for name: it logs each task with the identifier (`Value:"NAME"`). An
// order reaches validation unless the client abandons it first.
func (p *Pebble) Validations(t testing.TB, name string) int {
	t.Helper()
	n := 0
	for _, l := range strings.Split(p.Log(t), "\n") {
		if strings.Contains(l, "Pulled a task from the Tasks queue") && strings.Contains(l, `Value:"`+name+`"`) {
			n++
		}
	}
	return n
}

// ServFail makes Pebble's DNS answer SERVFAIL for host, so that every
// validation of host fails (as for a customer name whose DNS is broken).
func (p *Pebble) ServFail(t testing.TB, host string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"host": host})
	resp, err := p.client.Post(p.dnsMgmt+"/set-servfail", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("pebble-challtestsrv set-servfail: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble-challtestsrv set-servfail %s: %s", host, resp.Status)
	}
}
