package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var updateLint = flag.Bool("update-lint", false, "rewrite the golden files of tlsgate lint")

// lintTestdata holds the fixtures tlsgate lint is run on (the linter's
// package owns them); the golden files of its output are in
// testdata/lint.
const lintTestdata = "../../internal/oaslint/testdata"

// lint runs 'tlsgate lint' in-process and returns what the binary would
// print and its exit status.
func lint(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var so, se bytes.Buffer
	if stdin != "" {
		lintStdin = strings.NewReader(stdin)
		t.Cleanup(func() { lintStdin = os.Stdin })
	}
	err := runLint(context.Background(), args, &so, &se)
	code = report(err, &se)
	return so.String(), se.String(), code
}

func TestLintExitCodes(t *testing.T) {
	t.Parallel()
	rules := filepath.Join(lintTestdata, "rules")
	bad := filepath.Join(lintTestdata, "bad")
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.yaml")
	os.WriteFile(clean, []byte("openapi: 3.1.0\ninfo: {title: clean, version: '1'}\nservers: [{url: 'https://api.example.com'}]\npaths: {}\n"), 0o644)
	badRules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(badRules, []byte("rules:\n  sever-https: off\n"), 0o644)
	cases := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 2, "", "tlsgate: error: lint needs a FILE, DIR or PATTERN"},
		{[]string{"-h"}, 0, "x-tlsgate-ignore", ""}, // help asked for: stdout
		{[]string{"--list-rules"}, 0, "server-https           error    server URL is not https", ""},
		{[]string{"--format", "xml", clean}, 2, "", `--format "xml": use text, json, sarif, github or routes`},
		{[]string{"--fail-on", "fatal", clean}, 2, "", `--fail-on "fatal"`},
		{[]string{"--color", "rainbow", clean}, 2, "", `--color "rainbow"`},
		{[]string{"--base-url", "/relative", clean}, 2, "", `--base-url "/relative": want an absolute URL`},
		{[]string{"--bogus", clean}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"--rules", badRules, clean}, 2, "", `rules.yaml:2:3: rules.sever-https: unknown rule (did you mean "server-https"?)`},
		{[]string{filepath.Join(dir, "*.json")}, 2, "", "no files match"},
		{[]string{clean}, 0, "1 file linted: no findings", ""},
		{[]string{filepath.Join(rules, "servers.yaml")}, 1, "13 findings (8 errors, 4 warnings, 1 info)", "tlsgate: error: 8 findings at or above error (--fail-on error)"},
		{[]string{"--fail-on", "none", filepath.Join(rules, "servers.yaml")}, 0, "13 findings", ""},
		{[]string{"--fail-on", "warning", filepath.Join(rules, "mtls30.yaml")}, 1, "mtls-version", "1 finding at or above warning"},
		{[]string{filepath.Join(rules, "mtls30.yaml")}, 0, "1 finding (0 errors, 1 warning, 0 info)", ""},
		{[]string{filepath.Join(bad, "indent.yaml")}, 2, "0 files linted, 1 could not be linted", "indent.yaml:4: mapping values are not allowed in this context"},
		{[]string{filepath.Join(bad, "empty.yaml")}, 2, "", "empty.yaml: empty file"},
		{[]string{filepath.Join(bad, "kubernetes.yaml")}, 2, "", "kubernetes.yaml:1:1: not an OpenAPI document"},
		{[]string{filepath.Join(bad, "missing.yaml")}, 2, "", "missing.yaml: no such file or directory"},
		{[]string{clean, filepath.Join(bad, "unresolved.yaml")}, 2, "1 file linted, 1 could not be linted: no findings", "2 problems stop 1 file from being linted"},
		// Directories skip what is not OpenAPI, but not broken OpenAPI.
		{[]string{bad}, 2, "skipped (not OpenAPI)", "trailing-comma.json:5:1"},
		{[]string{"--format", "json", filepath.Join(bad, "truncated.json")}, 2, `"status": "error"`, "truncated.json:1:51: unexpected end of JSON input"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := lint(t, "", tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.inStdout) || !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout to contain %q, stderr %q", code, tc.code, stdout, stderr, tc.inStdout, tc.inStderr)
			}
			if strings.Contains(stderr, "panic") {
				t.Errorf("panic:\n%s", stderr)
			}
		})
	}
}

func TestLintStdin(t *testing.T) {
	stdout, stderr, code := lint(t, "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers:\n  - url: http://api.example.com\npaths: {}\n", "-")
	if code != 1 || !strings.Contains(stdout, "-:4:10: error: server URL \"http://api.example.com\"") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestLintGolden runs each output format over fixtures with findings,
// suppressions, a re-levelled rule, an alias, several files and a file
// that cannot be linted, and compares with testdata/lint (-update-lint
// rewrites them). Not parallel: it changes directory, so that paths in
// the output are as a user in the repository would see them.
func TestLintGolden(t *testing.T) {
	golden, err := filepath.Abs(filepath.Join("testdata", "lint"))
	if err != nil {
		t.Fatal(err)
	}
	schema := sarifSchema(t)
	t.Chdir(filepath.Join(lintTestdata, "rules"))
	files := []string{"servers.yaml", "variables.yaml", "anchors.yaml", "ignore.yaml", "mtls.yaml", "callbacks.yaml", "multi/api.yaml", "swagger.yaml", "../bad/unresolved.yaml"}
	formats := []struct {
		name string
		args []string
	}{
		{"lint.txt", []string{"--show-suppressed"}},
		{"lint-color.txt", []string{"--color", "always"}},
		{"lint.json", []string{"--format", "json"}},
		{"lint.sarif", []string{"--format", "sarif"}},
		{"lint.github", []string{"--format", "github"}},
	}
	version := strings.Fields(versionString())[1]
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			args := append(append(append([]string(nil), f.args...), "--rules", "../config/lint-rules.yaml"), files...)
			stdout, stderr, code := lint(t, "", args...)
			if f.name == "lint.sarif" {
				validateSARIF(t, schema, []byte(stdout))
				stdout = strings.Replace(stdout, `"version": "`+version+`"`, `"version": "VERSION"`, 1)
			}
			if f.name == "lint.json" || f.name == "lint.sarif" {
				var v any
				if err := json.Unmarshal([]byte(stdout), &v); err != nil {
					t.Errorf("not JSON: %v", err)
				}
			}
			got := fmt.Sprintf("$ tlsgate lint %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), code, stdout, stderr)
			path := filepath.Join(golden, f.name)
			if *updateLint {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-lint to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update-lint if the change is right):\n%s", path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, a, b)
		}
	}
	return ""
}

func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "internal", "sarif", "testdata", "sarif-2.1.0-rtm.5.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-2.1.0-rtm.5.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif-2.1.0-rtm.5.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateSARIF(t *testing.T, schema *jsonschema.Schema, out []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("SARIF output is not JSON: %v", err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Errorf("SARIF output is not valid against the SARIF 2.1.0 schema: %v", err)
	}
}

// TestLintSARIFSchema validates the SARIF of every fixture, and checks
// that the validation catches a broken log.
func TestLintSARIFSchema(t *testing.T) {
	t.Parallel()
	schema := sarifSchema(t)
	stdout, stderr, code := lint(t, "", "--format", "sarif", filepath.Join(lintTestdata, "rules"), filepath.Join(lintTestdata, "bad"))
	if code != 2 {
		t.Errorf("exit %d, want 2 (bad inputs)\n%s", code, stderr)
	}
	validateSARIF(t, schema, []byte(stdout))
	var log map[string]any
	json.Unmarshal([]byte(stdout), &log)
	run := log["runs"].([]any)[0].(map[string]any)
	if n := len(run["results"].([]any)); n < 60 {
		t.Errorf("%d results, want the findings of every fixture", n)
	}
	inv := run["invocations"].([]any)[0].(map[string]any)
	if inv["executionSuccessful"] != false || len(inv["toolExecutionNotifications"].([]any)) < 10 {
		t.Errorf("invocation %v: want the bad inputs as notifications", inv)
	}
	broken := strings.Replace(stdout, `"level": "error"`, `"level": "fatal"`, 1)
	inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(broken))
	if schema.Validate(inst) == nil {
		t.Error("the schema accepts a result of level fatal: the validation checks nothing")
	}
}

func TestGitHubEscaping(t *testing.T) {
	t.Parallel()
	if got := ghProperty("a,b:c%d\ne"); got != "a%2Cb%3Ac%25d%0Ae" {
		t.Errorf("ghProperty: %q", got)
	}
	if got := ghData("50% done\r\nnext: a,b"); got != "50%25 done%0D%0Anext: a,b" {
		t.Errorf("ghData: %q", got)
	}
}
