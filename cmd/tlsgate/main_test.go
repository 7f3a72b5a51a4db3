package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tlsgate-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tlsgate")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building tlsgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs the binary to completion and returns stdout, stderr and the
// exit code.
func runCLI(t testing.TB, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return so.String(), se.String(), code
}

func TestUsageAndExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args     []string
		code     int
		inStderr string
		inStdout string
	}{
		{nil, 2, "tlsgate: error: no command given", ""},
		{[]string{"frobnicate"}, 2, "tlsgate: error: unknown command \"frobnicate\"\ntlsgate: hint: run 'tlsgate help' for usage", ""},
		{[]string{"help"}, 0, "", "tlsgate serve --config FILE"},
		{[]string{"version"}, 0, "", "tlsgate "},
		{[]string{"serve"}, 2, "serve needs --config FILE", ""},
		{[]string{"serve", "-h"}, 0, "", "SIGHUP"},
		{[]string{"proxy", "--to", "http://127.0.0.1:1"}, 2, "--from is required", ""},
		{[]string{"proxy", "--from", "127.0.0.1:0", "--to", "ftp://x"}, 2, "--to: \"ftp://x\" must be an http:// or https:// URL", ""},
		{[]string{"proxy", "--from", "127.0.0.1:0", "--to", "http://127.0.0.1:1", "--cert", "x.pem"}, 2, "--cert and --key go together", ""},
		{[]string{"proxy", "--bogus"}, 2, "flag provided but not defined: -bogus", ""},
		{[]string{"config"}, 2, "config needs a subcommand", ""},
		{[]string{"config", "validate"}, 2, "exactly one FILE", ""},
		{[]string{"config", "validate", "/nonexistent.yaml"}, 1, "tlsgate: error: reading config: open /nonexistent.yaml", ""},
		{[]string{"demo", "extra"}, 2, "demo takes flags only", ""},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runCLI(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.inStderr) || !strings.Contains(stdout, tc.inStdout) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stderr to contain %q, stdout %q", code, tc.code, stdout, stderr, tc.inStderr, tc.inStdout)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "cli CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "api", ca.Issue(t, pkitest.Leaf{Names: []string{"api.example.com"}}))
	expiredCert, expiredKey := pkitest.WriteFiles(t, dir, "old", ca.Issue(t, pkitest.Leaf{Names: []string{"api.example.com"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}))
	worldKey := filepath.Join(dir, "world.key")
	data, _ := os.ReadFile(keyFile)
	os.WriteFile(worldKey, data, 0o644)

	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	good := write("good.yaml", fmt.Sprintf(`
listen: {https: ":8443", http: ":8080"}
sites:
  - hosts: [api.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    routes:
      - {path: /v1/, upstreams: [http://127.0.0.1:9000, http://127.0.0.1:9001]}
      - {path: /, upstreams: [http://127.0.0.1:9002]}
`, certFile, keyFile))
	stdout, stderr, code := runCLI(t, nil, "config", "validate", good)
	if code != 0 || !strings.Contains(stdout, "valid (1 sites, 2 routes)") {
		t.Fatalf("good config: exit %d\n%s%s", code, stdout, stderr)
	}

	bad := write("bad.yaml", fmt.Sprintf(`
listen: {https: ":8443"}
sites:
  - hosts: [api.example.com]
    tls:
      profile: intermediat
      certificate: {cert: %s, key: %s}
    routes:
      - {path: /, upstream: http://127.0.0.1:9000}
`, certFile, keyFile))
	_, stderr, code = runCLI(t, nil, "config", "validate", bad)
	want := []string{
		"tlsgate: error: ",
		"bad.yaml:9:19: sites[0].routes[0].upstream: unknown key \"upstream\" (did you mean \"upstreams\"?)",
	}
	for _, w := range want {
		if code != 1 || !strings.Contains(stderr, w) {
			t.Fatalf("bad config: exit %d, want 1 and %q in:\n%s", code, w, stderr)
		}
	}

	// Problems with the files are found too, each with its line.
	files := write("files.yaml", fmt.Sprintf(`
sites:
  - hosts: [api.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{upstreams: [http://127.0.0.1:9000]}]
  - hosts: [other.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{upstreams: [http://127.0.0.1:9000]}]
  - hosts: [third.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{upstreams: [http://127.0.0.1:9000]}]
  - hosts: [fourth.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{upstreams: [http://127.0.0.1:9000]}]
`, expiredCert, expiredKey, certFile, keyFile, certFile, worldKey, keyFile, certFile))
	_, stderr, code = runCLI(t, nil, "config", "validate", files)
	for _, re := range []string{
		`5 problems:`,
		`files\.yaml:4:\d+: sites\[0\]\.tls\.certificate\.cert: .*the certificate expired on .* \(1 day ago\)`,
		`files\.yaml:7:\d+: sites\[1\]\.tls\.certificate\.cert: .*does not cover other\.example\.com \(it covers: api\.example\.com\)`,
		`files\.yaml:10:\d+: sites\[2\]\.tls\.certificate\.key: .*world\.key has mode 0644: private key readable by other users: run chmod 600 `,
		// the same pair's host coverage, with its key mode
		`files\.yaml:10:\d+: sites\[2\]\.tls\.certificate\.cert: .*does not cover third\.example\.com`,
		`files\.yaml:13:\d+: sites\[3\]\.tls\.certificate\.cert: .*holds a private key, not a certificate \(are cert: and key: swapped\?\)`,
	} {
		if code != 1 || !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("file problems: exit %d, want 1 and /%s/ in:\n%s", code, re, stderr)
		}
	}

	// A certificate that is valid but ends within 14 days is served, with
	// a warning: renewal has evidently been failing.
	soonCert, soonKey := pkitest.WriteFiles(t, dir, "soon", ca.Issue(t, pkitest.Leaf{Names: []string{"api.example.com"},
		NotAfter: time.Now().Add(3*24*time.Hour + time.Hour)}))
	soon := write("soon.yaml", fmt.Sprintf(`
sites:
  - hosts: [api.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{upstreams: [http://127.0.0.1:9000]}]
`, soonCert, soonKey))
	stdout, stderr, code = runCLI(t, nil, "config", "validate", soon)
	if code != 0 || !strings.Contains(stdout, "valid") || !regexp.MustCompile(`certificate expires soon: renew it.*days_left=3`).MatchString(stderr) {
		t.Errorf("expiring certificate: exit %d, want 0 with a warning\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	// serve refuses the same file with the same message, before binding.
	_, stderr, code = runCLI(t, nil, "serve", "--config", bad)
	if code != 1 || !strings.Contains(stderr, "bad.yaml:9:19:") {
		t.Fatalf("serve bad config: exit %d\n%s", code, stderr)
	}
}

// TestConfigValidateEveryStage checks that one run of config validate
// reports problems of every stage: decoding (unknown key, wrong type),
// Validate in the rest of the file, and the files of the sites whose
// settings are valid, with a key's problems at key: and a pair's key mode
// and host coverage together (issue 15: this file took four runs).
func TestConfigValidateEveryStage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "cli CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "api", ca.Issue(t, pkitest.Leaf{Names: []string{"api.example.com"}}))
	_, otherKey := pkitest.WriteFiles(t, dir, "other", ca.Issue(t, pkitest.Leaf{Names: []string{"api.example.com"}}))
	oldCert, oldKey := pkitest.WriteFiles(t, dir, "old", ca.Issue(t, pkitest.Leaf{Names: []string{"old.example.com"},
		NotBefore: time.Now().Add(-30 * 24 * time.Hour), NotAfter: time.Now().Add(-10*24*time.Hour - time.Hour)}))
	worldKey := filepath.Join(dir, "world.key")
	data, _ := os.ReadFile(keyFile)
	if err := os.WriteFile(worldKey, data, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "seven.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`sites:
  - hosts: [zero.example.com]
    tls: {certificate: {cert: %[1]s, key: %[2]s}}
    routes:
      - {path: /, upstream: http://127.0.0.1:9000}
  - hosts: [b.example.com]
    tls: {profile: intermediat}
    routes: [{upstreams: [http://127.0.0.1:9000]}]
  - hosts: [api.example.com, www.example.com]
    tls:
      certificate:
        cert: %[1]s
        key: %[3]s
    routes: [{upstreams: [http://127.0.0.1:9000]}]
  - hosts: [mismatch.example.com]
    tls:
      certificate:
        cert: %[1]s
        key: %[4]s
    routes: [{upstreams: [http://127.0.0.1:9000]}]
  - hosts: [old.example.com]
    tls:
      certificate:
        cert: %[5]s
        key: %[6]s
    routes: [{upstreams: [http://127.0.0.1:9000]}]
timeouts: {idle: 5}
log: {format: xml}
`, certFile, keyFile, worldKey, otherKey, oldCert, oldKey)), 0o600)
	_, stderr, code := runCLI(t, nil, "config", "validate", path)
	for _, re := range []string{
		`tlsgate: error: 8 problems:`,
		// decoding
		`seven\.yaml:5:19: sites\[0\]\.routes\[0\]\.upstream: unknown key "upstream" \(did you mean "upstreams"\?\)`,
		`seven\.yaml:27:18: timeouts\.idle: expected a duration such as 10s or 2m, got the number "5" \(5s for seconds\?\)`,
		// validation, despite the decoding problems
		`seven\.yaml:7:20: sites\[1\]\.tls\.profile: .*intermediat`,
		`seven\.yaml:28:15: log\.format: "xml" is not a log format`,
		// files of the valid sites, despite the problems above; the
		// key's at key:, and both problems of the same pair
		`seven\.yaml:13:14: sites\[2\]\.tls\.certificate\.key: .*world\.key has mode 0644: private key readable by other users: run chmod 600 `,
		`seven\.yaml:12:15: sites\[2\]\.tls\.certificate\.cert: .*does not cover www\.example\.com`,
		`seven\.yaml:19:14: sites\[3\]\.tls\.certificate\.key: the key .*other\.key does not match the certificate`,
		`seven\.yaml:24:15: sites\[4\]\.tls\.certificate\.cert: .*the certificate expired on \S+ \(10 days ago\): install a renewed one`,
	} {
		if code != 1 || !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("exit %d, want 1 and /%s/ in:\n%s", code, re, stderr)
		}
	}
}

// proc is a running tlsgate process whose output is collected.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	exited chan error
}

func start(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	so, _ := p.cmd.StdoutPipe()
	se, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	copyTo := func(dst *bytes.Buffer, src io.Reader) {
		defer wg.Done()
		s := bufio.NewScanner(src)
		for s.Scan() {
			p.mu.Lock()
			dst.WriteString(s.Text() + "\n")
			p.mu.Unlock()
		}
	}
	go copyTo(&p.stdout, so)
	go copyTo(&p.stderr, se)
	go func() { wg.Wait(); p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", p.out(), p.errOut())
		}
	})
	return p
}

func (p *proc) out() string    { p.mu.Lock(); defer p.mu.Unlock(); return p.stdout.String() }
func (p *proc) errOut() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }

// waitFor polls f until it matches re or 15 s pass.
func waitFor(t testing.TB, what string, f func() string, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(f()); m != nil {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (/%s/) in:\n%s", what, re, f())
	return nil
}

func TestDemo(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	data := t.TempDir()
	var firstRoot []byte
	for run := 0; run < 2; run++ {
		p := start(t, nil, "demo", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", data, "--log-format", "json")
		waitFor(t, "the printed instructions", p.out, `Press Ctrl-C to stop`)
		admin := waitFor(t, "the status page address", p.out, `Status page: (http://127\.0\.0\.1:\d+/)`)[1]
		for path, want := range map[string]string{"": "Certificates", "metrics": "tlsgate_certificate_not_after_timestamp_seconds"} {
			resp, err := http.Get(admin + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
				t.Errorf("demo admin %s: %d, lacks %q", admin+path, resp.StatusCode, want)
			}
		}
		lines := regexp.MustCompile(`(?m)^  (curl [^(\n]*?)\s*(\(403[^)]*\))?$`).FindAllStringSubmatch(p.out(), -1)
		if len(lines) != 5 {
			t.Fatalf("demo printed %d curl lines, want 5:\n%s", len(lines), p.out())
		}
		for _, l := range lines {
			args := strings.Fields(l[1])[1:]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--fail-with-body"}, args...)...).CombinedOutput()
			cancel()
			if l[2] != "" { // the line that shows the refusal
				if err == nil || !strings.Contains(string(out), "client certificate required: no certificate") {
					t.Fatalf("printed line %q should show the 403: %v\n%s", l[1], err, out)
				}
				continue
			}
			if err != nil {
				t.Fatalf("printed line %q does not work: %v\n%s", l[1], err, out)
			}
			switch {
			case strings.Contains(l[1], "/api/health") && !strings.Contains(l[1], "-i"):
				if !strings.Contains(string(out), `"status": "ok"`) {
					t.Errorf("%s: %s", l[1], out)
				}
			case strings.Contains(l[1], "-i http://"):
				if !strings.Contains(string(out), "301 Moved Permanently") {
					t.Errorf("%s: %s", l[1], out)
				}
			case strings.Contains(l[1], "/internal/payments"):
				for _, want := range []string{`"X-Forwarded-Proto": "https"`, `"X-Client-Verify": "SUCCESS"`,
					`"X-Client-San-Uri": "spiffe://tlsgate.demo/client"`, `"X-Client-Dn": "CN=demo-client"`} {
					if !strings.Contains(string(out), want) {
						t.Errorf("%s: lacks %s: %s", l[1], want, out)
					}
				}
			}
		}
		if run == 0 {
			checkDemoHTTP3(t, p.out())
		}
		root, err := os.ReadFile(filepath.Join(data, "ca", "root.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			firstRoot = root
			for _, k := range []string{"root.key", "intermediate.key"} {
				fi, err := os.Stat(filepath.Join(data, "ca", k))
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("%s: mode %v, err %v; want 0600", k, fi.Mode().Perm(), err)
				}
			}
		} else if !bytes.Equal(root, firstRoot) {
			t.Fatal("the second run made a new CA root instead of reusing the first")
		}
		// Ctrl-C stops it cleanly.
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-p.exited:
			if err != nil {
				t.Fatalf("demo exit after SIGINT: %v\n%s", err, p.errOut())
			}
		case <-time.After(15 * time.Second):
			t.Fatal("demo did not stop on SIGINT")
		}
		p.exited <- nil // for the cleanup
	}
}

func TestProxyCommand(t *testing.T) {
	t.Parallel()
	backend := httpBackend(t)
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "proxy CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "p", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}))

	p := start(t, nil, "proxy", "--from", "127.0.0.1:0", "--to", backend, "--cert", certFile, "--key", keyFile, "--access-log=false", "--log-format", "json")
	m := waitFor(t, "the proxy address", p.out, `proxying https://(127\.0\.0\.1:\d+) ->`)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}}
	resp, err := c.Get("https://" + m[1] + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from backend /hello\n" || resp.ProtoMajor != 2 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("proxy: %d %s %q %v", resp.StatusCode, resp.Proto, body, resp.Header)
	}
	if strings.Contains(p.errOut(), `"msg":"request"`) {
		t.Error("--access-log=false still logs requests")
	}

	// Without --cert the local CA issues the certificate.
	data := t.TempDir()
	p2 := start(t, nil, "proxy", "--from", "localhost:0", "--to", backend, "--data-dir", data, "--log-format", "json")
	m = waitFor(t, "the proxy address", p2.out, `proxying https://localhost:(\d+) ->`)
	waitFor(t, "the CA hint", p2.out, `trust .*root\.pem`)
	rootPEM, err := os.ReadFile(filepath.Join(data, "ca", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	c2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
		DialContext: func(ctx context.Context, n, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, n, "127.0.0.1:"+m[1])
		}}}
	resp, err = c2.Get("https://localhost/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("local-CA proxy: %d", resp.StatusCode)
	}
}

func httpBackend(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprintf(w, "hello from backend %s\n", r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestServeSignals drives `tlsgate serve` with real signals: SIGHUP with a
// broken config is refused and the old config keeps serving, SIGHUP with a
// good one applies it, SIGTERM lets an in-flight request finish.
func TestServeSignals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "signal CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "s", ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}}))
	backend := httpBackend(t)
	port := testpeer.FreePort(t)
	cfgText := func(path string) string {
		return fmt.Sprintf(`
listen: {https: "127.0.0.1:%d", http: "off"}
log: {format: json}
sites:
  - hosts: [127.0.0.1]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{path: %s, upstreams: [%s]}]
`, port, certFile, keyFile, path, backend)
	}
	cfgPath := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(cfgPath, []byte(cfgText("/v1/")), 0o600)
	pidFile := filepath.Join(dir, "run", "tlsgate.pid")
	os.Mkdir(filepath.Dir(pidFile), 0o755)
	p := start(t, nil, "serve", "--config", cfgPath, "--pid-file", pidFile)
	waitFor(t, "serving", p.errOut, `"msg":"serving"`)
	// The signals go to the pid in --pid-file, as README says to send them.
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("--pid-file: %v", err)
	}
	if want := fmt.Sprintf("%d\n", p.cmd.Process.Pid); string(data) != want {
		t.Fatalf("--pid-file holds %q, want %q", data, want)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	hup := func() {
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	status := func(path string) int {
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d%s", port, path))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("/v1/x"); s != 200 {
		t.Fatalf("/v1/x: %d", s)
	}

	os.WriteFile(cfgPath, []byte(strings.Replace(cfgText("/v2/"), "upstreams:", "upstreamz:", 1)), 0o600)
	hup()
	waitFor(t, "the refused reload", p.errOut, `"msg":"reload refused".*tlsgate\.yaml:7:27: sites\[0\]\.routes\[0\]\.upstreamz: unknown key`)
	if s := status("/v1/x"); s != 200 {
		t.Fatalf("after a refused reload /v1/x: %d", s)
	}

	os.WriteFile(cfgPath, []byte(cfgText("/v2/")), 0o600)
	hup()
	waitFor(t, "the reload", p.errOut, `"msg":"reloaded"`)
	if s1, s2 := status("/v1/x"), status("/v2/x"); s1 != 404 || s2 != 200 {
		t.Fatalf("after reload: /v1/x %d (want 404), /v2/x %d (want 200)", s1, s2)
	}

	// SIGTERM while a request is in flight: it completes, then exit 0.
	res := make(chan int, 1)
	go func() { res <- status("/v2/slow?sleep=1500ms") }()
	time.Sleep(400 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if s := <-res; s != 200 {
		t.Fatalf("in-flight request during SIGTERM: %d", s)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		p.exited <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--pid-file not removed at exit: %v", err)
	}
}

// TestProbeSurvivesSIGHUP: a "kill -HUP" meant for a gateway does not
// stop a probe exporter on the same host.
func TestProbeSurvivesSIGHUP(t *testing.T) {
	t.Parallel()
	p := start(t, nil, "probe", "--listen", "127.0.0.1:0", "--log-format", "text")
	addr := waitFor(t, "listening", p.errOut, `probe exporter listening.* addr=(\S+)`)[1]
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the ignored SIGHUP", p.errOut, `SIGHUP ignored`)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	resp.Body.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		p.exited <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// checkDemoHTTP3 runs the demo's printed SPKI command and checks that it
// names the leaf the gateway serves over QUIC to a client that, as
// Chromium with an IP address, sends no SNI: the value the printed
// Chromium line trusts.
func checkDemoHTTP3(t *testing.T, out string) {
	t.Helper()
	testpeer.Require(t, "openssl")
	m := regexp.MustCompile(`(?m)^  (SPKI=.*)$`).FindStringSubmatch(out)
	port := regexp.MustCompile(`--origin-to-force-quic-on=127\.0\.0\.1:(\d+) `).FindStringSubmatch(out)
	if m == nil || port == nil {
		t.Fatalf("demo printed no HTTP/3 instructions:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	printed, err := exec.CommandContext(ctx, "sh", "-c", m[1]+`; printf %s "$SPKI"`).Output()
	if err != nil {
		t.Fatalf("%s: %v", m[1], err)
	}
	conn, err := quic.DialAddr(ctx, "127.0.0.1:"+port[1], &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h3"}}, nil)
	if err != nil {
		t.Fatalf("QUIC handshake with the demo: %v", err)
	}
	defer conn.CloseWithError(0, "")
	sum := sha256.Sum256(conn.ConnectionState().TLS.PeerCertificates[0].RawSubjectPublicKeyInfo)
	if want := base64.StdEncoding.EncodeToString(sum[:]); string(printed) != want {
		t.Errorf("the printed SPKI command gives %q; the leaf served over QUIC has %q", printed, want)
	}
}
