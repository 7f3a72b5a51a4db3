package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeFlags: every --flag README.md gives a tlsgate command is a
// flag of that command.
func TestReadmeFlags(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	problems, checked := docFlags(t, string(data))
	for _, p := range problems {
		t.Errorf("README.md:%s", p)
	}
	if checked < 20 {
		t.Errorf("only %d flags found in README.md's commands: is the parser still right?", checked)
	}
	// The check itself finds a flag that is not there, per command.
	sample := "```sh\ntlsgate certs renew --config x --force a \\\n    --bogus && tlsgate scan --format json `tlsgate lint --json` `tlsgate ca issue client x --uri u --days 3 --pid-file p\n```\n"
	problems, checked = docFlags(t, sample)
	if want := []string{"2: tlsgate certs renew has no flag --bogus", "2: tlsgate ca issue client has no flag --pid-file"}; checked != 8 || len(problems) != 2 ||
		!strings.HasPrefix(problems[0], want[0]) || !strings.HasPrefix(problems[1], want[1]) {
		t.Errorf("on %q: %d flags checked (want 8), problems %q (want %q)", sample, checked, problems, want)
	}
}

// docFlags checks the --flags of the tlsgate commands in a Markdown text
// and returns "LINE: problem" for each that is not a flag of its command,
// and how many it checked.
func docFlags(t *testing.T, text string) (problems []string, checked int) {
	subcommands := map[string][]string{
		"ca":      {"init", "issue", "revoke", "crl", "list"},
		"certs":   {"list", "renew"},
		"cluster": {"status"},
		"config":  {"validate", "explain"},
		"ech":     {"show", "rotate"},
	}
	helps := map[string]string{}
	help := func(cmd []string) string {
		key := strings.Join(cmd, " ")
		if h, ok := helps[key]; ok {
			return h
		}
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append(cmd, "--help"), &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("tlsgate %s --help: %v\n%s", key, err, stderr.String())
		}
		helps[key] = stdout.String()
		return helps[key]
	}
	// A command runs from "tlsgate WORD" to the end of its line (lines
	// ending in \ continue), a backtick, or the next tlsgate command.
	text = strings.ReplaceAll(text, "\\\n", " ")
	command := regexp.MustCompile("tlsgate ([a-z]+)((?: [a-z]+)*)([^`\n]*)")
	flagRx := regexp.MustCompile(`(?:^|[\s(\[])--([a-z0-9][a-z0-9-]*)`)
	for n, line := range strings.Split(text, "\n") {
		for _, seg := range splitAt(line, "tlsgate ") {
			m := command.FindStringSubmatch(seg)
			if m == nil {
				continue
			}
			cmd := []string{m[1]}
			if _, ok := map[string]bool{"demo": true, "proxy": true, "serve": true, "probe": true, "lint": true,
				"scan": true, "ca": true, "certs": true, "cluster": true, "config": true}[m[1]]; !ok {
				continue
			}
			words := strings.Fields(m[2])
			if len(words) > 0 && slices.Contains(subcommands[m[1]], words[0]) {
				cmd = append(cmd, words[0])
				if m[1] == "ca" && words[0] == "issue" && len(words) > 1 && (words[1] == "server" || words[1] == "client") {
					cmd = append(cmd, words[1])
				}
			}
			for _, f := range flagRx.FindAllStringSubmatch(seg, -1) {
				h := help(cmd)
				if !regexp.MustCompile(`(?m)^  -`+regexp.QuoteMeta(f[1])+`\b`).MatchString(h) && !strings.Contains(h, "(--"+f[1]+" is --") {
					problems = append(problems, fmt.Sprintf("%d: tlsgate %s has no flag --%s: %s", n+1, strings.Join(cmd, " "), f[1], strings.TrimSpace(seg)))
				}
				checked++
			}
		}
	}
	return problems, checked
}

// splitAt splits s before each occurrence of sep.
func splitAt(s, sep string) []string {
	var out []string
	for {
		i := strings.Index(s[min(1, len(s)):], sep)
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
}
