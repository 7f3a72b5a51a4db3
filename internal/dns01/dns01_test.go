package dns01_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/mholt/acmez/v3/acme"

	"github.com/tlsgate/tlsgate/internal/dns01"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// challenge is a dns-01 challenge for domain as the CA hands it out (for
// *.example.test the identifier is example.test).
func challenge(domain, token string) acme.Challenge {
	return acme.Challenge{
		Type:             acme.ChallengeTypeDNS01,
		Identifier:       acme.Identifier{Type: "dns", Value: domain},
		Token:            token,
		KeyAuthorization: token + ".thumbprint",
	}
}

// rfc2136 returns a provider for k's key.
func rfc2136(k *testpeer.Knot) *dns01.RFC2136 {
	return &dns01.RFC2136{Server: k.Addr, KeyName: k.KeyName, Secret: k.Secret, Timeout: 5 * time.Second}
}

func solver(p dns01.Provider, resolvers ...string) *dns01.Solver {
	return &dns01.Solver{Provider: p, Resolvers: resolvers, PropagationTimeout: 10 * time.Second, PollInterval: 100 * time.Millisecond}
}

// solve presents c's record, waits until it is visible, and removes it.
func solve(ctx context.Context, t *testing.T, s *dns01.Solver, c acme.Challenge) {
	t.Helper()
	if err := s.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestRecordName(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":       "_acme-challenge.example.com.",
		"*.example.com":     "_acme-challenge.example.com.",
		"API.Example.com.":  "_acme-challenge.api.example.com.",
		"*.a.b.example.com": "_acme-challenge.a.b.example.com.",
	} {
		if got := dns01.RecordName(in); got != want {
			t.Errorf("RecordName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPresentCleanUp solves the two challenges of a certificate for
// api.example.test and *.api.example.test at once: both values share one
// name, and each CleanUp removes its own value only.
func TestPresentCleanUp(t *testing.T) {
	t.Parallel()
	k := testpeer.StartKnot(t, t.TempDir(), testpeer.KnotZone{Name: "example.test"})
	s := solver(rfc2136(k), k.Addr)
	ctx := ctx(t)
	base, wild := challenge("api.example.test", "tok1"), challenge("api.example.test", "tok2")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []acme.Challenge{base, wild} {
		wg.Go(func() {
			if errs[i] = s.Present(ctx, c); errs[i] == nil {
				errs[i] = s.Wait(ctx, c)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	name := "_acme-challenge.api.example.test"
	got := k.TXT(t, name)
	slices.Sort(got)
	want := []string{base.DNS01KeyAuthorization(), wild.DNS01KeyAuthorization()}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("TXT %s = %q, want both values %q", name, got, want)
	}

	if err := s.CleanUp(ctx, base); err != nil {
		t.Fatal(err)
	}
	if got := k.TXT(t, name); !slices.Equal(got, []string{wild.DNS01KeyAuthorization()}) {
		t.Fatalf("after one CleanUp, TXT %s = %q, want only the other challenge's %q", name, got, wild.DNS01KeyAuthorization())
	}
	if err := s.CleanUp(ctx, wild); err != nil {
		t.Fatal(err)
	}
	if got := k.TXT(t, name); len(got) != 0 {
		t.Fatalf("after both CleanUps, TXT %s = %q, want none", name, got)
	}
}

// TestCNAMEDelegation: _acme-challenge.api.example.test is a CNAME into
// a validation zone of its own; the record is written there.
func TestCNAMEDelegation(t *testing.T) {
	t.Parallel()
	k := testpeer.StartKnot(t, t.TempDir(),
		testpeer.KnotZone{Name: "example.test", Records: []string{"_acme-challenge.api CNAME x.validation.example.test."}},
		testpeer.KnotZone{Name: "validation.example.test"})
	s := solver(rfc2136(k), k.Addr)
	ctx := ctx(t)
	c := challenge("api.example.test", "tok")
	if err := s.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := k.TXT(t, "x.validation.example.test"); !slices.Equal(got, []string{c.DNS01KeyAuthorization()}) {
		t.Fatalf("TXT x.validation.example.test = %q, want %q", got, c.DNS01KeyAuthorization())
	}
	// Knot answers a TXT query for the CNAME's owner with the chain; the
	// record itself must not have been added there.
	zoneFile, err := os.ReadFile(filepath.Join(filepath.Dir(k.SecretFile), "example.test.zone"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(zoneFile), c.DNS01KeyAuthorization()) {
		t.Fatal("the value went into example.test")
	}
	if err := s.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := k.TXT(t, "x.validation.example.test"); len(got) != 0 {
		t.Fatalf("after CleanUp, TXT x.validation.example.test = %q, want none", got)
	}
}

// TestRefusedKey: a wrong secret or key name is refused, and the error
// names the server and the key and says what to check.
func TestRefusedKey(t *testing.T) {
	t.Parallel()
	k := testpeer.StartKnot(t, t.TempDir(), testpeer.KnotZone{Name: "example.test"})
	other := rfc2136(k)
	other.Secret = "c2VjcmV0IG9mIGFub3RoZXIga2V5IGVudGlyZWx5IQ=="
	unknown := rfc2136(k)
	unknown.KeyName = "nobody"
	algorithm := rfc2136(k)
	algorithm.KeyAlgorithm = "hmac-sha512"
	for _, tc := range []struct {
		name string
		p    *dns01.RFC2136
		key  string
		code string
	}{
		{"wrong secret", other, `TSIG key "acme-key." not accepted (NOTAUTH/BADSIG)`, "BADSIG"},
		{"unknown key", unknown, `TSIG key "nobody." not accepted (NOTAUTH/BADKEY)`, "BADKEY"},
		{"wrong algorithm", algorithm, `TSIG key "acme-key." not accepted (NOTAUTH/BADKEY)`, "BADKEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := solver(tc.p, k.Addr).Present(ctx(t), challenge("example.test", "tok"))
			if err == nil {
				t.Fatal("Present succeeded with a wrong key")
			}
			for _, want := range []string{"DNS server " + k.Addr + " refused the update of _acme-challenge.example.test TXT", tc.key, "check key_name, key_algorithm and the secret in key_file"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
		})
	}
	if got := k.TXT(t, "_acme-challenge.example.test"); len(got) != 0 {
		t.Fatalf("a refused update wrote %q", got)
	}
	// A zone the server does not serve: Knot's NOTAUTH is unsigned, so
	// the error cannot blame the key alone.
	_, err := rfc2136(k).AppendRecords(ctx(t), "other.test.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "x"}})
	want := "DNS server " + k.Addr + ` refused the update of _acme-challenge.other.test TXT (NOTAUTH): it is not authoritative for zone other.test, or did not accept TSIG key "acme-key."`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("update of a zone the server lacks: %v\nwant %q", err, want)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		p    dns01.RFC2136
		want string
	}{
		{dns01.RFC2136{KeyName: "k", Secret: "AAAA"}, "no server"},
		{dns01.RFC2136{Server: "ns1", Secret: "AAAA"}, "no key_name"},
		{dns01.RFC2136{Server: "ns1", KeyName: "k", KeyAlgorithm: "hmac-md5", Secret: "AAAA"}, `"hmac-md5" is not a TSIG algorithm`},
		{dns01.RFC2136{Server: "ns1", KeyName: "k", Secret: "not base64!"}, "not base64"},
		{dns01.RFC2136{Server: "ns1", KeyName: "k", KeyAlgorithm: "HMAC-SHA512", Secret: "AAAA"}, ""},
	} {
		err := tc.p.Check()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Check() = %v, want %q", tc.p, err, tc.want)
		}
	}
}

// TestPropagationTimeout: a check server that never gets the record (a
// second server for the zone that nothing updates) makes Wait fail in
// time, saying which server answered what.
func TestPropagationTimeout(t *testing.T) {
	t.Parallel()
	primary := testpeer.StartKnot(t, t.TempDir(), testpeer.KnotZone{Name: "example.test"})
	stale := testpeer.StartKnot(t, t.TempDir(), testpeer.KnotZone{Name: "example.test"})
	s := solver(rfc2136(primary), primary.Addr, stale.Addr)
	s.PropagationTimeout = time.Second
	ctx := ctx(t)
	c := challenge("example.test", "tok")
	if err := s.Present(ctx, c); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	err := s.Wait(ctx, c)
	if err == nil {
		t.Fatal("Wait succeeded though one check server never had the record")
	}
	if waited := time.Since(began); waited > 10*time.Second {
		t.Errorf("Wait took %v with a 1s propagation timeout", waited)
	}
	for _, want := range []string{"TXT _acme-challenge.example.test not visible on every server after 1s", primary.Addr + ": has it", stale.Addr + ": no TXT record"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
	if err := s.CleanUp(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// TestExec runs a real hook script that logs its arguments and updates
// Knot with nsupdate.
func TestExec(t *testing.T) {
	testpeer.Require(t, "nsupdate")
	k := testpeer.StartKnot(t, t.TempDir(), testpeer.KnotZone{Name: "example.test"})
	hookLog := filepath.Join(t.TempDir(), "hook.log")
	t.Setenv("HOOK_LOG", hookLog)
	t.Setenv("HOOK_SERVER", strings.Replace(k.Addr, ":", " ", 1))
	t.Setenv("HOOK_KEY_NAME", k.KeyName)
	t.Setenv("HOOK_KEY_FILE", k.SecretFile)
	hook, err := filepath.Abs("testdata/hook.sh")
	if err != nil {
		t.Fatal(err)
	}
	s := solver(&dns01.Exec{Command: []string{hook}, Timeout: 20 * time.Second}, k.Addr)
	ctx := ctx(t)
	c := challenge("api.example.test", "tok")
	solve(ctx, t, s, c)
	if got := k.TXT(t, "_acme-challenge.api.example.test"); len(got) != 0 {
		t.Fatalf("after cleanup, TXT = %q", got)
	}
	b, err := os.ReadFile(hookLog)
	if err != nil {
		t.Fatal(err)
	}
	v := c.DNS01KeyAuthorization()
	want := "present _acme-challenge.api.example.test. " + v + "\ncleanup _acme-challenge.api.example.test. " + v + "\n"
	if string(b) != want {
		t.Fatalf("the hook was called with\n%s\nwant\n%s", b, want)
	}

	t.Run("failing hook", func(t *testing.T) {
		t.Setenv("HOOK_FAIL", "the DNS API said no")
		err := s.Present(ctx, challenge("b.example.test", "tok"))
		if err == nil || !strings.Contains(err.Error(), "hook: the DNS API said no") || !strings.Contains(err.Error(), "exit status 3") ||
			!strings.Contains(err.Error(), "present _acme-challenge.b.example.test.") {
			t.Fatalf("Present with a failing hook: %v; want its exit status, stderr and arguments", err)
		}
	})
	t.Run("hung hook", func(t *testing.T) {
		sh := testpeer.Require(t, "sh")
		// exec, so the kill reaches sleep itself.
		e := &dns01.Exec{Command: []string{sh, "-c", "exec sleep 30", "hook"}, Timeout: 200 * time.Millisecond}
		began := time.Now()
		_, err := e.AppendRecords(ctx, "example.test.", nil)
		if err != nil {
			t.Fatal(err) // no records: nothing to run
		}
		err = solver(e, k.Addr).Present(ctx, challenge("c.example.test", "tok"))
		if err == nil || !strings.Contains(err.Error(), "killed after 200ms") {
			t.Fatalf("Present with a hook that hangs: %v; want killed after 200ms", err)
		}
		if d := time.Since(began); d > 10*time.Second {
			t.Fatalf("a hook with a 200ms timeout held Present for %v", d)
		}
	})
}

// TestCNAMELoop: a CNAME loop on _acme-challenge ends Present with the
// chain, and nothing is written.
func TestCNAMELoop(t *testing.T) {
	t.Parallel()
	k := testpeer.StartKnot(t, t.TempDir(), testpeer.KnotZone{Name: "example.test", Records: []string{
		"_acme-challenge.a CNAME b.example.test.",
		"b CNAME _acme-challenge.a.example.test.",
	}})
	err := solver(rfc2136(k), k.Addr).Present(ctx(t), challenge("a.example.test", "tok"))
	want := "dns-01: CNAME loop at _acme-challenge.a.example.test: _acme-challenge.a.example.test. -> b.example.test."
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Present with a CNAME loop: %v\nwant %q", err, want)
	}
}

// TestAuthoritativeCheck runs the default propagation check (no
// resolvers): the zone's NS records are looked up through the system's
// resolvers and their addresses asked. The stand-ins are real Knot
// servers on a high port, as a test cannot bind port 53.
func TestAuthoritativeCheck(t *testing.T) {
	t.Parallel()
	k := testpeer.StartKnot(t, t.TempDir(), testpeer.KnotZone{Name: "example.test"})
	_, port, _ := strings.Cut(k.Addr, ":")
	ctx := ctx(t)

	t.Run("visible", func(t *testing.T) {
		s := dns01.WithSystemResolvers(solver(rfc2136(k)), port, k.Addr)
		c := challenge("auth.example.test", "tok")
		solve(ctx, t, s, c)
	})

	// The update goes to k, but the zone's name servers, as the system
	// resolver (stale) tells them, are stale's: the check must ask them,
	// not the server that took the update, and so never sees the record.
	t.Run("asks the NS records, not the update server", func(t *testing.T) {
		stale := testpeer.StartKnot(t, t.TempDir(), testpeer.KnotZone{Name: "example.test"})
		_, stalePort, _ := strings.Cut(stale.Addr, ":")
		s := dns01.WithSystemResolvers(solver(rfc2136(k)), stalePort, stale.Addr)
		s.PropagationTimeout = time.Second
		c := challenge("stale.example.test", "tok")
		if err := s.Present(ctx, c); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.CleanUp(context.Background(), c) })
		err := s.Wait(ctx, c)
		if err == nil {
			t.Fatal("Wait succeeded though the zone's name server never had the record")
		}
		if want := "127.0.0.1:" + stalePort + ": no TXT record"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
		if got := k.TXT(t, "_acme-challenge.stale.example.test"); len(got) != 1 {
			t.Errorf("the update server holds %q, want the one value", got)
		}
	})
}

// TestExecTimeoutKillsChildren: a hook past its timeout is killed with
// every process it started (nsupdate under a shell script, say), so that
// none of them changes the zone after Present has reported the failure
// (and CleanUp has run), nor piles up with each retry.
func TestExecTimeoutKillsChildren(t *testing.T) {
	t.Parallel()
	sh := testpeer.Require(t, "sh")
	mark := filepath.Join(t.TempDir(), "late-update")
	// The subshell stands for the hook's nsupdate: a child, not exec'd.
	e := &dns01.Exec{Command: []string{sh, "-c", `(sleep 1; echo "$3" > "$0") & wait`, mark}, Timeout: 200 * time.Millisecond}
	_, err := e.AppendRecords(ctx(t), "example.test.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "v"}})
	if err == nil || !strings.Contains(err.Error(), "killed after 200ms") {
		t.Fatalf("AppendRecords with a hook that hangs: %v; want killed after 200ms", err)
	}
	deadline := time.Now().Add(3 * time.Second) // the child would write after 1 s
	for time.Now().Before(deadline) {
		if _, err := os.Stat(mark); err == nil {
			t.Fatal("a child of the killed hook ran on and made its change after the timeout")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
