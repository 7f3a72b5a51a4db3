package scan

import (
	"context"
	"io"
	"log"
	"slices"
	"strings"
	"testing"
	"time"
)

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// TestScanFixtures scans servers built to be good, weak or broken in
// known ways (nginx with a test PKI, crypto/tls for what OpenSSL 3 cannot
// serve, raw sockets for SSL 2.0, SSL 3.0 and Heartbleed) and checks the
// findings and grade against each fixture's design, then against
// testssl.sh's verdict on the same server.
func TestScanFixtures(t *testing.T) {
	p, fixtures := startFixtures(t)
	referee := startReferee(t, p, fixtures)
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			r := scanFixture(t, p, f)
			checkDesign(t, f, r)
			if len(f.testssl) > 0 && !referee.short {
				checkReferee(t, f, r, referee.result(t, f))
			}
		})
	}
}

func scanFixture(t *testing.T, p *pki, f *fixture) *Result {
	t.Helper()
	sni := f.sni
	if sni == "" {
		sni = fixtureHost
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	r, err := Scan(ctx, f.addr, Options{ServerName: sni, Roots: p.roots, HTTPPort: f.httpPort})
	if err != nil {
		t.Fatalf("scan %s: %v", f.name, err)
	}
	t.Logf("%s: grade %s (if trusted %s), score %d, %d connections, %v; caps %v; probe errors %v",
		f.name, r.Grade.Letter, r.Grade.IgnoringTrust, r.Grade.Score, r.Connections, time.Since(began).Round(time.Millisecond), capRules(r), r.ProbeErrors)
	return r
}

func capRules(r *Result) []string {
	var c []string
	for _, x := range r.Grade.Caps {
		c = append(c, x.Rule)
	}
	return c
}

func findingIDs(r *Result) []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	return ids
}

func offeredNames(r *Result) []string {
	var n []string
	for _, p := range r.Protocols {
		if p.Offered {
			n = append(n, p.Name)
		}
	}
	return n
}

func acceptedSuites(r *Result) []string {
	var n []string
	for _, l := range r.Ciphers {
		for _, s := range l.Suites {
			n = append(n, s.Name)
		}
	}
	return n
}

// checkDesign compares a scan with what the fixture was built to be.
func checkDesign(t *testing.T, f *fixture, r *Result) {
	t.Helper()
	w := f.want
	if r.Grade.Letter != w.grade {
		t.Errorf("%s: grade %s, want %s (caps %+v)", f.name, r.Grade.Letter, w.grade, r.Grade.Caps)
	}
	if w.ifTrusted != "" && r.Grade.IgnoringTrust != w.ifTrusted {
		t.Errorf("%s: grade if trusted %s, want %s (caps %+v)", f.name, r.Grade.IgnoringTrust, w.ifTrusted, r.Grade.Caps)
	}
	if got := offeredNames(r); !slices.Equal(got, w.protocols) {
		t.Errorf("%s: protocols %v, want %v", f.name, got, w.protocols)
	}
	rules := capRules(r)
	for _, c := range w.caps {
		if !slices.Contains(rules, c) {
			t.Errorf("%s: grading rule %s did not apply (caps %v)", f.name, c, rules)
		}
	}
	ids := findingIDs(r)
	for _, id := range w.findings {
		if !slices.Contains(ids, id) {
			t.Errorf("%s: finding %s missing (have %v)", f.name, id, ids)
		}
	}
	for _, id := range w.absent {
		if slices.Contains(ids, id) {
			t.Errorf("%s: finding %s present, want none", f.name, id)
		}
	}
	suites := acceptedSuites(r)
	for _, s := range w.suites {
		if !slices.Contains(suites, s) {
			t.Errorf("%s: suite %s not found (have %v)", f.name, s, suites)
		}
	}
	var groups []string
	for _, g := range r.Groups {
		groups = append(groups, g.Name)
	}
	for _, g := range w.groups {
		if !slices.Contains(groups, g) {
			t.Errorf("%s: group %s not found (have %v)", f.name, g, groups)
		}
	}
	if t.Failed() {
		t.Logf("%s findings: %s", f.name, strings.Join(ids, " "))
	}
}
