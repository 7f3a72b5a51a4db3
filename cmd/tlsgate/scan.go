package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tlsgate/tlsgate/internal/dns01"
	"github.com/tlsgate/tlsgate/internal/sarif"
	"github.com/tlsgate/tlsgate/internal/scan"
)

const scanUsage = `Usage:
  tlsgate scan [flags] HOST[:PORT]...
  tlsgate scan [flags] -f FILE

Grades HTTPS endpoints the way SSL Labs does (A+ to F, T for a certificate
that is not trusted, M for a name mismatch) in a few seconds: protocol
versions (SSLv2 to TLS 1.3) and cipher suites probed with hand-built
ClientHellos, key-exchange groups including the post-quantum
X25519MLKEM768, the certificate chain, HSTS and the HTTP redirect, ALPN,
session resumption, renegotiation, compression, TLS_FALLBACK_SCSV and
Heartbleed. Any server can be scanned, not only tlsgate. The grading rules
and their sources are in docs/grading.md; the JSON schema in docs/scan.md.

The scan is polite: at most 4 connections to a target at once, each
bounded by --timeout, about 30 to 60 in all. STARTTLS is not supported.

Exit status: 0 when every target was scanned (and graded at least
--min-grade), 1 when a grade is below --min-grade, 2 on usage errors and
when a target cannot be scanned (name, connection, timeout, not TLS, or a
line of -f that is not a target: reported as FILE:LINE, the other lines
are still scanned). Each target that cannot be scanned gets a message and
a hint on stderr.

Examples:
  tlsgate scan api.example.com
  tlsgate scan --min-grade A api.example.com:8443 || exit 1
  tlsgate scan --format json api.example.com | jq -r .grade.letter
  tlsgate scan --sni api.example.com --ip 10.0.0.7 --ca internal-ca.pem api.example.com
  tlsgate scan -f targets.txt --jobs 16 --format junit > tls-report.xml
  tlsgate scan -f targets.txt --format sarif > tls.sarif

Flags:
`

// scanJob is one target and what came of it.
type scanJob struct {
	Target  string
	Result  *scan.Result
	Err     error
	Elapsed time.Duration // wall time of the scan, also when it failed (0: not scanned)
}

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("scan", scanUsage, stdout, stderr)
	format := fs.format("text", "json", "junit", "sarif")
	minGrade := fs.String("min-grade", "", "exit 1 when a target grades below `GRADE` (A+, A, A-, B, C, D, E, F)")
	file := fs.String("f", "", "read targets from `FILE`, one HOST[:PORT] per line (# comments)")
	jobsN := fs.jobs(8, "scan `N` targets at once")
	sni := fs.String("sni", "", "server `NAME` to send and check the certificate against (default: the target's host)")
	ip := fs.String("ip", "", "connect to `ADDR` instead of resolving the host (one target only)")
	caFile := fs.String("ca", "", "trust the CA certificates in `FILE` (PEM) instead of the system roots")
	httpPort := fs.Int("http-port", 80, "plain-HTTP `PORT` checked for a redirect to HTTPS; 0 skips the check")
	timeout := fs.Duration("timeout", 5*time.Second, "give up on a connection after `DURATION`")
	echConfig := fs.String("ech-config", "", "try Encrypted Client Hello with this config list (`BASE64`: the ech= value 'tlsgate ech show' prints) instead of the one in the host's DNS HTTPS record")
	dnsServer := fs.String("dns-server", "system", "DNS server `ADDR` (host:port) asked for the host's HTTPS record, to check Encrypted Client Hello; \"system\" is the first of /etc/resolv.conf, \"off\" skips the check")
	color := fs.color()
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}

	if *minGrade != "" && !scan.ValidGrade(*minGrade) {
		return usagef("--min-grade %q: use A+, A, A-, B, C, D, E or F", *minGrade)
	}
	if *jobsN < 1 || *jobsN > 256 {
		return usagef("%s %d: use 1 to 256", fs.spelled("jobs"), *jobsN)
	}
	if *httpPort < 0 || *httpPort > 65535 {
		return usagef("--http-port %d: use a port from 1 to 65535, or 0 to skip the check", *httpPort)
	}
	if *timeout <= 0 {
		return usagef("--timeout %v: must be positive", *timeout)
	}
	if *ip != "" {
		a, err := netip.ParseAddr(strings.Trim(*ip, "[]"))
		if err != nil {
			return usagef("--ip %q: not an IP address", *ip)
		}
		*ip = a.String()
	}
	// A malformed target on the command line is a usage error; one line
	// of a file is not: that line is reported (file:line) and the others
	// are scanned, as one bad entry in a fleet list should not hide the
	// rest.
	var jobs []scanJob
	for _, t := range pos {
		if _, _, err := scan.ParseTarget(t); err != nil {
			return usagef("%v", err)
		}
		jobs = append(jobs, scanJob{Target: t})
	}
	if *file != "" {
		lines, err := readScanTargets(*file)
		if err != nil {
			return usagef("-f %s: %v", *file, err)
		}
		for _, l := range lines {
			j := scanJob{Target: l.text}
			if _, _, err := scan.ParseTarget(l.text); err != nil {
				j.Err = &targetLineError{File: *file, Line: l.line, Err: err}
			}
			jobs = append(jobs, j)
		}
	}
	if len(jobs) == 0 {
		return usagef("scan needs a target: HOST[:PORT], or -f FILE")
	}
	if len(jobs) > 1 && (*ip != "" || *sni != "") {
		return usagef("--ip and --sni apply to one target, got %d", len(jobs))
	}
	opts := scan.Options{ServerName: *sni, IP: *ip, HTTPPort: *httpPort, Timeout: *timeout}
	switch *dnsServer {
	case "off":
	case "system":
		opts.LookupECH = func(ctx context.Context, host string) ([]byte, error) {
			server, err := dns01.SystemResolver()
			if err != nil {
				return nil, err
			}
			return dns01.LookupECH(ctx, server, host)
		}
	default:
		if _, _, err := net.SplitHostPort(*dnsServer); err != nil {
			return usagef("--dns-server %q: give host:port (such as 127.0.0.1:53), system or off", *dnsServer)
		}
		server := *dnsServer
		opts.LookupECH = func(ctx context.Context, host string) ([]byte, error) { return dns01.LookupECH(ctx, server, host) }
	}
	if *echConfig != "" {
		list, err := base64.StdEncoding.DecodeString(*echConfig)
		if err != nil || len(list) < 2 {
			return usagef("--ech-config: not a base64 ECHConfigList (the ech= value that 'tlsgate ech show' prints)")
		}
		opts.ECHConfigList = list
	}
	if *caFile != "" {
		pool, err := loadScanRoots(*caFile)
		if err != nil {
			return usagef("--ca %s: %v", *caFile, err)
		}
		opts.Roots = pool
	}

	began := time.Now()
	done := scanTargets(ctx, jobs, opts, *jobsN, scanProgress(stderr, len(jobs)))
	elapsed := time.Since(began)
	switch format.value {
	case "json":
		err = writeScanJSON(stdout, done, len(pos) == 1 && *file == "")
	case "junit":
		err = writeScanJUnit(stdout, done, *minGrade, elapsed)
	case "sarif":
		err = writeScanSARIF(stdout, done)
	default:
		colored := useColor(color.value, stdout)
		for i, j := range done {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			if j.Err == nil {
				writeScanText(stdout, j.Result, colored)
			} else if len(done) > 1 {
				fmt.Fprintf(stdout, "%s: not scanned: %v\n", j.Target, j.Err)
			}
		}
		if len(done) > 1 {
			fmt.Fprintln(stdout)
			writeScanSummary(stdout, done)
		}
	}
	if err != nil {
		return err
	}
	// Every target that could not be scanned gets its message and hint
	// on stderr; with one target, that is the error main prints.
	if len(done) > 1 {
		for _, j := range done {
			if j.Err != nil {
				report(scanConnHint(j.Err), stderr) // printing only: the status is scanOutcome's
			}
		}
	}
	return scanOutcome(done, *minGrade)
}

// targetLineError is a line of a -f file that is not a target.
type targetLineError struct {
	File string
	Line int // 1-based
	Err  error
}

func (e *targetLineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *targetLineError) Unwrap() error { return e.Err }

// scanErrorKind is the kind of a target's error in JSON and the summary:
// a scan.ConnError's kind, "invalid_target" for a malformed line of a -f
// file, "network" otherwise.
func scanErrorKind(err error) string {
	var ce *scan.ConnError
	var le *targetLineError
	switch {
	case errors.As(err, &ce):
		return string(ce.Kind)
	case errors.As(err, &le):
		return "invalid_target"
	}
	return "network"
}

// scanOutcome is the error (and so the exit status) of a finished run.
func scanOutcome(jobs []scanJob, minGrade string) error {
	var failed []scanJob
	var below []string
	for _, j := range jobs {
		switch {
		case j.Err != nil:
			failed = append(failed, j)
		case scan.Below(j.Result.Grade.Letter, minGrade):
			below = append(below, fmt.Sprintf("%s graded %s", j.Target, j.Result.Grade.Letter))
		}
	}
	if len(failed) == 1 && len(jobs) == 1 {
		return exitError{scanConnHint(failed[0].Err), 2}
	}
	if len(failed) > 0 {
		var names []string
		for _, j := range failed {
			names = append(names, j.Target)
		}
		return exitError{fmt.Errorf("%d of %d targets could not be scanned: %s", len(failed), len(jobs), strings.Join(names, ", ")), 2}
	}
	if len(below) > 0 {
		return fmt.Errorf("%s: below --min-grade %s", strings.Join(below, ", "), minGrade)
	}
	return nil
}

// scanConnHint adds the likely fix to a connection error or a malformed
// line of a -f file.
func scanConnHint(err error) error {
	var le *targetLineError
	if errors.As(err, &le) {
		return hintError{err, "write one HOST[:PORT] or https:// URL per line; # starts a comment"}
	}
	var ce *scan.ConnError
	if !errors.As(err, &ce) {
		return err
	}
	hint := ""
	switch ce.Kind {
	case scan.ErrDNS:
		hint = "check the name; to scan one address under a name, pass --ip ADDR"
	case scan.ErrRefused:
		hint = "is the port right? HTTPS defaults to 443: give HOST:PORT"
	case scan.ErrTimeout:
		hint = "the server or a firewall on the way does not answer; --timeout raises the limit per connection"
	case scan.ErrNotTLS:
		hint = "is this a plain-HTTP port? STARTTLS protocols (SMTP, IMAP, ...) are not supported"
	case scan.ErrHandshake:
		hint = "the server may need a client certificate or a different name: try --sni NAME"
	default:
		return err
	}
	return hintError{err, hint}
}

// scanTargets scans the targets of jobs, n at a time, keeping their
// order; jobs that already carry an error (a malformed line) are not
// scanned. It fills in and returns jobs.
func scanTargets(ctx context.Context, jobs []scanJob, opts scan.Options, n int, done func(string)) []scanJob {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if j.Err != nil {
			done(j.Target)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			began := time.Now()
			r, err := scan.Scan(ctx, j.Target, opts)
			jobs[i] = scanJob{Target: j.Target, Result: r, Err: err, Elapsed: time.Since(began)}
			done(j.Target)
		})
	}
	wg.Wait()
	return jobs
}

// scanProgress shows "scanned 3/50" on a terminal's stderr for many targets.
func scanProgress(stderr io.Writer, total int) func(string) {
	if total < 2 || !isTerminal(stderr) {
		return func(string) {}
	}
	var mu sync.Mutex
	n := 0
	return func(target string) {
		mu.Lock()
		defer mu.Unlock()
		n++
		fmt.Fprintf(stderr, "\r\033[Kscanned %d/%d: %s", n, total, target)
		if n == total {
			fmt.Fprint(stderr, "\r\033[K")
		}
	}
}

// scanLine is a target read from a -f file and its line number.
type scanLine struct {
	text string
	line int // 1-based
}

func readScanTargets(path string) ([]scanLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []scanLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, scanLine{line, n})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no targets in the file")
	}
	return out, nil
}

func loadScanRoots(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificates in the file")
	}
	return pool, nil
}

// --- text ---

// scanGradeColor is the colour of a grade: that of its severity, and
// green for the good ones (info).
func scanGradeColor(letter string) string {
	if sev := scan.GradeSeverity(letter); sev != scan.SeverityInfo {
		return scanSeverityColor(sev)
	}
	return sgrGreen
}

// scanSeverityColor is the colour of a severity: red for critical and
// high, yellow for medium and low, none for info.
func scanSeverityColor(s scan.Severity) string {
	switch s {
	case scan.SeverityCritical, scan.SeverityHigh:
		return sgrRed
	case scan.SeverityMedium, scan.SeverityLow:
		return sgrYellow
	}
	return ""
}

func scanYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeScanText prints the readable report: the grade on top, then the
// reasons for it, then one section per area.
func writeScanText(w io.Writer, r *scan.Result, color bool) {
	a := ansi(color)
	g := r.Grade
	fmt.Fprintf(w, "%s  %s  (%s, SNI %s, %d ms, %d connections)\n", a.bold(scanGradeColor(g.Letter), "Grade "+g.Letter), r.Target, r.Address, r.ServerName, r.DurationMS, r.Connections)
	if g.IgnoringTrust != "" {
		fmt.Fprintf(w, "  %s if the certificate were trusted\n", g.IgnoringTrust)
	}
	fmt.Fprintf(w, "  score %d: protocol %d, key exchange %d, cipher %d\n", g.Score, g.Protocol, g.KeyExchange, g.Cipher)
	for _, c := range g.Caps {
		verb := "capped to"
		if c.Rule == "a_plus" {
			verb = "raised to"
		}
		fmt.Fprintf(w, "  %s %s: %s [%s]\n", verb, a.wrap(scanGradeColor(c.Grade), c.Grade), c.Reason, c.Rule)
	}

	fmt.Fprintln(w, "\nProtocols")
	for _, p := range r.Protocols {
		state := "not offered"
		if p.Offered {
			state = "offered"
		}
		fmt.Fprintf(w, "  %-8s %s\n", p.Name, a.wrap(scanSeverityColor(p.Severity()), state))
	}

	fmt.Fprintln(w, "\nCipher suites")
	for _, l := range r.Ciphers {
		order := "client's order"
		if l.ServerOrder {
			order = "server's order"
		}
		if len(l.Suites) < 2 {
			order = ""
		}
		fmt.Fprintf(w, "  %s %s\n", l.Protocol, order)
		for _, s := range l.Suites {
			flags := []string{}
			if s.ForwardSecret {
				flags = append(flags, "FS")
			}
			if s.AEAD {
				flags = append(flags, "AEAD")
			}
			if s.KeyExchangeBits > 0 {
				flags = append(flags, fmt.Sprintf("kx %d", s.KeyExchangeBits))
			}
			weak := ""
			if len(s.Weaknesses) > 0 {
				weak = " " + a.wrap(sgrYellow, strings.Join(s.Weaknesses, ","))
			}
			fmt.Fprintf(w, "    %-48s %3d bits  %s%s\n", s.Name, s.Bits, strings.Join(flags, " "), weak)
		}
	}
	if len(r.Groups) > 0 {
		var names []string
		for _, gr := range r.Groups {
			n := gr.Name
			if gr.PostQuantum {
				n += " (post-quantum)"
			}
			names = append(names, n)
		}
		fmt.Fprintf(w, "\nKey exchange groups\n  %s\n", strings.Join(names, ", "))
	}

	if c := r.Certificate; c != nil {
		fmt.Fprintln(w, "\nCertificate")
		fmt.Fprintf(w, "  subject     %s\n  names       %s\n  issuer      %s\n", c.Subject, strings.Join(c.SANs, ", "), c.Issuer)
		fmt.Fprintf(w, "  valid       %s to %s (%d days left)\n", c.NotBefore.UTC().Format("2006-01-02"), c.NotAfter.UTC().Format("2006-01-02"), c.DaysLeft)
		fmt.Fprintf(w, "  key         %s %d bits, signed %s\n", c.KeyType, c.KeyBits, c.SignatureAlg)
		trust := a.wrap(sgrGreen, "trusted")
		if !c.Trusted {
			trust = a.wrap(sgrRed, "NOT trusted: "+c.TrustError)
		}
		fmt.Fprintf(w, "  trust       %s; name match %s; chain of %d, complete %s, in order %s\n", trust, scanYesNo(c.NameMatch), c.ChainLength, scanYesNo(c.ChainComplete), scanYesNo(c.ChainInOrder))
		fmt.Fprintf(w, "  OCSP staple %s, must-staple %s, SCTs %d\n", scanYesNo(c.OCSPStapled), scanYesNo(c.MustStaple), c.SCTs)
	}

	if h := r.HTTP; h != nil {
		fmt.Fprintln(w, "\nHTTP")
		switch {
		case h.HSTS != nil:
			fmt.Fprintf(w, "  HSTS        max-age=%d (%d days), includeSubDomains %s, preload %s\n", h.HSTS.MaxAge, h.HSTS.MaxAge/86400, scanYesNo(h.HSTS.IncludeSubDomains), scanYesNo(h.HSTS.Preload))
		case h.Error != "":
			fmt.Fprintf(w, "  HSTS        unknown (%s)\n", h.Error)
		default:
			fmt.Fprintf(w, "  HSTS        %s\n", a.wrap(sgrYellow, "none"))
		}
		if rd := h.Redirect; rd != nil {
			switch {
			case !rd.Listens:
				fmt.Fprintf(w, "  port %-6d nothing listens\n", rd.Port)
			case rd.ToHTTPS:
				fmt.Fprintf(w, "  port %-6d %d redirect to %s\n", rd.Port, rd.Status, rd.Location)
			default:
				fmt.Fprintf(w, "  port %-6d %s (status %d)\n", rd.Port, a.wrap(sgrYellow, "no redirect to HTTPS"), rd.Status)
			}
		}
	}

	ft := r.Features
	fmt.Fprintln(w, "\nFeatures")
	reneg := "n/a"
	if ft.SecureRenegotiation != nil {
		reneg = scanYesNo(*ft.SecureRenegotiation)
	}
	alpn := strings.Join(ft.ALPN, ", ")
	if alpn == "" {
		alpn = "none"
	}
	fmt.Fprintf(w, "  ALPN %s; resumption: tickets %s, session IDs %s\n", alpn, scanYesNo(ft.SessionTickets), scanYesNo(ft.SessionIDs))
	switch h := ft.HTTP3; {
	case h == nil:
		fmt.Fprintln(w, "  HTTP/3 not advertised (no Alt-Svc h3)")
	case h.Handshake:
		fmt.Fprintf(w, "  HTTP/3 yes: Alt-Svc %s; QUIC handshake on UDP %d (%s)\n", h.AltSvc, h.Port, h.Version)
	default:
		fmt.Fprintf(w, "  HTTP/3 %s: Alt-Svc %s, but no QUIC handshake on UDP %d (%s)\n", a.wrap(sgrYellow, "advertised only"), h.AltSvc, h.Port, h.Error)
	}
	fmt.Fprintf(w, "  secure renegotiation %s; compression %s; TLS_FALLBACK_SCSV %s; heartbeat %s; Heartbleed %s\n",
		reneg, scanYesNo(ft.Compression), ft.FallbackSCSV, scanYesNo(ft.Heartbeat), scanYesNo(ft.Heartbleed))
	if e := ft.ECH; e != nil {
		switch {
		case e.Given && e.Accepted:
			fmt.Fprintf(w, "  Encrypted Client Hello: the given config (public name %s) is accepted\n", e.PublicName)
		case e.Given && e.Retry:
			fmt.Fprintf(w, "  Encrypted Client Hello: the given config (public name %s) is %s; the server sent retry configs (a stale or another server's config)\n", e.PublicName, a.wrap(sgrYellow, "rejected"))
		case e.Given:
			fmt.Fprintf(w, "  Encrypted Client Hello: the given config (public name %s) is not accepted: %s\n", e.PublicName, e.Error)
		case e.Accepted:
			fmt.Fprintf(w, "  Encrypted Client Hello: published (public name %s), accepted\n", e.PublicName)
		case e.Published && e.Retry:
			fmt.Fprintf(w, "  Encrypted Client Hello: published (public name %s), rejected with retry configs: the HTTPS record is stale\n", e.PublicName)
		case e.Published:
			fmt.Fprintf(w, "  Encrypted Client Hello: published (public name %s), not accepted: %s\n", e.PublicName, e.Error)
		case e.Error != "":
			fmt.Fprintf(w, "  Encrypted Client Hello: unknown (%s)\n", e.Error)
		default:
			fmt.Fprintln(w, "  Encrypted Client Hello: no (the HTTPS record publishes no ECH config)")
		}
	}

	if len(r.Findings) > 0 {
		fmt.Fprintln(w, "\nFindings")
		for _, f := range r.Findings {
			line := f.Title
			if f.Detail != "" {
				line += ": " + f.Detail
			}
			fmt.Fprintf(w, "  %s %s [%s]\n", a.wrap(scanSeverityColor(f.Severity), fmt.Sprintf("%-8s", f.Severity)), line, f.ID)
		}
	}
	if len(r.ProbeErrors) > 0 {
		fmt.Fprintln(w, "\nProbes that failed (the grade does not use them)")
		for _, e := range r.ProbeErrors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// writeScanSummary prints one line per target.
func writeScanSummary(w io.Writer, jobs []scanJob) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tADDRESS\tGRADE\tSCORE\tCRITICAL\tHIGH\tMEDIUM\tTIME")
	for _, j := range jobs {
		if j.Err != nil {
			fmt.Fprintf(tw, "%s\t-\tERROR\t-\t-\t-\t-\t%s\n", j.Target, scanErrorKind(j.Err))
			continue
		}
		n := map[scan.Severity]int{}
		for _, f := range j.Result.Findings {
			n[f.Severity]++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%dms\n", j.Target, j.Result.Address, j.Result.Grade.Letter, j.Result.Grade.Score,
			n[scan.SeverityCritical], n[scan.SeverityHigh], n[scan.SeverityMedium], j.Result.DurationMS)
	}
	tw.Flush()
}

// --- JSON ---

// scanEntry is one target in the JSON list printed for several targets.
type scanEntry struct {
	Target string       `json:"target"`
	Result *scan.Result `json:"result,omitempty"`
	Error  *scanErrJSON `json:"error,omitempty"`
}

type scanErrJSON struct {
	Kind    string `json:"kind"` // dns, refused, timeout, not_tls, handshake, network, invalid_target
	Message string `json:"message"`
}

func writeScanJSON(w io.Writer, jobs []scanJob, single bool) error {
	if single {
		if jobs[0].Err != nil {
			return nil // the error goes to stderr
		}
		return writeJSON(w, jobs[0].Result)
	}
	list := []scanEntry{}
	for _, j := range jobs {
		e := scanEntry{Target: j.Target, Result: j.Result}
		if j.Err != nil {
			e.Error = &scanErrJSON{Kind: scanErrorKind(j.Err), Message: j.Err.Error()}
		}
		list = append(list, e)
	}
	return writeJSON(w, list)
}

// --- JUnit ---

type scanJUnitSuites struct {
	XMLName xml.Name         `xml:"testsuites"`
	Suites  []scanJUnitSuite `xml:"testsuite"`
}

type scanJUnitSuite struct {
	Name     string          `xml:"name,attr"`
	Tests    int             `xml:"tests,attr"`
	Failures int             `xml:"failures,attr"`
	Errors   int             `xml:"errors,attr"`
	Time     string          `xml:"time,attr"`
	Cases    []scanJUnitCase `xml:"testcase"`
}

type scanJUnitCase struct {
	Name      string            `xml:"name,attr"`
	Classname string            `xml:"classname,attr"`
	Time      string            `xml:"time,attr"`
	Failure   *scanJUnitProblem `xml:"failure,omitempty"`
	Error     *scanJUnitProblem `xml:"error,omitempty"`
	SystemOut string            `xml:"system-out,omitempty"`
}

type scanJUnitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeScanJUnit writes one test case per target: it fails when the grade is
// below minGrade (never without it) and errors when the target could not
// be scanned. The report and findings are in system-out. Every time
// attribute is a number of seconds, as strict parsers require: the
// suite's is elapsed (the whole run), a case's its scan's (0 for a line of
// -f that was not a target).
func writeScanJUnit(w io.Writer, jobs []scanJob, minGrade string, elapsed time.Duration) error {
	suite := scanJUnitSuite{Name: "tlsgate scan", Time: junitSeconds(elapsed)}
	for _, j := range jobs {
		c := scanJUnitCase{Name: j.Target, Classname: "tlsgate.scan", Time: junitSeconds(j.Elapsed)}
		if j.Err != nil {
			typ := "connection"
			if scanErrorKind(j.Err) == "invalid_target" {
				typ = "invalid_target"
			}
			c.Error = &scanJUnitProblem{Message: j.Err.Error(), Type: typ}
			suite.Errors++
		} else {
			r := j.Result
			c.Time = junitSeconds(time.Duration(r.DurationMS) * time.Millisecond)
			var sb strings.Builder
			writeScanText(&sb, r, false)
			c.SystemOut = sb.String()
			if scan.Below(r.Grade.Letter, minGrade) {
				var reasons []string
				for _, cp := range r.Grade.Caps {
					reasons = append(reasons, fmt.Sprintf("%s: %s", cp.Grade, cp.Reason))
				}
				c.Failure = &scanJUnitProblem{Message: fmt.Sprintf("grade %s is below %s", r.Grade.Letter, minGrade), Type: "grade", Text: strings.Join(reasons, "\n")}
				suite.Failures++
			}
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(scanJUnitSuites{Suites: []scanJUnitSuite{suite}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitSeconds is d as JUnit writes times: seconds with millisecond
// precision ("0.065").
func junitSeconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// --- SARIF ---

// scanLevel is the SARIF level of a finding of severity s.
func scanLevel(s scan.Severity) string {
	switch s {
	case scan.SeverityCritical, scan.SeverityHigh:
		return sarif.LevelError
	case scan.SeverityMedium:
		return sarif.LevelWarning
	}
	return sarif.LevelNote
}

// writeScanSARIF writes every finding of every target as a SARIF result, plus
// one "tls.grade" result per target and "scan.error" for targets that could
// not be scanned.
func writeScanSARIF(w io.Writer, jobs []scanJob) error {
	rules := map[string]string{"tls.grade": "SSL Labs style grade", "scan.error": "the target could not be scanned"}
	var results []sarif.Result
	for _, j := range jobs {
		uri := "https://" + j.Target + "/"
		if host, port, err := scan.ParseTarget(j.Target); err == nil {
			uri = "https://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
		}
		loc := []sarif.Location{{PhysicalLocation: sarif.PhysicalLocation{ArtifactLocation: sarif.ArtifactLocation{URI: uri}}}}
		var le *targetLineError
		if errors.As(j.Err, &le) {
			// Not a URL: point at the line of the file instead.
			loc = []sarif.Location{{PhysicalLocation: sarif.PhysicalLocation{ArtifactLocation: sarif.ArtifactLocation{URI: sarif.ArtifactURI(le.File)},
				Region: &sarif.Region{StartLine: le.Line}}}}
		}
		if j.Err != nil {
			results = append(results, sarif.Result{RuleID: "scan.error", Level: sarif.LevelError, Message: sarif.Message{Text: j.Err.Error()}, Locations: loc})
			continue
		}
		r := j.Result
		results = append(results, sarif.Result{RuleID: "tls.grade", Level: scanLevel(scan.GradeSeverity(r.Grade.Letter)),
			Message: sarif.Message{Text: fmt.Sprintf("%s: grade %s", j.Target, r.Grade.Letter)}, Locations: loc,
			Properties: map[string]string{"grade": r.Grade.Letter}})
		for _, f := range r.Findings {
			rules[f.ID] = f.Title
			msg := j.Target + ": " + f.Title
			if f.Detail != "" {
				msg += ": " + f.Detail
			}
			results = append(results, sarif.Result{RuleID: f.ID, Level: scanLevel(f.Severity), Message: sarif.Message{Text: msg}, Locations: loc,
				Properties: map[string]string{"severity": string(f.Severity)}})
		}
	}
	var ruleList []sarif.Rule
	for _, id := range slices.Sorted(maps.Keys(rules)) {
		ruleList = append(ruleList, sarif.Rule{ID: id, ShortDescription: sarif.Message{Text: rules[id]}})
	}
	return sarif.Write(w, sarif.Run{
		Tool: sarif.Tool{Driver: sarif.Driver{Name: "tlsgate scan", InformationURI: "https://github.com/tlsgate/tlsgate/blob/main/docs/scan.md",
			Version: releaseVersion(), Rules: ruleList}},
		Results: results,
	})
}
