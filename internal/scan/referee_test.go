package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// testsslTimeout bounds one testssl.sh run; the selected checks take 20 to
// 60 seconds on a loopback fixture.
const testsslTimeout = 4 * time.Minute

// testsslParallel is how many testssl.sh runs go at once. A run spends much
// of its time in fork and exec of bash and openssl rather than on a core, so
// three at once on two cores finish sooner than two.
const testsslParallel = 3

// refereeRuns runs testssl.sh once per fixture, in the background from
// the start of the test, caching each verdict by fixture.
type refereeRuns struct {
	short bool // -short: nothing was run
	mu    sync.Mutex
	done  map[string]chan struct{}
	out   map[string]map[string]testsslFinding
	errs  map[string]error
}

// testsslFinding is one entry of testssl.sh's flat JSON (--jsonfile).
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

func startReferee(t *testing.T, p *pki, fx []*fixture) *refereeRuns {
	t.Helper()
	rr := &refereeRuns{done: map[string]chan struct{}{}, out: map[string]map[string]testsslFinding{}, errs: map[string]error{}}
	var need []*fixture
	for _, f := range fx {
		if len(f.testssl) > 0 {
			need = append(need, f)
			rr.done[f.name] = make(chan struct{})
		}
	}
	if len(need) == 0 {
		return rr
	}
	if testing.Short() {
		t.Log("-short: the testssl.sh referee is not run (it takes minutes); the fixtures' designs are still checked")
		for _, f := range need {
			close(rr.done[f.name])
		}
		rr.short = true
		return rr
	}
	bin := testpeer.Require(t, "testssl")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	sem := make(chan struct{}, testsslParallel)
	var wg sync.WaitGroup
	for _, f := range need {
		wg.Go(func() {
			defer close(rr.done[f.name])
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			res, err := runTestssl(ctx, bin, dir, p.bundle, f)
			rr.mu.Lock()
			rr.out[f.name], rr.errs[f.name] = res, err
			rr.mu.Unlock()
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return rr
}

// result waits for the fixture's testssl.sh verdict.
func (rr *refereeRuns) result(t *testing.T, f *fixture) map[string]testsslFinding {
	t.Helper()
	select {
	case <-rr.done[f.name]:
	case <-time.After(testsslTimeout * 8):
		t.Fatalf("testssl.sh on %s did not finish", f.name)
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if err := rr.errs[f.name]; err != nil {
		t.Fatalf("testssl.sh on %s: %v", f.name, err)
	}
	return rr.out[f.name]
}

// runTestssl runs testssl.sh's checks for f against its loopback address,
// with the fixtures' roots added to its trust stores.
func runTestssl(ctx context.Context, bin, dir, bundle string, f *fixture) (map[string]testsslFinding, error) {
	ctx, cancel := context.WithTimeout(ctx, testsslTimeout)
	defer cancel()
	sni := f.sni
	if sni == "" {
		sni = fixtureHost
	}
	_, port, _ := strings.Cut(f.addr, ":")
	out := filepath.Join(dir, f.name+".json")
	// No --openssl-timeout: it wraps every openssl call in timeout(1) and
	// makes the run three times slower; testsslTimeout bounds the run.
	args := append([]string{"--quiet", "--warnings", "off", "--color", "0", "-n", "none", "--ip", "127.0.0.1",
		"--connect-timeout", "5", "--add-ca", bundle, "--jsonfile", out}, f.testssl...)
	args = append(args, sni+":"+port)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	began := time.Now()
	log, err := cmd.CombinedOutput()
	if os.Getenv("SCAN_TESTSSL_KEEP") != "" {
		os.WriteFile(filepath.Join(os.Getenv("SCAN_TESTSSL_KEEP"), f.name+".txt"), log, 0o644)
	}
	data, rerr := os.ReadFile(out)
	if rerr != nil {
		return nil, fmt.Errorf("%v after %v (no JSON: %v)\n%s", err, time.Since(began).Round(time.Second), rerr, tail(log, 2000))
	}
	if d := os.Getenv("SCAN_TESTSSL_KEEP"); d != "" {
		os.WriteFile(filepath.Join(d, f.name+".json"), data, 0o644)
	}
	var list []testsslFinding
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", out, err)
	}
	m := map[string]testsslFinding{}
	for _, x := range list {
		m[x.ID] = x
	}
	return m, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// refereeCheck is one comparison of a scan with testssl.sh's JSON. It is
// skipped when testssl.sh has no entry for it (that check was not run).
type refereeCheck struct {
	name string   // the name a fixture's disagreements use
	ids  []string // testssl.sh finding IDs, the first present is compared
	// ours and theirs say whether the thing (a protocol, a weakness, a
	// problem) is there.
	ours   func(r *Result) bool
	theirs func(f testsslFinding) bool
}

var maxAgeRE = regexp.MustCompile(`=(\d+) seconds`)

func startsOffered(f testsslFinding) bool { return strings.HasPrefix(f.Finding, "offered") }

// protocolOffered reads testssl.sh's protocol lines: "offered (OK)",
// "offered with final", SSLv2's "vulnerable with 2 ciphers"; not "not
// offered, and downgraded" nor "connection failed rather than downgrading".
func protocolOffered(f testsslFinding) bool {
	return strings.HasPrefix(f.Finding, "offered") || strings.HasPrefix(f.Finding, "vulnerable")
}

// flagged is a finding testssl.sh rates LOW or worse (SWEET32: "uses 64 bit
// block ciphers" at LOW).
func flagged(f testsslFinding) bool { return f.Severity != "OK" && f.Severity != "INFO" }

func vulnerable(f testsslFinding) bool {
	return strings.Contains(strings.ToUpper(f.Finding), "VULNERABLE") && !strings.Contains(f.Finding, "not vulnerable")
}

func hasFinding(id string) func(r *Result) bool {
	return func(r *Result) bool { return slices.Contains(findingIDs(r), id) }
}

func hasCipher(names ...string) func(r *Result) bool {
	return func(r *Result) bool {
		for _, l := range r.Ciphers {
			for _, s := range l.Suites {
				if slices.Contains(names, s.Cipher) {
					return true
				}
			}
		}
		return false
	}
}

var refereeChecks = func() []refereeCheck {
	var c []refereeCheck
	for _, p := range []struct{ ours, theirs string }{{"SSLv2", "SSLv2"}, {"SSLv3", "SSLv3"}, {"TLS 1.0", "TLS1"}, {"TLS 1.1", "TLS1_1"}, {"TLS 1.2", "TLS1_2"}, {"TLS 1.3", "TLS1_3"}} {
		c = append(c, refereeCheck{name: "protocol " + p.ours, ids: []string{p.theirs},
			ours: func(r *Result) bool { return offered(r, p.ours) }, theirs: protocolOffered})
	}
	c = append(c,
		refereeCheck{"NULL ciphers", []string{"cipherlist_NULL"}, hasFinding("cipher.null"), startsOffered},
		refereeCheck{"anonymous ciphers", []string{"cipherlist_aNULL"}, hasFinding("cipher.anonymous"), startsOffered},
		refereeCheck{"export ciphers", []string{"cipherlist_EXPORT"}, hasFinding("cipher.export"), startsOffered},
		refereeCheck{"3DES/IDEA ciphers", []string{"cipherlist_3DES_IDEA"}, hasCipher("3DES", "IDEA"), startsOffered},
		refereeCheck{"obsolete CBC ciphers", []string{"cipherlist_AVERAGE"}, hasCipher("AES-CBC", "Camellia-CBC", "ARIA-CBC", "SEED"), startsOffered},
		refereeCheck{"AEAD ciphers", []string{"cipherlist_STRONG"}, func(r *Result) bool {
			for _, l := range r.Ciphers {
				for _, s := range l.Suites {
					if s.AEAD {
						return true
					}
				}
			}
			return false
		}, startsOffered},
		// testssl.sh offers the suites forward and reversed, as tlsgate
		// offers pairs; "server" (or "server -- ...") when the server kept
		// its pick for some protocol, "NOT a cipher order configured" or
		// "not a cipher order for TLS 1.3 configured" when it did not.
		refereeCheck{"server cipher order", []string{"cipher_order"}, func(r *Result) bool {
			return slices.ContainsFunc(r.Ciphers, func(l CipherList) bool { return l.ServerOrder })
		}, func(f testsslFinding) bool { return strings.HasPrefix(f.Finding, "server") }},
		refereeCheck{"RC4", []string{"RC4"}, hasFinding("cipher.rc4"), vulnerable},
		refereeCheck{"SWEET32", []string{"SWEET32"}, hasFinding("cipher.64bit_block"), flagged},
		refereeCheck{"Heartbleed", []string{"heartbleed"}, func(r *Result) bool { return r.Features.Heartbleed }, vulnerable},
		refereeCheck{"certificate expired", []string{"cert_expirationStatus"}, hasFinding("cert.expired"), func(f testsslFinding) bool { return strings.Contains(f.Finding, "expired") }},
		// testssl.sh's chain of trust fails for expiry and missing
		// intermediates too; tlsgate reports those apart.
		refereeCheck{"chain of trust", []string{"cert_chain_of_trust"}, func(r *Result) bool {
			c := r.Certificate
			return c != nil && c.Trusted && !c.FetchedIssuer && !c.Expired && !c.NotYetValid
		},
			func(f testsslFinding) bool { return strings.HasPrefix(f.Finding, "passed") }},
		refereeCheck{"self-signed", []string{"cert_chain_of_trust"}, hasFinding("cert.self_signed"), func(f testsslFinding) bool { return strings.Contains(f.Finding, "self signed") }},
		refereeCheck{"name match", []string{"cert_trust"}, func(r *Result) bool { return r.Certificate != nil && r.Certificate.NameMatch },
			func(f testsslFinding) bool { return strings.HasPrefix(f.Finding, "Ok via") }},
		refereeCheck{"SHA-1 signature", []string{"cert_signatureAlgorithm"}, hasFinding("cert.weak_signature"), func(f testsslFinding) bool { return strings.Contains(f.Finding, "SHA1") }},
		refereeCheck{"weak key", []string{"cert_keySize"}, hasFinding("cert.weak_key"), func(f testsslFinding) bool {
			return f.Severity != "OK" && f.Severity != "INFO"
		}},
		refereeCheck{"HSTS", []string{"HSTS_time", "HSTS"}, func(r *Result) bool { return r.HTTP != nil && r.HTTP.HSTS != nil },
			func(f testsslFinding) bool { return f.ID == "HSTS_time" }},
		refereeCheck{"HSTS at least 180 days", []string{"HSTS_time"}, func(r *Result) bool { return r.HTTP != nil && r.HTTP.HSTS != nil && r.HTTP.HSTS.MaxAge >= hstsMin },
			func(f testsslFinding) bool {
				m := maxAgeRE.FindStringSubmatch(f.Finding)
				return len(m) == 2 && len(m[1]) > 0 && atoi(m[1]) >= hstsMin
			}},
	)
	return c
}()

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// checkReferee compares the scan with testssl.sh's verdict. Where they
// disagree the fixture must name the check and why (fixture.disagree);
// a named disagreement that does not happen fails too.
func checkReferee(t *testing.T, f *fixture, r *Result, ts map[string]testsslFinding) {
	t.Helper()
	compared := 0
	seen := map[string]bool{}
	for _, c := range refereeChecks {
		var tf testsslFinding
		found := false
		for _, id := range c.ids {
			if x, ok := ts[id]; ok {
				tf, found = x, true
				break
			}
		}
		if !found {
			continue
		}
		compared++
		ours, theirs := c.ours(r), c.theirs(tf)
		why, expected := f.disagree[c.name]
		switch {
		case ours != theirs && !expected:
			t.Errorf("%s: %s: tlsgate says %v, testssl.sh says %v (%s: %s %q)", f.name, c.name, ours, theirs, tf.ID, tf.Severity, tf.Finding)
		case ours != theirs:
			seen[c.name] = true
			t.Logf("%s: %s: known disagreement with testssl.sh (%q): %s", f.name, c.name, tf.Finding, why)
		case expected:
			t.Errorf("%s: %s: expected a disagreement with testssl.sh (%s) but both say %v", f.name, c.name, why, ours)
		}
	}
	for name := range f.disagree {
		if !seen[name] && !slices.ContainsFunc(refereeChecks, func(c refereeCheck) bool { return c.name == name }) {
			t.Errorf("%s: disagreement %q names no referee check", f.name, name)
		}
	}
	if compared == 0 {
		t.Errorf("%s: testssl.sh's JSON has none of the findings compared (ran %v)", f.name, f.testssl)
	}
	t.Logf("%s: %d checks compared with testssl.sh", f.name, compared)
}
