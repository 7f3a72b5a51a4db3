package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/sarif"
	"github.com/tlsgate/tlsgate/internal/scan"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// scanPKI is a CA written to a file for --ca and a certificate for
// scan.test.
type scanPKI struct {
	ca     *pkitest.CA
	caFile string
	cert   *tls.Certificate
	dir    string
}

func newScanPKI(t *testing.T) *scanPKI {
	t.Helper()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "scan CLI CA")
	return &scanPKI{ca: ca, caFile: ca.WriteRoot(t, dir), dir: dir,
		cert: ca.Issue(t, pkitest.Leaf{Names: []string{"scan.test"}, NotAfter: time.Now().Add(90 * 24 * time.Hour)})}
}

// scanTarget serves HTTPS on loopback with crypto/tls's defaults (TLS 1.2
// and 1.3, AEAD first, X25519MLKEM768) and the given HSTS header.
func scanTarget(t *testing.T, p *scanPKI, hsts string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hsts != "" {
			w.Header().Set("Strict-Transport-Security", hsts)
		}
		fmt.Fprintln(w, "ok")
	}), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*p.cert}, NextProtos: []string{"h2", "http/1.1"}}))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func runScanCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var so, se bytes.Buffer
	err := runScan(ctx, args, &so, &se)
	return so.String(), se.String(), err
}

// exitOf is the status main gives err and what it prints.
func exitOf(err error) (int, string) {
	var buf bytes.Buffer
	code := report(err, &buf)
	return code, buf.String()
}

func TestScanUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("# nothing\n\n"), 0o644)
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{nil, "scan needs a target"},
		{[]string{"--format", "xml", "a.test"}, `--format "xml": use text, json, junit or sarif`},
		{[]string{"--json", "--format", "sarif", "a.test"}, "--json and --format sarif contradict"},
		{[]string{"--min-grade", "Z", "a.test"}, `--min-grade "Z"`},
		{[]string{"--ip", "not-an-ip", "a.test"}, `--ip "not-an-ip": not an IP address`},
		{[]string{"--ip", "127.0.0.1", "a.test", "b.test"}, "--ip and --sni apply to one target, got 2"},
		{[]string{"-f", filepath.Join(dir, "missing.txt")}, "missing.txt: open"},
		{[]string{"-f", empty}, "no targets in the file"},
		{[]string{"--ca", notPEM, "a.test"}, "no PEM certificates"},
		{[]string{"a.test:99999"}, `port "99999" is not a number from 1 to 65535`},
		{[]string{"http://a.test/"}, "only https:// URLs can be scanned"},
		{[]string{"--concurrency", "0", "a.test"}, "--concurrency 0"},
		{[]string{"--http-port", "70000", "a.test"}, "--http-port 70000"},
		{[]string{"--bogus", "a.test"}, "flag provided but not defined: -bogus"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := runScanCLI(t, tc.args...)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a usage error containing %q", err, tc.want)
			}
			if code, _ := exitOf(err); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
		})
	}
	help, _, err := runScanCLI(t, "-h") // help asked for: stdout
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(help, "tlsgate scan [flags] HOST[:PORT]") || !strings.Contains(help, "--min-grade") {
		t.Fatalf("-h: %v\n%s", err, help)
	}
}

// TestScanConnectionErrors checks that a target that cannot be scanned
// exits 2 with the reason and a hint: refused, silent, not TLS.
func TestScanConnectionErrors(t *testing.T) {
	t.Parallel()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn // open, never answered
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	plainLn, _ := net.Listen("tcp", "127.0.0.1:0")
	plain := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go plain.Serve(plainLn)
	t.Cleanup(func() { plain.Close() })

	cases := []struct {
		name, target string
		want, hint   string
	}{
		{"refused", testpeer.ClosedAddr(t), "connection refused", "is the port right?"},
		{"silent", silent.Addr().String(), "no answer in time", "the server or a firewall on the way does not answer"},
		{"plain HTTP", plainLn.Addr().String(), "does not speak TLS on that port", "is this a plain-HTTP port?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			stdout, _, err := runScanCLI(t, "--timeout", "500ms", "--http-port", "0", tc.target)
			code, printed := exitOf(err)
			if code != 2 || !strings.Contains(printed, "tlsgate: error: "+tc.target) || !strings.Contains(printed, tc.want) ||
				!strings.Contains(printed, "tlsgate: hint: "+tc.hint) {
				t.Fatalf("exit %d, want 2 with %q and hint %q:\n%s", code, tc.want, tc.hint, printed)
			}
			if stdout != "" {
				t.Fatalf("stdout should be empty, got %q", stdout)
			}
			if d := time.Since(began); d > 10*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestScanServeGradesAPlus runs `tlsgate serve` with nothing but a site and
// its certificate, and scans it: the defaults must earn A+, and its HTTP
// port must redirect.
func TestScanServeGradesAPlus(t *testing.T) {
	t.Parallel()
	p := newScanPKI(t)
	certFile, keyFile := pkitest.WriteFiles(t, p.dir, "site", p.cert)
	httpsPort, httpPort := testpeer.FreePort(t), testpeer.FreePort(t)
	cfg := filepath.Join(p.dir, "tlsgate.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: {https: "127.0.0.1:%d", http: "127.0.0.1:%d"}
log: {format: json}
sites:
  - hosts: [scan.test]
    tls: {certificate: {cert: %s, key: %s}}
    routes: [{upstreams: [%s]}]
`, httpsPort, httpPort, certFile, keyFile, httpBackend(t))), 0o600)
	proc := start(t, nil, "serve", "--config", cfg)
	waitFor(t, "serving", proc.errOut, `"msg":"serving"`)

	target := fmt.Sprintf("127.0.0.1:%d", httpsPort)
	stdout, stderr, err := runScanCLI(t, "--json", "--ca", p.caFile, "--sni", "scan.test", "--http-port", fmt.Sprint(httpPort), "--min-grade", "A+", target)
	if err != nil {
		t.Fatalf("scan: %v\n%s\n%s", err, stdout, stderr)
	}
	var r scan.Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, stdout)
	}
	if r.Grade.Letter != "A+" || r.HTTP.Redirect == nil || !r.HTTP.Redirect.ToHTTPS || !r.Features.H2 || r.Features.FallbackSCSV != "supported" {
		t.Fatalf("tlsgate serve: grade %s (caps %+v), redirect %+v, h2 %v, fallback %s", r.Grade.Letter, r.Grade.Caps, r.HTTP.Redirect, r.Features.H2, r.Features.FallbackSCSV)
	}
	// HTTP/3 is on by default: advertised, and a QUIC handshake works.
	if h := r.Features.HTTP3; h == nil || !h.Handshake || h.Port != httpsPort || h.Version != "TLS 1.3" {
		t.Errorf("tlsgate serve: HTTP/3 %+v, want Alt-Svc h3 on UDP %d and a QUIC handshake", h, httpsPort)
	}
	var pq bool
	for _, g := range r.Groups {
		pq = pq || g.Name == "X25519MLKEM768"
	}
	if !pq {
		t.Errorf("tlsgate serve does not offer X25519MLKEM768: %+v", r.Groups)
	}
	for _, l := range r.Ciphers {
		for _, s := range l.Suites {
			if !s.AEAD || !s.ForwardSecret {
				t.Errorf("tlsgate serve accepts %s over %s", s.Name, l.Protocol)
			}
		}
	}
	for _, pr := range r.Protocols {
		if pr.Offered != (pr.Name == "TLS 1.2" || pr.Name == "TLS 1.3") {
			t.Errorf("tlsgate serve: %s offered=%v", pr.Name, pr.Offered)
		}
	}
	t.Logf("tlsgate serve: %s in %d ms, %d connections", r.Grade.Letter, r.DurationMS, r.Connections)
}

// TestScanOutputs checks each output format and --min-grade on one good
// (A+) and one weaker (A-: no HSTS) server.
func TestScanOutputs(t *testing.T) {
	t.Parallel()
	p := newScanPKI(t)
	good := scanTarget(t, p, "max-age=31536000")
	weak := scanTarget(t, p, "")
	base := []string{"--ca", p.caFile, "--sni", "scan.test", "--http-port", "0"}

	// Text: the grade on top, the reasons, sections.
	stdout, _, err := runScanCLI(t, append(base, weak)...)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(stdout, "\n")
	for _, w := range []string{"Grade A-  " + weak, "capped to A-: no HTTP Strict Transport Security header [hsts_missing]", "\nProtocols\n", "TLS 1.3  offered",
		"\nCipher suites\n", "TLS_AES_128_GCM_SHA256", "X25519MLKEM768 (post-quantum)", "\nCertificate\n", "trusted; name match yes", "\nFindings\n", "[http.hsts_missing]"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("text report lacks %q:\n%s", w, stdout)
		}
	}
	if !strings.HasPrefix(first, "Grade A-") || strings.Contains(stdout, "\033[") {
		t.Errorf("first line %q (no colour when not a terminal)", first)
	}

	// --min-grade: A- is below A: exit 1, the report still printed.
	stdout, _, err = runScanCLI(t, append(base, "--min-grade", "A", weak)...)
	if code, printed := exitOf(err); code != 1 || !strings.Contains(printed, weak+" graded A-: below --min-grade A") || !strings.Contains(stdout, "Grade A-") {
		t.Fatalf("--min-grade A on A-: exit %d\n%s\n%s", code, printed, stdout)
	}
	if _, _, err := runScanCLI(t, append(base, "--min-grade", "A-", weak)...); err != nil {
		t.Fatalf("--min-grade A- on A-: %v", err)
	}

	// JSON of one target is the Result.
	stdout, _, err = runScanCLI(t, append(base, "--json", good)...)
	var r scan.Result
	if err != nil || json.Unmarshal([]byte(stdout), &r) != nil || r.Schema != scan.SchemaVersion || r.Grade.Letter != "A+" || r.Certificate == nil || !r.Certificate.Trusted {
		t.Fatalf("--json: %v, grade %q\n%s", err, r.Grade.Letter, stdout)
	}

	// JUnit: one case per target, failing below --min-grade.
	stdout, _, _ = runScanCLI(t, "--ca", p.caFile, "--http-port", "0", "--format", "junit", "--min-grade", "A", good, weak)
	var ju scanJUnitSuites
	if err := xml.Unmarshal([]byte(stdout), &ju); err != nil || len(ju.Suites) != 1 || ju.Suites[0].Tests != 2 || ju.Suites[0].Failures != 2 {
		// Without --sni both are M (the certificate names scan.test, not 127.0.0.1): both fail A.
		t.Fatalf("junit: %v %+v\n%s", err, ju, stdout)
	}
	if f := ju.Suites[0].Cases[1].Failure; f == nil || !strings.Contains(f.Message, "grade M is below A") {
		t.Fatalf("junit failure: %+v", ju.Suites[0].Cases[1])
	}

	// SARIF: a tls.grade result per target and one per finding, with rules.
	stdout, _, err = runScanCLI(t, append(base, "--format", "sarif", weak)...)
	var sl sarif.Log
	if err != nil || json.Unmarshal([]byte(stdout), &sl) != nil || sl.Version != "2.1.0" || len(sl.Runs) != 1 {
		t.Fatalf("sarif: %v\n%s", err, stdout)
	}
	validateSARIF(t, sarifSchema(t), []byte(stdout))
	ids := map[string]string{}
	for _, res := range sl.Runs[0].Results {
		ids[res.RuleID] = res.Level
		if len(res.Locations) != 1 || !strings.HasPrefix(res.Locations[0].PhysicalLocation.ArtifactLocation.URI, "https://127.0.0.1:") {
			t.Errorf("sarif location %+v", res.Locations)
		}
	}
	if ids["tls.grade"] != "note" || ids["http.hsts_missing"] != "warning" {
		t.Fatalf("sarif results %v", ids)
	}
	rules := map[string]bool{}
	for _, ru := range sl.Runs[0].Tool.Driver.Rules {
		rules[ru.ID] = true
	}
	for id := range ids {
		if !rules[id] {
			t.Errorf("sarif result %s has no rule", id)
		}
	}
}

// TestScanManyTargets scans a file of targets in parallel: a summary
// table, and exit 2 because one of them cannot be scanned.
func TestScanManyTargets(t *testing.T) {
	t.Parallel()
	p := newScanPKI(t)
	good := scanTarget(t, p, "max-age=31536000")
	weak := scanTarget(t, p, "")
	closed := testpeer.ClosedAddr(t)
	list := filepath.Join(p.dir, "targets.txt")
	os.WriteFile(list, []byte(fmt.Sprintf("# fleet\n%s\n%s  # no HSTS\n\n%s\n", good, weak, closed)), 0o644)

	stdout, _, err := runScanCLI(t, "--ca", p.caFile, "--http-port", "0", "--concurrency", "2", "-f", list)
	code, printed := exitOf(err)
	if code != 2 || !strings.Contains(printed, "1 of 3 targets could not be scanned: "+closed) {
		t.Fatalf("exit %d\n%s", code, printed)
	}
	_, table, ok := strings.Cut(stdout, "TARGET  ")
	if !ok {
		t.Fatalf("no summary table:\n%s", stdout)
	}
	for _, w := range []string{good + "  ", weak + "  ", closed + "  ", "ERROR", "refused"} {
		if !strings.Contains(table, w) {
			t.Errorf("summary lacks %q:\n%s", w, table)
		}
	}

	stdout, _, _ = runScanCLI(t, "--ca", p.caFile, "--http-port", "0", "--json", "-f", list)
	var entries []struct {
		Target string       `json:"target"`
		Result *scan.Result `json:"result"`
		Error  *struct {
			Kind, Message string
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(stdout), &entries); err != nil || len(entries) != 3 {
		t.Fatalf("json list: %v\n%s", err, stdout)
	}
	if entries[0].Result == nil || entries[2].Error == nil || entries[2].Error.Kind != "refused" {
		t.Fatalf("json entries: %+v", entries)
	}
}

// TestScanBinary checks the exit statuses of the built binary, once main
// routes the scan command to runScan.
func TestScanBinary(t *testing.T) {
	t.Parallel()
	if _, stderr, _ := runCLI(t, nil, "scan", "-h"); strings.Contains(stderr, `unknown command "scan"`) {
		t.Skip("main.go does not route `tlsgate scan` to runScan yet")
	}
	p := newScanPKI(t)
	good := scanTarget(t, p, "max-age=31536000")
	weak := scanTarget(t, p, "")
	for _, tc := range []struct {
		args []string
		code int
		in   string
	}{
		{[]string{good}, 0, "Grade A+"},
		{[]string{"--min-grade", "A", weak}, 1, "below --min-grade A"},
		{[]string{testpeer.ClosedAddr(t)}, 2, "connection refused"},
		{[]string{"--format", "xml", good}, 2, "--format"},
	} {
		stdout, stderr, code := runCLI(t, nil, append([]string{"scan", "--ca", p.caFile, "--sni", "scan.test", "--http-port", "0"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.in) {
			t.Errorf("scan %v: exit %d (want %d), want %q in:\n%s%s", tc.args, code, tc.code, tc.in, stdout, stderr)
		}
	}
}

// TestScanFileBadLine pins what a malformed line of -f does: it is
// reported as file:line with the reason and a hint, the other targets are
// still scanned and reported in every format, and the exit status is 2.
// Every target that cannot be scanned gets its message and hint on
// stderr, as docs/scan.md says.
func TestScanFileBadLine(t *testing.T) {
	t.Parallel()
	p := newScanPKI(t)
	good := scanTarget(t, p, "max-age=31536000")
	closed := testpeer.ClosedAddr(t)
	list := filepath.Join(p.dir, "targets.txt")
	os.WriteFile(list, []byte(fmt.Sprintf("# fleet\n%s\nhost:notaport\n%s\n", good, closed)), 0o644)
	base := []string{"--ca", p.caFile, "--http-port", "0", "-f", list}

	stdout, stderr, err := runScanCLI(t, base...)
	code, printed := exitOf(err)
	if code != 2 || !strings.Contains(printed, "2 of 3 targets could not be scanned: host:notaport, "+closed) {
		t.Fatalf("exit %d, want 2:\n%s", code, printed)
	}
	for _, w := range []string{
		"tlsgate: error: " + list + `:3: target "host:notaport": port "notaport" is not a number from 1 to 65535` + "\n" +
			"tlsgate: hint: write one HOST[:PORT] or https:// URL per line; # starts a comment\n",
		"tlsgate: error: " + closed + ": connection refused",
		"tlsgate: hint: is the port right?",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if !strings.Contains(stdout, "Grade M  "+good) || !regexp.MustCompile(`host:notaport +- +ERROR .* invalid_target`).MatchString(stdout) {
		t.Errorf("text report lacks the good target's grade or the bad line in the summary:\n%s", stdout)
	}

	// JSON: the bad line is an entry with kind invalid_target.
	stdout, _, _ = runScanCLI(t, append(base, "--json")...)
	var entries []struct {
		Target string       `json:"target"`
		Result *scan.Result `json:"result"`
		Error  *struct{ Kind, Message string }
	}
	if err := json.Unmarshal([]byte(stdout), &entries); err != nil || len(entries) != 3 {
		t.Fatalf("json: %v\n%s", err, stdout)
	}
	if entries[0].Result == nil || entries[1].Error == nil || entries[1].Error.Kind != "invalid_target" ||
		!strings.HasPrefix(entries[1].Error.Message, list+":3: ") || entries[2].Error == nil || entries[2].Error.Kind != "refused" {
		t.Fatalf("json entries: %+v", entries)
	}

	// JUnit: every time attribute is a number, errors included.
	stdout, _, _ = runScanCLI(t, append(base, "--format", "junit")...)
	var ju scanJUnitSuites
	if err := xml.Unmarshal([]byte(stdout), &ju); err != nil || len(ju.Suites) != 1 || ju.Suites[0].Tests != 3 || ju.Suites[0].Errors != 2 {
		t.Fatalf("junit: %v %+v\n%s", err, ju, stdout)
	}
	times := regexp.MustCompile(`time="([^"]*)"`).FindAllStringSubmatch(stdout, -1)
	if len(times) != 4 {
		t.Fatalf("junit: %d time attributes, want 4 (suite and 3 cases):\n%s", len(times), stdout)
	}
	for _, m := range times {
		if _, err := strconv.ParseFloat(m[1], 64); err != nil {
			t.Errorf("junit time=%q is not a number", m[1])
		}
	}
	if e := ju.Suites[0].Cases[1].Error; e == nil || e.Type != "invalid_target" {
		t.Errorf("junit case for the bad line: %+v", ju.Suites[0].Cases[1])
	}

	// SARIF: the bad line is located in the file, at its line.
	stdout, _, _ = runScanCLI(t, append(base, "--format", "sarif")...)
	validateSARIF(t, sarifSchema(t), []byte(stdout))
	var sl sarif.Log
	if err := json.Unmarshal([]byte(stdout), &sl); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range sl.Runs[0].Results {
		if pl := r.Locations[0].PhysicalLocation; r.RuleID == "scan.error" && pl.Region != nil {
			found = pl.Region.StartLine == 3 && strings.HasSuffix(pl.ArtifactLocation.URI, "targets.txt")
		}
	}
	if !found {
		t.Errorf("sarif has no scan.error at targets.txt line 3:\n%s", stdout)
	}
}
