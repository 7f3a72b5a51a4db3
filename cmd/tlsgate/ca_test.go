package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

func TestCAInitRefusesAndProtectsKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	if _, stderr, code := runCLI(t, nil, "ca", "init", "--dir", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("CA dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	for _, k := range []string{"root.key", "intermediate.key"} {
		fi, err := os.Stat(filepath.Join(dir, k))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v (%v), want 0600", k, fi.Mode().Perm(), err)
		}
	}
	root, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	_, stderr, code := runCLI(t, nil, "ca", "init", "--dir", dir)
	if code != 1 || !strings.Contains(stderr, "a CA already exists there") {
		t.Fatalf("second init: exit %d: %s", code, stderr)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "root.pem")); string(again) != string(root) {
		t.Fatal("second init changed the root")
	}
	if _, stderr, code := runCLI(t, nil, "ca", "list", "--dir", filepath.Join(t.TempDir(), "none")); code != 1 || !strings.Contains(stderr, "run 'tlsgate ca init' first") {
		t.Fatalf("list without a CA: exit %d: %s", code, stderr)
	}
}

// TestCAIssueEveryKeyType issues a server and a client certificate for
// each key type and checks them with Go's verifier and with openssl.
func TestCAIssueEveryKeyType(t *testing.T) {
	t.Parallel()
	openssl := testpeer.Require(t, "openssl")
	for _, kt := range []string{"ecdsa-p256", "rsa-2048", "rsa-3072", "ed25519"} {
		t.Run(kt, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			dir, out := filepath.Join(base, "ca"), filepath.Join(base, "out")
			if _, stderr, code := runCLI(t, nil, "ca", "init", "--dir", dir, "--key-type", kt); code != 0 {
				t.Fatalf("init: %s", stderr)
			}
			stdout, stderr, code := runCLI(t, nil, "ca", "issue", "server", "api.internal", "10.0.0.5", "--dir", dir, "--out", out, "--key-type", kt)
			if code != 0 {
				t.Fatalf("issue server: %s", stderr)
			}
			if !regexp.MustCompile(`issued server certificate CN=api\.internal, serial [0-9a-f]+, valid until `).MatchString(stdout) {
				t.Errorf("issue output: %s", stdout)
			}
			if _, stderr, code := runCLI(t, nil, "ca", "issue", "client", "payments", "--uri", "spiffe://example.org/payments", "--dir", dir, "--out", out, "--key-type", kt); code != 0 {
				t.Fatalf("issue client: %s", stderr)
			}
			root := readCert(t, filepath.Join(dir, "root.pem"))
			inter := readCert(t, filepath.Join(dir, "intermediate.pem"))
			roots, inters := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(root)
			inters.AddCert(inter)

			srv := readCert(t, filepath.Join(out, "api.internal.pem"))
			if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "api.internal"}); err != nil {
				t.Errorf("server certificate does not verify for api.internal: %v", err)
			}
			if len(srv.IPAddresses) != 1 || srv.IPAddresses[0].String() != "10.0.0.5" {
				t.Errorf("server IP SANs %v", srv.IPAddresses)
			}
			if d := srv.NotAfter.Sub(srv.NotBefore); d < 89*24*time.Hour || d > 91*24*time.Hour {
				t.Errorf("server validity %v, want 90 days", d)
			}
			cli := readCert(t, filepath.Join(out, "payments.pem"))
			if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("client certificate does not verify for client auth: %v", err)
			}
			if len(cli.URIs) != 1 || cli.URIs[0].String() != "spiffe://example.org/payments" {
				t.Errorf("client URI SANs %v", cli.URIs)
			}
			if d := cli.NotAfter.Sub(cli.NotBefore); d < 29*24*time.Hour || d > 31*24*time.Hour {
				t.Errorf("client validity %v, want 30 days by default", d)
			}
			if fi, err := os.Stat(filepath.Join(out, "payments.key")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("client key mode %v (%v)", fi.Mode().Perm(), err)
			}
			// The chain file serves as-is: leaf then intermediate.
			if chain := readCerts(t, filepath.Join(out, "api.internal.chain.pem")); len(chain) != 2 || !chain[1].Equal(inter) {
				t.Errorf("chain file holds %d certificates, want leaf + intermediate", len(chain))
			}
			// openssl agrees.
			o, err := runTool(t, openssl, "verify", "-CAfile", filepath.Join(dir, "root.pem"), "-untrusted", filepath.Join(dir, "intermediate.pem"),
				filepath.Join(out, "api.internal.pem"), filepath.Join(out, "payments.pem"))
			if err != nil || strings.Count(o, ": OK") != 2 {
				t.Errorf("openssl verify: %v\n%s", err, o)
			}
		})
	}
}

func TestCAIssueRefusesToOverwrite(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir, out := filepath.Join(base, "ca"), filepath.Join(base, "out")
	runCLI(t, nil, "ca", "init", "--dir", dir)
	if _, stderr, code := runCLI(t, nil, "ca", "issue", "client", "svc", "--dir", dir, "--out", out); code != 0 {
		t.Fatal(stderr)
	}
	key, _ := os.ReadFile(filepath.Join(out, "svc.key"))
	_, stderr, code := runCLI(t, nil, "ca", "issue", "client", "svc", "--dir", dir, "--out", out)
	if code != 1 || !strings.Contains(stderr, "svc.pem already exists") || !strings.Contains(stderr, "--force") {
		t.Fatalf("second issue: exit %d: %s", code, stderr)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "svc.key")); string(again) != string(key) {
		t.Fatal("refused issue still replaced the key")
	}
	if _, stderr, code := runCLI(t, nil, "ca", "issue", "client", "svc", "--dir", dir, "--out", out, "--force"); code != 0 {
		t.Fatalf("--force: %s", stderr)
	}
	// Usage errors exit 2.
	for _, args := range [][]string{
		{"ca", "issue", "client", "a", "b", "--dir", dir},
		{"ca", "issue", "client", "a", "--uri", "not a uri", "--dir", dir},
		{"ca", "issue", "server", "--dir", dir},
		{"ca", "issue", "robot", "x"},
		{"ca", "init", "--key-type", "dsa", "--dir", filepath.Join(base, "other")},
	} {
		if _, stderr, code := runCLI(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, stderr)
		}
	}
}

func TestCAPKCS12(t *testing.T) {
	t.Parallel()
	openssl := testpeer.Require(t, "openssl")
	base := t.TempDir()
	dir, out := filepath.Join(base, "ca"), filepath.Join(base, "out")
	runCLI(t, nil, "ca", "init", "--dir", dir)
	if _, stderr, code := runCLI(t, nil, "ca", "issue", "client", "payments", "--p12", "--dir", dir, "--out", out); code != 0 {
		t.Fatal(stderr)
	}
	pass, err := os.ReadFile(filepath.Join(out, "payments.p12.pass"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(out, "payments.p12"))
	key, cert, cas, err := pkcs12.DecodeChain(data, strings.TrimSpace(string(pass)))
	if err != nil || key == nil || cert.Subject.CommonName != "payments" || len(cas) != 1 {
		t.Fatalf("PKCS#12 decode: %v (cert %v, %d CA certs)", err, cert, len(cas))
	}
	for _, f := range []string{"payments.p12", "payments.p12.pass"} {
		if fi, _ := os.Stat(filepath.Join(out, f)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	o, err := runTool(t, openssl, "pkcs12", "-in", filepath.Join(out, "payments.p12"), "-passin", "file:"+filepath.Join(out, "payments.p12.pass"), "-nodes", "-info")
	if err != nil || !strings.Contains(o, "subject=CN = payments") || !strings.Contains(o, "PRIVATE KEY") {
		t.Fatalf("openssl cannot read the bundle: %v\n%s", err, o)
	}
}

// TestCARevokeAndCRL revokes one of two certificates and checks the CRL
// with openssl: signed by the intermediate, listing exactly the revoked one.
func TestCARevokeAndCRL(t *testing.T) {
	t.Parallel()
	openssl := testpeer.Require(t, "openssl")
	base := t.TempDir()
	dir, out := filepath.Join(base, "ca"), filepath.Join(base, "out")
	runCLI(t, nil, "ca", "init", "--dir", dir)
	runCLI(t, nil, "ca", "issue", "client", "keep", "--dir", dir, "--out", out)
	runCLI(t, nil, "ca", "issue", "client", "drop", "--dir", dir, "--out", out)
	stdout, stderr, code := runCLI(t, nil, "ca", "list", "--json", "--dir", dir)
	if code != 0 {
		t.Fatal(stderr)
	}
	var rows []struct {
		Serial, Subject, Status string
		DaysLeft                int `json:"days_left"`
	}
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("list --json: %v\n%s", err, stdout)
	}
	var drop string
	for _, r := range rows {
		if r.Status != "valid" || r.DaysLeft != 30 {
			t.Errorf("fresh certificate listed as %s with %d days left", r.Status, r.DaysLeft)
		}
		if r.Subject == "CN=drop" {
			drop = r.Serial
		}
	}
	// The serial is accepted the way openssl prints it: upper case with colons.
	var colons []string
	up := strings.ToUpper(drop)
	for i := 0; i < len(up); i += 2 {
		colons = append(colons, up[i:min(i+2, len(up))])
	}
	// Free text is refused, with the reasons that are accepted.
	if _, stderr, code := runCLI(t, nil, "ca", "revoke", drop, "--reason", "lost laptop", "--dir", dir); code != 2 ||
		!strings.Contains(stderr, `unknown revocation reason "lost laptop"`) || !strings.Contains(stderr, "keyCompromise, cACompromise, affiliationChanged") {
		t.Fatalf("revoke --reason 'lost laptop': exit %d: %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, nil, "ca", "revoke", strings.Join(colons, ":"), "--reason", "keycompromise", "--dir", dir); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	if _, stderr, code := runCLI(t, nil, "ca", "revoke", drop, "--dir", dir); code != 1 || !strings.Contains(stderr, "already revoked") {
		t.Fatalf("second revoke: exit %d: %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, nil, "ca", "revoke", "abcdef", "--dir", dir); code != 1 || !strings.Contains(stderr, "no certificate with that serial") {
		t.Fatalf("unknown serial: exit %d: %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, nil, "ca", "crl", "--dir", dir); code != 0 {
		t.Fatalf("crl: %s", stderr)
	}
	bundle := filepath.Join(base, "bundle.pem")
	inter, _ := os.ReadFile(filepath.Join(dir, "intermediate.pem"))
	root, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	os.WriteFile(bundle, append(inter, root...), 0o644)
	o, err := runTool(t, openssl, "crl", "-in", filepath.Join(dir, "crl.pem"), "-CAfile", bundle, "-verify", "-noout", "-text")
	if err != nil || !strings.Contains(o, "verify OK") {
		t.Fatalf("openssl crl -verify: %v\n%s", err, o)
	}
	listed := regexp.MustCompile(`Serial Number: ([0-9A-F]+)`).FindAllStringSubmatch(o, -1)
	if len(listed) != 1 || !strings.EqualFold(strings.TrimLeft(listed[0][1], "0"), drop) {
		t.Fatalf("CRL lists %v, want only %s\n%s", listed, drop, o)
	}
	if !regexp.MustCompile(`X509v3 CRL Reason Code:\s+Key Compromise`).MatchString(o) {
		t.Errorf("the CRL entry has no keyCompromise reason code:\n%s", o)
	}
	// openssl refuses the revoked certificate when checking the CRL, and
	// accepts the other.
	for name, want := range map[string]string{"drop": "certificate revoked", "keep": ": OK"} {
		o, _ := runTool(t, openssl, "verify", "-crl_check", "-CAfile", bundle, "-CRLfile", filepath.Join(dir, "crl.pem"), filepath.Join(out, name+".pem"))
		if !strings.Contains(o, want) {
			t.Errorf("openssl verify -crl_check %s: want %q in\n%s", name, want, o)
		}
	}
	stdout, _, _ = runCLI(t, nil, "ca", "list", "--dir", dir)
	if !regexp.MustCompile(`(?m)^` + drop + `\s+client\s+CN=drop.*revoked$`).MatchString(stdout) {
		t.Errorf("list does not show the revocation:\n%s", stdout)
	}
	// No temporary files from the write-then-rename are left behind.
	entries, _ := os.ReadDir(filepath.Join(dir, "issued"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover temporary file %s", e.Name())
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cs := readCerts(t, path)
	if len(cs) == 0 {
		t.Fatalf("%s holds no certificate", path)
	}
	return cs[0]
}

func readCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// run executes a real program (openssl) with a deadline.
func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// TestCAIssueStaysInOut: a NAME or --out that once made 'ca issue' write
// beside --out (".", "..": filepath.Join cleaned them away before ".pem"
// was appended) or certify a path ("../../evil.test") is refused before
// anything is issued or written, and the names that should work still do.
func TestCAIssueStaysInOut(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "ca")
	if _, stderr, code := runCLI(t, nil, "ca", "init", "--dir", dir); code != 0 {
		t.Fatal(stderr)
	}
	work := filepath.Join(base, "work") // everything 'ca issue' writes must stay in work/outdir/sub
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "outdir", "sub")
	notAFile := filepath.Join(work, "file")
	os.WriteFile(notAFile, []byte("x"), 0o644)
	ca := []string{"--dir", dir}

	bad := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"dotdot", []string{"server", ".."}, 2, `".." is not a DNS name`},
		{"dot", []string{"server", "."}, 2, `"." is not a DNS name`},
		{"traversal", []string{"server", "../../evil.test"}, 2, `"../../evil.test" is not a DNS name`},
		{"slash", []string{"server", "a/b.test"}, 2, `"a/b.test" is not a DNS name`},
		{"backslash", []string{"server", `a\b.test`}, 2, `is not a DNS name`},
		{"space", []string{"server", "a b.test"}, 2, `is not a DNS name`},
		{"control", []string{"server", "a\nb.test"}, 2, `is not a DNS name`},
		{"empty", []string{"server", ""}, 2, `"" is not a DNS name`},
		{"empty label", []string{"server", "a..test"}, 2, `is not a DNS name: a label is empty`},
		{"leading hyphen", []string{"server", "--", "-x.test"}, 2, `is not a DNS name`},
		{"upper case", []string{"server", "API.internal"}, 2, `lower case`},
		{"unicode", []string{"server", "bücher.example"}, 2, `xn--`},
		{"inner wildcard", []string{"server", "a.*.test"}, 2, `wildcard`},
		{"IP zone", []string{"server", "fe80::1%eth0"}, 2, `zone`},
		{"second name", []string{"server", "ok.test", "../x"}, 2, `"../x" is not a DNS name`},
		{"client traversal", []string{"client", "../../evil"}, 2, `"../../evil" is not a client name`},
		{"client dotdot", []string{"client", ".."}, 2, `".." is not a client name`},
		{"client hidden", []string{"client", ".svc"}, 2, `".svc" is not a client name`},
		{"client slash", []string{"client", "a/b"}, 2, `"a/b" is not a client name`},
		{"client wildcard", []string{"client", "*.example.com"}, 2, `is not a client name`},
		{"client --dns", []string{"client", "svc", "--dns", "../x"}, 2, `--dns "../x" is not a DNS name`},
		{"uri user info", []string{"client", "svc", "--uri", "spiffe://user@example.org/svc"}, 2, `user info`},
		{"uri relative", []string{"client", "svc", "--uri", "example.org/svc"}, 2, `scheme`},
		{"out empty", []string{"server", "ok.test", "--out", ""}, 2, `--out`},
		{"out is a file", []string{"server", "ok.test", "--out", notAFile}, 1, notAFile},
	}
	walk := func() []string {
		var paths []string
		filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
			if err == nil {
				paths = append(paths, p)
			}
			return nil
		})
		return paths
	}
	issued := func() int { e, _ := os.ReadDir(filepath.Join(dir, "issued")); return len(e) }
	for _, c := range bad {
		before, records := walk(), issued()
		args := append([]string{"ca", "issue"}, c.args...)
		if !slices.Contains(c.args, "--out") {
			args = append(args, "--out", out)
		}
		_, stderr, code := runCLI(t, nil, append(args, ca...)...)
		if code != c.code || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "tlsgate: hint: ") {
			t.Errorf("%s: exit %d, want %d with %q and a hint:\n%s", c.name, code, c.code, c.want, stderr)
		}
		if after := walk(); !slices.Equal(before, after) {
			var added []string
			for _, p := range after {
				if !slices.Contains(before, p) {
					added = append(added, strings.TrimPrefix(p, work))
				}
			}
			t.Errorf("%s: files changed, added %q", c.name, added)
		}
		if n := issued(); n != records {
			t.Errorf("%s: a certificate was issued (%d records, was %d)", c.name, n, records)
		}
	}

	// --out outdir/sub is created (0700: it holds private keys) and every
	// file lands in it, for DNS names, IPv6 and wildcards, and client names
	// with a SPIFFE ID.
	good := []struct {
		args  []string
		files []string
	}{
		{[]string{"server", "api.internal", "10.0.0.5"}, []string{"api.internal.pem", "api.internal.key", "api.internal.chain.pem"}},
		{[]string{"server", "2001:db8::5", "::1"}, []string{"2001_db8__5.pem"}},
		{[]string{"server", "*.svc.internal"}, []string{"_.svc.internal.pem"}},
		{[]string{"server", "xn--bcher-kva.example"}, []string{"xn--bcher-kva.example.pem"}},
		{[]string{"client", "payments", "--uri", "spiffe://example.org/ns/prod/sa/payments", "--p12"}, []string{"payments.pem", "payments.p12", "payments.p12.pass"}},
		{[]string{"client", "alice_b@example.com", "--dns", "alice.example.com"}, []string{"alice_b@example.com.key"}},
	}
	for _, g := range good {
		args := append(append([]string{"ca", "issue"}, g.args...), append([]string{"--out", out}, ca...)...)
		if _, stderr, code := runCLI(t, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", g.args, code, stderr)
		}
		for _, f := range g.files {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("%v: %v", g.args, err)
			}
		}
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("--out created with mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	for _, p := range walk() {
		if rel, _ := filepath.Rel(out, p); p != work && p != notAFile && p != filepath.Dir(out) && (rel == ".." || strings.HasPrefix(rel, "../")) {
			t.Errorf("%s written outside --out", p)
		}
	}
	cli := readCert(t, filepath.Join(out, "alice_b@example.com.pem"))
	if cli.Subject.CommonName != "alice_b@example.com" || !slices.Equal(cli.DNSNames, []string{"alice.example.com"}) {
		t.Errorf("client name that is no DNS name: CN %q, DNS SANs %q (want it in the CN only)", cli.Subject.CommonName, cli.DNSNames)
	}

	// A symlink planted at a target name is never followed: without
	// --force it counts as an existing file, with --force it is replaced.
	victim := filepath.Join(work, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	link := filepath.Join(out, "web.test.key")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	os.Remove(victim) // dangling: os.Stat says it does not exist
	if _, stderr, code := runCLI(t, nil, append([]string{"ca", "issue", "server", "web.test", "--out", out}, ca...)...); code != 1 || !strings.Contains(stderr, "web.test.key already exists") {
		t.Errorf("symlink at the key's name: exit %d: %s", code, stderr)
	}
	if _, err := os.Lstat(victim); err == nil {
		t.Error("the symlink's target was created")
	}
	os.WriteFile(victim, []byte("keep"), 0o644)
	if _, stderr, code := runCLI(t, nil, append([]string{"ca", "issue", "server", "web.test", "--out", out, "--force"}, ca...)...); code != 0 {
		t.Fatalf("--force over a symlink: %s", stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Error("--force wrote through the symlink")
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("--force left %s as %v (%v), want a regular file", link, fi.Mode(), err)
	}
}

// TestCAIssuedClientWithGateway: the curl line 'ca issue client' prints
// works against 'tlsgate serve' with client_auth.internal_ca, and so does
// the leaf alone (NAME.pem), which the gateway completes with the
// intermediate. With --crl-url set by 'ca crl', the certificate names the
// distribution point, and the gateway serves the CRL there (ca.serve_crl)
// for openssl to check the certificate against.
func TestCAIssuedClientWithGateway(t *testing.T) {
	t.Parallel()
	curl := testpeer.Require(t, "curl")
	openssl := testpeer.Require(t, "openssl")
	data := t.TempDir()
	dir, out := filepath.Join(data, "ca"), filepath.Join(data, "out")
	httpPort, httpsPort := testpeer.FreePort(t), testpeer.FreePort(t)
	crlURL := fmt.Sprintf("http://127.0.0.1:%d/tlsgate.crl", httpPort)
	runCLI(t, nil, "ca", "init", "--dir", dir)
	if stdout, stderr, code := runCLI(t, nil, "ca", "crl", "--dir", dir, "--crl-url", crlURL); code != 0 || !strings.Contains(stdout, crlURL) {
		t.Fatalf("ca crl --crl-url: exit %d: %s%s", code, stdout, stderr)
	}
	if _, stderr, code := runCLI(t, nil, "ca", "crl", "--dir", dir, "--crl-url", "https://x.example/c.crl"); code != 2 || !strings.Contains(stderr, "http:// URL") {
		t.Errorf("ca crl --crl-url https://...: exit %d: %s", code, stderr)
	}
	stdout, stderr, code := runCLI(t, nil, "ca", "issue", "client", "payments", "--dir", dir, "--out", out)
	if code != 0 {
		t.Fatal(stderr)
	}
	m := regexp.MustCompile(`(?m)^  (curl .*) https://HOST/PATH$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no curl line in:\n%s", stdout)
	}
	if got := readCert(t, filepath.Join(out, "payments.pem")).CRLDistributionPoints; !slices.Equal(got, []string{crlURL}) {
		t.Errorf("issued certificate names %q, want [%s]", got, crlURL)
	}

	cfg := filepath.Join(data, "tlsgate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
data_dir: %s
listen: {https: "127.0.0.1:%d", http: "127.0.0.1:%d"}
log: {format: json}
ca: {crl_url: %q, serve_crl: true}
sites:
  - hosts: [localhost]
    client_auth: {internal_ca: true}
    routes: [{path: /, upstreams: [%s], client_auth: require}]
`, data, httpsPort, httpPort, crlURL, httpBackend(t))), 0o600)
	p := start(t, nil, "serve", "--config", cfg)
	waitFor(t, "serving", p.errOut, `"msg":"serving"`)

	base := []string{"-sS", "--fail-with-body", "--cacert", filepath.Join(dir, "root.pem"), "--resolve", fmt.Sprintf("localhost:%d:127.0.0.1", httpsPort)}
	url := fmt.Sprintf("https://localhost:%d/x", httpsPort)
	printed := strings.Fields(m[1])[1:]
	for name, args := range map[string][]string{
		"printed line": printed,
		"leaf only":    {"--cert", filepath.Join(out, "payments.pem"), "--key", filepath.Join(out, "payments.key")},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		o, err := exec.CommandContext(ctx, curl, append(append(append([]string{}, base...), args...), url)...).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(o), "hello from backend /x") {
			t.Errorf("curl with the %s (%q): %v\n%s", name, args, err, o)
		}
	}

	// openssl fetches the CRL from the distribution point the certificate
	// names, from the gateway.
	bundle := filepath.Join(data, "bundle.pem")
	inter, _ := os.ReadFile(filepath.Join(dir, "intermediate.pem"))
	root, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	os.WriteFile(bundle, append(inter, root...), 0o644)
	o, err := runTool(t, openssl, "verify", "-crl_check", "-crl_download", "-CAfile", bundle, filepath.Join(out, "payments.pem"))
	if err != nil || !strings.Contains(o, ": OK") {
		t.Errorf("openssl verify -crl_download: %v\n%s", err, o)
	}
}

// TestCAIssuePrintsPastableCurl: the printed curl line quotes paths that
// a shell would split, and a shell runs it with the files intact.
func TestCAIssuePrintsPastableCurl(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir, out := filepath.Join(base, "ca"), filepath.Join(base, "it's my certs")
	runCLI(t, nil, "ca", "init", "--dir", dir)
	stdout, stderr, code := runCLI(t, nil, "ca", "issue", "client", "payments", "--dir", dir, "--out", out)
	if code != 0 {
		t.Fatal(stderr)
	}
	m := regexp.MustCompile(`(?m)^  curl (.*) https://HOST/PATH$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no curl line in:\n%s", stdout)
	}
	o, err := exec.Command("sh", "-c", "for a in "+m[1]+`; do printf '%s\n' "$a"; done`).CombinedOutput()
	want := "--cert\n" + filepath.Join(out, "payments.chain.pem") + "\n--key\n" + filepath.Join(out, "payments.key") + "\n"
	if err != nil || string(o) != want {
		t.Errorf("the shell reads the printed arguments as\n%s\nwant\n%s (%v)", o, want, err)
	}
}
