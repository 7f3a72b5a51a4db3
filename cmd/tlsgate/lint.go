package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/tlsgate/tlsgate/internal/oaslint"
	"github.com/tlsgate/tlsgate/internal/sarif"
)

const lintUsage = `Usage: tlsgate lint [flags] FILE|DIR|PATTERN...

Checks OpenAPI documents (2.0, 3.0, 3.1, 3.2; YAML or JSON) for transport
security: servers that are not https (at every level, and through server
variables), OAuth 2 and OpenID Connect URLs over http, HTTP Basic with an
http server, API keys and credentials in URLs, operations that drop the
global security requirement, mutual TLS required on an http server.

Directories are searched for .yaml, .yml and .json files, and those that
are not OpenAPI documents are skipped; patterns may use ** for any depth.
"-" reads standard input. Local and relative-file $refs are followed.

Every finding has file:line:column (of the offending value), its JSON
path, a rule id and a severity. Silence one where it is with
x-tlsgate-ignore: [RULE] on the object or any object above it, or
re-level rules for everyone with --rules FILE; the summary lists both.

Exit status: 0 when no finding is at or above --fail-on, 1 when one is,
2 on usage errors and on files that cannot be linted (malformed, empty,
not OpenAPI, a $ref that does not resolve).

Formats:
  text     findings grouped by file, colour on a terminal (default)
  json     findings, suppressed findings, x-tlsgate-ignore and a summary
  sarif    SARIF 2.1.0 for GitHub code scanning (upload-sarif) and IDEs
  github   GitHub Actions annotations, shown inline on pull requests
  routes   the operations a gateway with routes_from would admit, each
           with its client-auth mode and file:line, as 'tlsgate config
           explain' shows them: diff it in CI to see the policy a spec
           change would deploy

Examples:
  tlsgate lint api/openapi.yaml
  tlsgate lint specs/ --fail-on warning
  tlsgate lint 'specs/**/*.json' --format sarif > tlsgate.sarif
  tlsgate lint openapi.yaml --base-url https://api.example.com/openapi.yaml
  tlsgate lint --rules .tlsgate-lint.yaml openapi.yaml
  tlsgate lint --list-rules
  tlsgate lint --format routes openapi.yaml > policy.txt && git diff --exit-code policy.txt

A --rules file:
  rules:
    http-localhost: off      # our document lists a development server
    apikey-in-query: error

Rules and their rationale: docs/lint.md, or 'tlsgate lint --list-rules'.

Flags:
`

// lintStdin is what "-" reads; tests replace it.
var lintStdin io.Reader = os.Stdin

func runLint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lint", lintUsage, stdout, stderr)
	format := fs.format("text", "json", "sarif", "github", "routes")
	failOn := fs.String("fail-on", "error", "exit 1 when a finding is at or above `SEVERITY`: error, warning, info, or none")
	rulesFile := fs.String("rules", "", "turn off or re-level rules as `FILE` says (YAML, see above)")
	baseURL := fs.String("base-url", "", "the `URL` the documents are served from: relative server URLs are resolved against it")
	color := fs.color()
	jobs := fs.jobs(0, "lint `N` files at once (default: the number of CPUs)")
	showSuppressed := fs.Bool("show-suppressed", false, "text: list the suppressed findings too")
	listRules := fs.Bool("list-rules", false, "print the rules with their severity and exit")
	files, err := fs.parse(args)
	if err != nil {
		return err
	}
	if *listRules {
		return printRules(stdout)
	}
	minSev := oaslint.Severity(0)
	if *failOn != "none" {
		if minSev, err = oaslint.ParseSeverity(*failOn); err != nil {
			return usagef("--fail-on %q: use error, warning, info or none", *failOn)
		}
	}
	if *jobs < 0 {
		return usagef("%s must be 0 or more, got %d", fs.spelled("jobs"), *jobs)
	}
	if len(files) == 0 {
		return usagef("lint needs a FILE, DIR or PATTERN ('-' for standard input)")
	}
	linter := &oaslint.Linter{Jobs: *jobs, Stdin: lintStdin}
	if *baseURL != "" {
		u, err := url.Parse(*baseURL)
		if err != nil || !u.IsAbs() || u.Host == "" {
			return usagef("--base-url %q: want an absolute URL, such as https://api.example.com/openapi.yaml", *baseURL)
		}
		linter.BaseURL = u
	}
	if *rulesFile != "" {
		cfg, err := oaslint.LoadConfig(*rulesFile)
		if err != nil {
			return usagef("--rules: %s", strings.Join(flatten(err), "\n  "))
		}
		linter.Config = cfg
	}
	inputs, err := oaslint.Expand(files)
	if err != nil {
		return usagef("%v", err)
	}
	reports := linter.LintFiles(ctx, inputs)

	out := bufio.NewWriter(stdout)
	switch format.value {
	case "text":
		writeLintText(out, reports, linter.Config, useColor(color.value, stdout), *showSuppressed)
	case "json":
		err = writeLintJSON(out, reports, linter.Config)
	case "sarif":
		err = writeLintSARIF(out, reports, linter.Config)
	case "github":
		writeLintGitHub(out, reports)
	case "routes":
		err = writeLintRoutes(out, reports)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}

	var failed []string
	nFailed := 0
	for _, r := range reports {
		if r.Err != nil {
			nFailed++
			failed = append(failed, flatten(r.Err)...)
		}
	}
	if len(failed) > 0 {
		// Exit 2: the input, not the API, is wrong, and a CI job must not
		// pass or fail on a document that was not read.
		if len(failed) == 1 {
			return exitError{errors.New(failed[0]), 2}
		}
		return exitError{fmt.Errorf("%d problems stop %d %s from being linted:\n  %s", len(failed), nFailed, plural(nFailed, "file", "files"), strings.Join(failed, "\n  ")), 2}
	}
	if minSev == 0 {
		return nil
	}
	n := 0
	for _, r := range reports {
		n += r.Count(minSev)
	}
	if n > 0 {
		return fmt.Errorf("%d %s at or above %s (--fail-on %s)", n, plural(n, "finding", "findings"), minSev, minSev)
	}
	return nil
}

func printRules(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, r := range oaslint.Rules() {
		fmt.Fprintf(bw, "%-22s %-8s %s\n", r.ID, r.Severity, r.Summary)
	}
	fmt.Fprintln(bw, "\nRationale for each: docs/lint.md.")
	return bw.Flush()
}

// severity is a finding's severity, coloured.
func (a ansi) severity(s oaslint.Severity) string {
	switch s {
	case oaslint.Error:
		return a.bold(sgrRed, "error")
	case oaslint.Warning:
		return a.bold(sgrYellow, "warning")
	}
	return a.bold(sgrCyan, s.String())
}

// writeLintText writes findings grouped by file, gcc-style so that
// editors and terminals make file:line:column a link, then a summary that
// names every suppression.
func writeLintText(w io.Writer, reports []*oaslint.Report, cfg *oaslint.Config, color bool, showSuppressed bool) {
	a := ansi(color)
	var all []oaslint.Finding
	for _, r := range reports {
		if showSuppressed {
			all = append(all, r.All()...)
		} else {
			all = append(all, r.Findings...)
		}
	}
	prev := ""
	for _, f := range all {
		if f.File != prev && prev != "" {
			fmt.Fprintln(w)
		}
		prev = f.File
		sev := a.severity(f.Severity)
		if f.Suppressed != nil {
			sev = a.wrap(sgrDim, "suppressed "+f.Severity.String())
		}
		fmt.Fprintf(w, "%s %s: %s %s\n", a.bold("", fmt.Sprintf("%s:%d:%d:", f.File, f.Line, f.Column)), sev, lintMessage(f), a.wrap(sgrDim, "["+f.Rule+"]"))
		detail := f.Path
		if !f.Defined.IsZero() {
			detail += fmt.Sprintf(" (through a YAML alias; the value is written at line %d, column %d)", f.Defined.Line, f.Defined.Column)
		}
		if f.Suppressed != nil {
			detail += " (" + suppressedBy(f.Suppressed) + ")"
		}
		fmt.Fprintf(w, "    %s\n", a.wrap(sgrDim, detail))
	}
	if len(all) > 0 {
		fmt.Fprintln(w)
	}

	s := oaslint.Summarize(reports)
	var line strings.Builder
	fmt.Fprintf(&line, "%d %s linted", s.Linted, plural(s.Linted, "file", "files"))
	if s.Skipped > 0 {
		fmt.Fprintf(&line, ", %d skipped (not OpenAPI)", s.Skipped)
	}
	if s.Failed > 0 {
		fmt.Fprintf(&line, ", %s", a.bold(sgrRed, fmt.Sprintf("%d could not be linted", s.Failed)))
	}
	switch total := s.Errors + s.Warnings + s.Infos; {
	case s.Linted == 0:
	case total == 0:
		line.WriteString(": no findings")
	default:
		fmt.Fprintf(&line, ": %d %s (%s, %s, %s)", total, plural(total, "finding", "findings"),
			countWord(s.Errors, "error", "errors"), countWord(s.Warnings, "warning", "warnings"), countWord(s.Infos, "info", "info"))
	}
	fmt.Fprintln(w, line.String())

	// Nothing is silenced invisibly: every suppression and every change
	// of a rule's level is listed.
	for _, r := range reports {
		for _, ig := range r.Ignores {
			what := fmt.Sprintf("%d %s", ig.Silenced, plural(ig.Silenced, "finding", "findings"))
			if ig.Silenced == 0 {
				what = a.wrap(sgrYellow, "nothing (unused)")
			}
			fmt.Fprintf(w, "  x-tlsgate-ignore at %s:%d:%d [%s] silenced %s\n", ig.File, ig.Line, ig.Column, strings.Join(ig.Rules, ", "), what)
		}
	}
	for _, c := range configLines(cfg, s) {
		fmt.Fprintf(w, "  %s\n", c)
	}
}

// lintMessage is a finding's message, with the flag that gives what the
// linter lacked to decide it.
func lintMessage(f oaslint.Finding) string {
	if f.NeedsBaseURL() {
		return f.Message + " (give --base-url)"
	}
	return f.Message
}

func countWord(n int, one, many string) string { return fmt.Sprintf("%d %s", n, plural(n, one, many)) }

func suppressedBy(s *oaslint.Suppression) string {
	if s.Kind == oaslint.SuppressedByConfig {
		return fmt.Sprintf("rule off in %s:%d", s.File, s.Line)
	}
	return fmt.Sprintf("x-tlsgate-ignore at %s:%d:%d", s.File, s.Line, s.Column)
}

// configLines describes what a --rules file changed.
func configLines(cfg *oaslint.Config, s oaslint.Summary) []string {
	if cfg == nil {
		return nil
	}
	var out []string
	for _, r := range oaslint.Rules() {
		rc, ok := cfg.Rules[r.ID]
		if !ok {
			continue
		}
		switch {
		case rc.Off:
			n := s.ByConfig[r.ID]
			out = append(out, fmt.Sprintf("%s:%d: %s is off (%d %s suppressed)", cfg.File, rc.Line, r.ID, n, plural(n, "finding", "findings")))
		case rc.Severity != r.Severity:
			out = append(out, fmt.Sprintf("%s:%d: %s is %s (default %s)", cfg.File, rc.Line, r.ID, rc.Severity, r.Severity))
		}
	}
	return out
}

// JSON output. Field names are snake_case, like tlsgate's other JSON.

type jsonPosition struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

type jsonFinding struct {
	jsonPosition
	Rule         string          `json:"rule"`
	Severity     string          `json:"severity"`
	Message      string          `json:"message"`
	Path         string          `json:"path"`
	Pointer      string          `json:"pointer"`
	Defined      *jsonPosition   `json:"defined,omitempty"`
	SuppressedBy *jsonSuppressed `json:"suppressed_by,omitempty"`
}

type jsonSuppressed struct {
	Kind string `json:"kind"`
	jsonPosition
}

type jsonFile struct {
	File    string `json:"file"`
	Status  string `json:"status"` // linted, skipped, error
	Version string `json:"version,omitempty"`
}

type jsonError struct {
	jsonPosition
	Message string `json:"message"`
}

type jsonIgnore struct {
	jsonPosition
	Rules    []string `json:"rules"`
	Silenced int      `json:"silenced"`
}

type jsonRuleSetting struct {
	Rule     string `json:"rule"`
	Setting  string `json:"setting"` // off, error, warning, info
	Default  string `json:"default"`
	Line     int    `json:"line"`
	Silenced int    `json:"silenced,omitempty"`
}

type jsonReport struct {
	Files      []jsonFile    `json:"files"`
	Findings   []jsonFinding `json:"findings"`
	Suppressed []jsonFinding `json:"suppressed"`
	Ignores    []jsonIgnore  `json:"ignores"`
	Config     *jsonConfig   `json:"config,omitempty"`
	Errors     []jsonError   `json:"errors"`
	Summary    jsonSummary   `json:"summary"`
}

type jsonConfig struct {
	File  string            `json:"file"`
	Rules []jsonRuleSetting `json:"rules"`
}

type jsonSummary struct {
	Files      int `json:"files"`
	Linted     int `json:"linted"`
	Skipped    int `json:"skipped"`
	Failed     int `json:"failed"`
	Errors     int `json:"errors"`
	Warnings   int `json:"warnings"`
	Infos      int `json:"infos"`
	Suppressed int `json:"suppressed"`
}

func toJSONFinding(f oaslint.Finding) jsonFinding {
	j := jsonFinding{
		jsonPosition: jsonPosition{f.File, f.Line, f.Column},
		Rule:         f.Rule,
		Severity:     f.Severity.String(),
		Message:      lintMessage(f),
		Path:         f.Path,
		Pointer:      f.Pointer,
	}
	if !f.Defined.IsZero() {
		j.Defined = &jsonPosition{f.Defined.File, f.Defined.Line, f.Defined.Column}
	}
	if s := f.Suppressed; s != nil {
		j.SuppressedBy = &jsonSuppressed{s.Kind, jsonPosition{s.File, s.Line, s.Column}}
	}
	return j
}

// loadErrors lists the *LoadErrors of an error with their positions.
func loadErrors(file string, err error) []jsonError {
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		var out []jsonError
		for _, e := range m.Unwrap() {
			out = append(out, loadErrors(file, e)...)
		}
		return out
	}
	var le *oaslint.LoadError
	if errors.As(err, &le) {
		return []jsonError{{jsonPosition{le.File, le.Line, le.Column}, le.Msg}}
	}
	return []jsonError{{jsonPosition{File: file}, err.Error()}}
}

func writeLintJSON(w io.Writer, reports []*oaslint.Report, cfg *oaslint.Config) error {
	s := oaslint.Summarize(reports)
	out := jsonReport{
		Files: []jsonFile{}, Findings: []jsonFinding{}, Suppressed: []jsonFinding{}, Ignores: []jsonIgnore{}, Errors: []jsonError{},
		Summary: jsonSummary{s.Files, s.Linted, s.Skipped, s.Failed, s.Errors, s.Warnings, s.Infos, s.Suppressed},
	}
	for _, r := range reports {
		jf := jsonFile{File: r.File, Status: "linted", Version: r.Version}
		switch {
		case r.Skipped:
			jf.Status = "skipped"
		case r.Err != nil:
			jf.Status = "error"
			out.Errors = append(out.Errors, loadErrors(r.File, r.Err)...)
		}
		out.Files = append(out.Files, jf)
		for _, f := range r.Findings {
			out.Findings = append(out.Findings, toJSONFinding(f))
		}
		for _, f := range r.Suppressed {
			out.Suppressed = append(out.Suppressed, toJSONFinding(f))
		}
		for _, ig := range r.Ignores {
			out.Ignores = append(out.Ignores, jsonIgnore{jsonPosition{ig.File, ig.Line, ig.Column}, ig.Rules, ig.Silenced})
		}
	}
	if cfg != nil {
		jc := &jsonConfig{File: cfg.File, Rules: []jsonRuleSetting{}}
		for _, r := range oaslint.Rules() {
			if rc, ok := cfg.Rules[r.ID]; ok {
				set := rc.Severity.String()
				if rc.Off {
					set = "off"
				}
				jc.Rules = append(jc.Rules, jsonRuleSetting{r.ID, set, r.Severity.String(), rc.Line, s.ByConfig[r.ID]})
			}
		}
		out.Config = jc
	}
	return writeJSON(w, out)
}

// SARIF: the subset GitHub code scanning reads, valid against the schema
// (tested).

func lintLevel(s oaslint.Severity) string {
	switch s {
	case oaslint.Error:
		return sarif.LevelError
	case oaslint.Warning:
		return sarif.LevelWarning
	}
	return sarif.LevelNote
}

func lintLocation(p oaslint.Position, path string) sarif.Location {
	l := sarif.Location{PhysicalLocation: sarif.PhysicalLocation{ArtifactLocation: sarif.ArtifactLocation{URI: sarif.ArtifactURI(p.File)}}}
	if p.Line > 0 {
		l.PhysicalLocation.Region = &sarif.Region{StartLine: p.Line, StartColumn: p.Column}
	}
	if path != "" {
		l.LogicalLocations = []sarif.LogicalLocation{{FullyQualifiedName: path, Kind: "member"}}
	}
	return l
}

// ruleName is a rule id in the PascalCase SARIF viewers show.
func ruleName(id string) string {
	var b strings.Builder
	for _, w := range strings.Split(id, "-") {
		switch w {
		case "https", "http", "url", "mtls", "oauth":
			b.WriteString(strings.ToUpper(w))
		default:
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func writeLintSARIF(w io.Writer, reports []*oaslint.Report, cfg *oaslint.Config) error {
	driver := sarif.Driver{
		Name:           "tlsgate",
		InformationURI: "https://github.com/tlsgate/tlsgate",
		Version:        releaseVersion(),
	}
	index := map[string]int{}
	for i, r := range oaslint.Rules() {
		index[r.ID] = i
		sev := map[oaslint.Severity]string{oaslint.Error: "7.5", oaslint.Warning: "5.0", oaslint.Info: "2.0"}[r.Severity]
		enabled := true
		if cfg != nil && cfg.Rules[r.ID].Off {
			enabled = false
		}
		driver.Rules = append(driver.Rules, sarif.Rule{
			ID:                   r.ID,
			Name:                 ruleName(r.ID),
			ShortDescription:     sarif.Message{Text: r.Summary},
			FullDescription:      &sarif.Message{Text: r.Rationale},
			Help:                 &sarif.Message{Text: r.Rationale},
			HelpURI:              "https://github.com/tlsgate/tlsgate/blob/main/docs/lint.md#" + r.ID,
			DefaultConfiguration: &sarif.RuleConfig{Level: lintLevel(r.Severity), Enabled: enabled},
			Properties:           &sarif.RuleProperties{Tags: []string{"security", "openapi", "tls"}, SecuritySeverity: sev, Precision: "very-high"},
		})
	}
	run := sarif.Run{Tool: sarif.Tool{Driver: driver}, ColumnKind: "unicodeCodePoints"}
	inv := sarif.Invocation{ExecutionSuccessful: true}
	result := func(f oaslint.Finding) sarif.Result {
		ruleIndex := index[f.Rule]
		sr := sarif.Result{
			RuleID:    f.Rule,
			RuleIndex: &ruleIndex,
			Level:     lintLevel(f.Severity),
			Message:   sarif.Message{Text: lintMessage(f)},
			Locations: []sarif.Location{lintLocation(f.Position, f.Path)},
			// Stable across edits that move lines: GitHub matches alerts
			// by it from one commit to the next.
			PartialFingerprints: map[string]string{"tlsgateFinding/v1": fingerprint(f)},
		}
		if !f.Defined.IsZero() {
			id := 1
			rl := lintLocation(f.Defined, "")
			rl.ID = &id
			rl.Message = &sarif.Message{Text: "the value, written at the YAML anchor"}
			sr.RelatedLocations = []sarif.Location{rl}
		}
		if s := f.Suppressed; s != nil {
			kind := "inSource"
			if s.Kind == oaslint.SuppressedByConfig {
				kind = "external"
			}
			sr.Suppressions = []sarif.Suppression{{Kind: kind, Justification: suppressedBy(s)}}
		}
		return sr
	}
	for _, r := range reports {
		for _, f := range r.Findings {
			run.Results = append(run.Results, result(f))
		}
		for _, f := range r.Suppressed {
			run.Results = append(run.Results, result(f))
		}
		if r.Err != nil {
			inv.ExecutionSuccessful = false
			for _, e := range loadErrors(r.File, r.Err) {
				inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarif.Notification{
					Level:     sarif.LevelError,
					Message:   sarif.Message{Text: e.Message},
					Locations: []sarif.Location{lintLocation(oaslint.Position{File: e.File, Line: e.Line, Column: e.Column}, "")},
				})
			}
		}
		for _, ig := range r.Ignores {
			if ig.Silenced == 0 {
				inv.ToolConfigNotifications = append(inv.ToolConfigNotifications, sarif.Notification{
					Level:     sarif.LevelNote,
					Message:   sarif.Message{Text: fmt.Sprintf("x-tlsgate-ignore [%s] silences nothing", strings.Join(ig.Rules, ", "))},
					Locations: []sarif.Location{lintLocation(ig.Position, "")},
				})
			}
		}
	}
	run.Invocations = []sarif.Invocation{inv}
	return sarif.Write(w, run)
}

// fingerprint identifies a finding by what it is, not by its line. It
// hashes the message as printed, flag hint included, so that alerts keep
// their fingerprints from before the hint moved out of the linter.
func fingerprint(f oaslint.Finding) string {
	h := sha256.Sum256([]byte(f.Rule + "\x00" + filepath.ToSlash(f.File) + "\x00" + f.Pointer + "\x00" + lintMessage(f)))
	return hex.EncodeToString(h[:16])
}

// writeLintGitHub writes workflow commands that GitHub Actions shows as
// annotations on the lines of a pull request.
// https://docs.github.com/actions/reference/workflow-commands-for-github-actions
func writeLintGitHub(w io.Writer, reports []*oaslint.Report) {
	for _, r := range reports {
		for _, f := range r.Findings {
			level := map[oaslint.Severity]string{oaslint.Error: "error", oaslint.Warning: "warning", oaslint.Info: "notice"}[f.Severity]
			fmt.Fprintf(w, "::%s file=%s,line=%d,col=%d,title=%s::%s\n", level,
				ghProperty(filepath.ToSlash(f.File)), f.Line, f.Column, ghProperty("tlsgate "+f.Rule),
				ghData(lintMessage(f)+" (at "+f.Path+")"))
		}
		if r.Err != nil {
			for _, e := range loadErrors(r.File, r.Err) {
				props := "file=" + ghProperty(filepath.ToSlash(e.File))
				if e.Line > 0 {
					props += fmt.Sprintf(",line=%d", e.Line)
				}
				if e.Column > 0 {
					props += fmt.Sprintf(",col=%d", e.Column)
				}
				fmt.Fprintf(w, "::error %s,title=%s::%s\n", props, ghProperty("tlsgate lint"), ghData(e.Message))
			}
		}
	}
	s := oaslint.Summarize(reports)
	fmt.Fprintf(w, "tlsgate lint: %d files linted, %d skipped, %d failed: %d errors, %d warnings, %d info, %d suppressed\n",
		s.Linted, s.Skipped, s.Failed, s.Errors, s.Warnings, s.Infos, s.Suppressed)
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// writeLintRoutes prints, for each document, the operations a gateway
// with routes_from would admit and the client-auth mode of each
// (oaslint.Operations: the same derivation the gateway uses), one per
// line in the document's order, so that a CI job can diff the policy a
// spec change would deploy. A document the gateway would refuse (an
// error-level finding) says so instead of listing operations.
func writeLintRoutes(w io.Writer, reports []*oaslint.Report) error {
	for _, r := range reports {
		if r.Skipped || r.Err != nil {
			continue
		}
		fmt.Fprintf(w, "# %s\n", r.File)
		if n := r.Count(oaslint.Error); n > 0 {
			fmt.Fprintf(w, "refused: %d error-level %s; the gateway would keep its previous policy\n", n, plural(n, "finding", "findings"))
			continue
		}
		if r.File == "-" {
			fmt.Fprintln(w, "routes: give the document as a file (its $refs are resolved from its directory)")
			continue
		}
		doc, err := oaslint.Load(r.File)
		if err != nil {
			return err
		}
		ops, err := oaslint.Operations(doc)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "METHOD\tPATH\tCLIENT AUTH\tFROM")
		for _, o := range ops {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%d\n", o.Method, o.Path, o.ClientAuth, o.File, o.Line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
