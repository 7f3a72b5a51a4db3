package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tlsgate/tlsgate/internal/datadir"
	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/storage"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// TestCertsListAndRenew runs `tlsgate serve` with an ACME site (Pebble), a
// files site and an internal site, then `tlsgate certs list` and
// `tlsgate certs renew` beside it, as an operator would.
func TestCertsListAndRenew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	httpsPort, httpPort := testpeer.FreePort(t), testpeer.FreePort(t)
	// Pebble gives an order without a profile a random one: the other
	// profiles' lifetimes would show one that certs renew dropped.
	peb := testpeer.StartPebble(t, filepath.Join(dir, "pebble"), testpeer.PebbleOptions{HTTPPort: httpPort, TLSPort: httpsPort,
		Profiles: testpeer.WithDecoys("default", 90*24*time.Hour)})
	ca := pkitest.NewCA(t, "Files CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "files", ca.Issue(t, pkitest.Leaf{Names: []string{"files.example.com"}}))
	backend := httpBackend(t)
	cfgPath := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:%d", http: "127.0.0.1:%d"}
log: {format: json}
acme: {directory: "%s", email: certs-cmd@example.com, ca_roots: [%s], profile: default}
sites:
  - hosts: [certs.example.com]
    tls: {certificate: {source: acme}}
    routes: [{upstreams: [%s]}]
  - hosts: [files.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{upstreams: [%s]}]
  - hosts: [localhost]
    routes: [{upstreams: [%s]}]
`, filepath.Join(dir, "data"), httpsPort, httpPort, peb.Directory, peb.APICAFile, backend, certFile, keyFile, backend, backend)), 0o600)

	p := start(t, nil, "serve", "--config", cfgPath)
	waitFor(t, "the ACME certificate", p.errOut, `"msg":"certificate obtained"`)
	roots := peb.IssuerRoots(t)
	served := func() string {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: "certs.example.com", RootCAs: roots})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
	}
	first := served()

	type row struct {
		Name, Source, Issuer, Serial, LastResult string
		NotAfter                                 time.Time
		DaysLeft                                 *int
	}
	list := func() map[string]row {
		out, errOut, code := runCLI(t, nil, "certs", "list", "--config", cfgPath, "--json")
		if code != 0 {
			t.Fatalf("certs list: exit %d\n%s", code, errOut)
		}
		var raw []struct {
			Name       string    `json:"name"`
			Source     string    `json:"source"`
			Issuer     string    `json:"issuer"`
			Serial     string    `json:"serial"`
			LastResult string    `json:"last_result"`
			NotAfter   time.Time `json:"not_after"`
			DaysLeft   *int      `json:"days_left"`
		}
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("certs list --json: %v\n%s", err, out)
		}
		m := map[string]row{}
		for _, r := range raw {
			m[r.Name] = row{r.Name, r.Source, r.Issuer, r.Serial, r.LastResult, r.NotAfter, r.DaysLeft}
		}
		return m
	}
	rows := list()
	a := rows["certs.example.com"]
	if a.Source != "acme" || a.Serial != first || a.LastResult != "obtained" || a.DaysLeft == nil || *a.DaysLeft < 85 || !strings.Contains(a.Issuer, "Pebble") {
		t.Errorf("acme row: %+v (served serial %s)", a, first)
	}
	if f := rows["files.example.com"]; f.Source != "files" || f.Issuer != "Files CA" || f.DaysLeft == nil {
		t.Errorf("files row: %+v", f)
	}
	if in := rows["localhost"]; in.Source != "internal" {
		t.Errorf("internal row: %+v", in)
	}
	text, _, _ := runCLI(t, nil, "certs", "list", "--config", cfgPath)
	for _, want := range []string{"NAME", "DAYS LEFT", "certs.example.com", "acme", "obtained", "files.example.com"} {
		if !strings.Contains(text, want) {
			t.Errorf("certs list text lacks %q:\n%s", want, text)
		}
	}

	// Not due: nothing ordered.
	out, errOut, code := runCLI(t, nil, "certs", "renew", "--config", cfgPath, "certs.example.com")
	if code != 0 || !strings.Contains(out, "not due for renewal") {
		t.Fatalf("certs renew (not due): exit %d\n%s\n%s", code, out, errOut)
	}
	// Forced: the running gateway holds the challenge ports and answers
	// the CA for the CLI through the shared storage.
	out, errOut, code = runCLI(t, nil, "certs", "renew", "--config", cfgPath, "--force", "certs.example.com")
	if code != 0 || !strings.Contains(out, "new certificate") {
		t.Fatalf("certs renew --force: exit %d\n%s\n%s", code, out, errOut)
	}
	renewed := list()["certs.example.com"]
	if renewed.Serial == first || renewed.LastResult != "renewed" {
		t.Fatalf("after renew --force: %+v (first serial %s)", renewed, first)
	}
	if renewed.DaysLeft == nil || *renewed.DaysLeft < 85 {
		t.Errorf("certs renew --force got a certificate with %v days left, want the default profile's 90: the profile was dropped", renewed.DaysLeft)
	}
	// The gateway serves it after a reload.
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload", p.errOut, `"msg":"reloaded"`)
	if s := served(); s != renewed.Serial {
		t.Errorf("after SIGHUP the gateway serves %s, want the renewed %s", s, renewed.Serial)
	}

	// Mistakes get exit 1 and say why.
	for _, tc := range []struct{ name, want string }{
		{"files.example.com", "source is files, not acme"},
		{"nope.example.com", `no site in ` + cfgPath + ` has the host "nope.example.com"`},
	} {
		_, errOut, code := runCLI(t, nil, "certs", "renew", "--config", cfgPath, tc.name)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("certs renew %s: exit %d, want 1 with %q:\n%s", tc.name, code, tc.want, errOut)
		}
	}
	if _, _, code := runCLI(t, nil, "certs", "renew", "--config", cfgPath); code != 2 {
		t.Errorf("certs renew without NAME: exit %d, want 2", code)
	}
}

// TestCertsRenewFailures: certs renew says what it waits on, gives up
// waiting with the reason, and tells a CA that cannot be reached (its
// name does not resolve, nothing listens there) from a CA that could not
// validate the name, with the hint for each.
func TestCertsRenewFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	peb := testpeer.StartPebble(t, filepath.Join(dir, "pebble"), testpeer.PebbleOptions{}) // every validation fails
	config := func(name, directory, caRoots string) string {
		path := filepath.Join(dir, name+".yaml")
		os.WriteFile(path, fmt.Appendf(nil, `data_dir: %s
listen: {https: "127.0.0.1:%d", http: "127.0.0.1:%d"}
acme: {directory: "%s", email: renew@example.com, ca_roots: [%s], profile: default}
sites:
  - hosts: [renew.example.com]
    tls: {certificate: {source: acme}}
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`, filepath.Join(dir, name+"-data"), testpeer.FreePort(t), testpeer.FreePort(t), directory, caRoots), 0o600)
		return path
	}
	renew := func(cfg string, args ...string) (string, int, time.Duration) {
		start := time.Now()
		_, stderr, code := runCLI(t, nil, append([]string{"certs", "renew", "--config", cfg, "--force", "renew.example.com"}, args...)...)
		return stderr, code, time.Since(start)
	}
	check := func(what, stderr string, code int, want ...string) {
		t.Helper()
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", what, code, stderr)
		}
		if strings.Contains(stderr, "retrying with back-off") {
			t.Errorf("%s: a one-shot renew promises a retry:\n%s", what, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: no %q in:\n%s", what, w, stderr)
			}
		}
	}

	refused := config("refused", "https://"+closedAddr+"/dir", peb.APICAFile)
	stderr, code, _ := renew(refused)
	check("CA refused", stderr, code, "connection refused",
		"tlsgate: hint: nothing accepts connections at the CA's address "+closedAddr+": check acme.directory in "+refused)
	if strings.Contains(stderr, "port 80") {
		t.Errorf("CA refused: blames the challenge ports:\n%s", stderr)
	}

	stderr, code, _ = renew(config("dns", "https://ca.invalid/dir", peb.APICAFile))
	if strings.Contains(stderr, "no such host") {
		check("CA does not resolve", stderr, code, "tlsgate: hint: the CA's host name ca.invalid does not resolve here")
	} else {
		t.Logf("no DNS answer for ca.invalid here, not checked:\n%s", stderr)
	}

	challenge := config("challenge", peb.Directory, peb.APICAFile)
	stderr, code, _ = renew(challenge)
	check("challenge failed", stderr, code, "tlsgate: hint: the CA could not validate the name: it must reach this host on port 80")

	// Another process holds the issuance lock: renew says so, then gives up.
	store := storage.NewFile(datadir.ACME(filepath.Join(dir, "refused-data")), nil)
	ctx := context.Background()
	if err := store.Lock(ctx, "issue_cert_renew.example.com"); err != nil {
		t.Fatal(err)
	}
	stderr, code, took := renew(refused, "--lock-timeout", "2s")
	check("lock held", stderr, code,
		"tlsgate: waiting for the issuance lock of renew.example.com: another process or node holds it",
		"gave up after 2s waiting for its issuance lock",
		"tlsgate: hint: a gateway sharing this storage is issuing renew.example.com")
	if took > 15*time.Second {
		t.Errorf("lock held: took %v with --lock-timeout 2s", took)
	}
	// Released while renew waits: it goes on to the CA.
	go func() {
		time.Sleep(2 * time.Second)
		store.Unlock(ctx, "issue_cert_renew.example.com")
	}()
	stderr, code, _ = renew(refused, "--lock-timeout", "30s")
	check("lock released", stderr, code, "tlsgate: waiting for the issuance lock", "tlsgate: got the issuance lock of renew.example.com after",
		"nothing accepts connections at the CA's address")
}

// heldLock is a storage whose every lock is held by someone else until
// released is closed.
type heldLock struct {
	storage.Storage
	released chan struct{}
}

func (h heldLock) Lock(ctx context.Context, name string) error {
	select {
	case <-h.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestLockWatchProgress: while renew waits for the issuance lock it says
// so after a second, then every 15 s how long it has waited, and gives
// up at --lock-timeout; other locks are not watched.
func TestLockWatchProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		w := &lockWatch{Storage: heldLock{released: make(chan struct{})}, key: "issue_cert_a.example.com", name: "a.example.com", timeout: 40 * time.Second, out: &out}
		err := w.Lock(context.Background(), "issue_cert_a.example.com")
		if err == nil || !w.timedOut.Load() {
			t.Fatalf("err %v, timed out %v", err, w.timedOut.Load())
		}
		want := "tlsgate: waiting for the issuance lock of a.example.com: another process or node holds it (a gateway issuing or retrying this name?); giving up in 40s\n" +
			"tlsgate: still waiting for the issuance lock of a.example.com (16s of 40s)\n" +
			"tlsgate: still waiting for the issuance lock of a.example.com (31s of 40s)\n"
		if out.String() != want {
			t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
		}

		out.Reset()
		released := make(chan struct{})
		w = &lockWatch{Storage: heldLock{released: released}, key: "issue_cert_a.example.com", name: "a.example.com", timeout: time.Minute, out: &out}
		time.AfterFunc(5*time.Second, func() { close(released) })
		if err := w.Lock(context.Background(), "issue_cert_a.example.com"); err != nil || w.timedOut.Load() {
			t.Fatalf("released lock: %v", err)
		}
		if !strings.HasSuffix(out.String(), "tlsgate: got the issuance lock of a.example.com after 5s; asking the CA\n") {
			t.Errorf("released lock:\n%s", out.String())
		}

		out.Reset()
		w = &lockWatch{Storage: heldLock{released: make(chan struct{})}, key: "issue_cert_a.example.com", name: "a.example.com", timeout: time.Minute, out: &out}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Lock(ctx, "other"); !errors.Is(err, context.DeadlineExceeded) || w.timedOut.Load() || out.Len() > 0 {
			t.Errorf("another lock: %v, timed out %v, said %q", err, w.timedOut.Load(), out.String())
		}
	})
}
