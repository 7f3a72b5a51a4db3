package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testFlags is a flag set with the shared flags, as a subcommand has them.
func testFlags() (fs *flagSet, format, color *choice, jobs *int, out *bytes.Buffer) {
	out = &bytes.Buffer{}
	fs = newFlagSet("test", "Usage: tlsgate test\n", out, out)
	format = fs.format("text", "json", "sarif")
	color = fs.color()
	jobs = fs.jobs(8, "`N` at once")
	return fs, format, color, jobs, out
}

// TestFlagAliases: every old spelling means what its canonical flag
// means, and messages name the flag as it was typed.
func TestFlagAliases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args          []string
		format, color string
		jobs          int
		err           string
	}{
		{nil, "text", "auto", 8, ""},
		{[]string{"--format", "json", "--color", "never", "--jobs", "2"}, "json", "never", 2, ""},
		{[]string{"--json", "--no-color", "--concurrency", "2"}, "json", "never", 2, ""},
		{[]string{"--json=false", "--no-color=false"}, "text", "auto", 8, ""},
		{[]string{"--json", "--format", "json"}, "json", "auto", 8, ""},
		{[]string{"--format", "sarif", "--json"}, "", "", 0, "--json and --format sarif contradict each other"},
		{[]string{"--json", "--format", "sarif"}, "", "", 0, "--json and --format sarif contradict each other"},
		{[]string{"--color", "always", "--no-color"}, "", "", 0, "--no-color and --color always contradict each other"},
		{[]string{"--format", "xml"}, "", "", 0, `--format "xml": use text, json or sarif`},
		{[]string{"--color", "rainbow"}, "", "", 0, `--color "rainbow": use auto, always or never`},
		{[]string{"--json=maybe"}, "", "", 0, `invalid boolean value "maybe" for -json`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs, format, color, jobs, _ := testFlags()
			_, err := fs.parse(tc.args)
			f, c := format.value, color.value
			if tc.err != "" {
				var ue usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want a usage error with %q", err, tc.err)
				}
				return
			}
			if err != nil || f != tc.format || c != tc.color || *jobs != tc.jobs {
				t.Fatalf("format %q, color %q, jobs %d, error %v; want %q, %q, %d", f, c, *jobs, err, tc.format, tc.color, tc.jobs)
			}
		})
	}
	for args, want := range map[string]string{"--jobs 3": "--jobs", "--concurrency 3": "--concurrency", "": "--jobs", "--concurrency 3 --jobs 4": "--jobs"} {
		fs, _, _, _, _ := testFlags()
		if _, err := fs.parse(strings.Fields(args)); err != nil {
			t.Fatal(err)
		}
		if got := fs.spelled("jobs"); got != want {
			t.Errorf("%q: spelled %s, want %s", args, got, want)
		}
	}
}

// TestUsageShowsCanonicalFlags: the help of every subcommand lists the
// canonical spellings only, and mentions each alias once.
func TestUsageShowsCanonicalFlags(t *testing.T) {
	t.Parallel()
	flagLine := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	for _, tc := range []struct {
		args    []string
		run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
		want    []string // canonical flags that must be listed
		aliases []string // mentioned in the help, not listed
	}{
		{[]string{"-h"}, runLint, []string{"format", "color", "jobs"}, []string{"--json", "--no-color", "--concurrency"}},
		{[]string{"-h"}, runScan, []string{"format", "color", "jobs"}, []string{"--json", "--no-color", "--concurrency"}},
		{[]string{"list", "-h"}, runCA, []string{"format"}, []string{"--json"}},
		{[]string{"-h"}, runProbe, []string{"timeout", "ca"}, nil},
	} {
		var stderr bytes.Buffer // the help, asked for, is on stdout
		err := tc.run(context.Background(), tc.args, &stderr, io.Discard)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%v: %v", tc.args, err)
		}
		listed := map[string]bool{}
		for _, m := range flagLine.FindAllStringSubmatch(stderr.String(), -1) {
			listed[m[1]] = true
		}
		for _, w := range tc.want {
			if !listed[w] {
				t.Errorf("%v: --%s not listed:\n%s", tc.args, w, stderr.String())
			}
		}
		for _, a := range []string{"json", "no-color", "concurrency"} {
			if listed[a] {
				t.Errorf("%v: alias --%s listed as a flag:\n%s", tc.args, a, stderr.String())
			}
		}
		for _, a := range tc.aliases {
			if !strings.Contains(stderr.String(), "("+a+" is --") {
				t.Errorf("%v: alias %s not mentioned:\n%s", tc.args, a, stderr.String())
			}
		}
	}
}

// TestLintAliases: lint's old-style spellings give the same output as the
// canonical flags.
func TestLintAliases(t *testing.T) {
	t.Parallel()
	file := filepath.Join(lintTestdata, "rules", "servers.yaml")
	for _, pair := range [][2][]string{
		{{"--format", "json"}, {"--json"}},
		{{"--color", "never", "--jobs", "1"}, {"--no-color", "--concurrency", "1"}},
	} {
		want, _, wantCode := lint(t, "", append(pair[0], file)...)
		got, stderr, code := lint(t, "", append(pair[1], file)...)
		if got != want || code != wantCode {
			t.Errorf("%v: exit %d, want %d as with %v; output differs:\n%s", pair[1], code, wantCode, pair[0], lineDiff(want, got+stderr))
		}
	}
	if _, stderr, code := lint(t, "", "--concurrency", "-1", file); code != 2 || !strings.Contains(stderr, "--concurrency must be 0 or more") {
		t.Errorf("--concurrency -1: exit %d: %s", code, stderr)
	}
}

// TestCAListFormats: 'ca list --json' (the old spelling) prints what
// '--format json' does.
func TestCAListFormats(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "ca")
	runCLI(t, nil, "ca", "init", "--dir", dir)
	runCLI(t, nil, "ca", "issue", "client", "svc", "--dir", dir, "--out", filepath.Join(base, "out"))
	canonical, stderr, code := runCLI(t, nil, "ca", "list", "--format", "json", "--dir", dir)
	if code != 0 || !strings.Contains(canonical, `"subject": "CN=svc"`) {
		t.Fatalf("--format json: exit %d: %s%s", code, canonical, stderr)
	}
	if alias, _, _ := runCLI(t, nil, "ca", "list", "--json", "--dir", dir); alias != canonical {
		t.Errorf("--json printed\n%s\nwant, as --format json\n%s", alias, canonical)
	}
	if _, stderr, code := runCLI(t, nil, "ca", "list", "--format", "yaml", "--dir", dir); code != 2 || !strings.Contains(stderr, `--format "yaml": use text or json`) {
		t.Errorf("--format yaml: exit %d: %s", code, stderr)
	}
}

// TestScanFlagNames: scan names --jobs or --concurrency as it was given,
// and knows --color.
func TestScanFlagNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--jobs", "0", "a.test"}, "--jobs 0: use 1 to 256"},
		{[]string{"--concurrency", "300", "a.test"}, "--concurrency 300: use 1 to 256"},
		{[]string{"--color", "rainbow", "a.test"}, `--color "rainbow": use auto, always or never`},
		{[]string{"--no-color", "--color", "always", "a.test"}, "--no-color and --color always contradict each other"},
		{[]string{"--json", "--format", "junit", "a.test"}, "--json and --format junit contradict each other"},
	} {
		_, _, err := runScanCLI(t, tc.args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
}

// TestHelp: --help (and -h, help) of every command and subcommand prints
// its usage on stdout, so that it can be paged, and exits 0; a usage error
// prints on stderr and exits 2.
func TestHelp(t *testing.T) {
	t.Parallel()
	commands := [][]string{
		{"demo"}, {"proxy"}, {"serve"},
		{"config"}, {"config", "validate"}, {"config", "explain"},
		{"ca"}, {"ca", "init"}, {"ca", "issue"}, {"ca", "issue", "server"}, {"ca", "issue", "client"},
		{"ca", "revoke"}, {"ca", "crl"}, {"ca", "list"},
		{"certs"}, {"certs", "list"}, {"certs", "renew"},
		{"probe"}, {"lint"}, {"scan"},
		{"cluster"}, {"cluster", "status"},
		{"ech"}, {"ech", "show"}, {"ech", "rotate"},
	}
	// Every command of tlsgate's usage is in the table.
	listed := map[string]bool{}
	for _, c := range commands {
		listed[c[0]] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^  tlsgate ([a-z]+)`).FindAllStringSubmatch(usage, -1) {
		if !listed[m[1]] && m[1] != "version" {
			t.Errorf("tlsgate %s is not in the table", m[1])
		}
	}
	for _, c := range commands {
		for _, h := range []string{"--help", "-h"} {
			args := append(slices.Clone(c), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				var stdout, stderr bytes.Buffer
				code := report(run(context.Background(), args, &stdout, &stderr), &stderr)
				if code != 0 || stderr.Len() > 0 || !strings.Contains(stdout.String(), "Usage") {
					t.Errorf("exit %d, want 0 with the usage on stdout\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
				}
				if strings.HasSuffix(stdout.String(), "Flags:\n") {
					t.Errorf("the help ends in Flags: without listing them:\n%s", stdout.String())
				}
			})
		}
	}
	for _, args := range [][]string{{"ca", "issue"}, {"ca", "issue", "server", "--bogus"}, {"certs"}, {"scan", "--bogus"}, {"serve", "--bogus"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := report(run(context.Background(), args, &stdout, &stderr), &stderr)
			if code != 2 || stdout.Len() > 0 || !strings.Contains(stderr.String(), "tlsgate: error:") {
				t.Errorf("exit %d, want 2 with the error on stderr\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
			}
		})
	}
}
