package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	if _, stderr, code := runCLI(t, nil, "ca", "revoke", strings.Join(colons, ":"), "--reason", "keyCompromise", "--dir", dir); code != 0 {
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
