package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// syncBuffer is a bytes.Buffer safe to read while runProbe writes its log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProbeUsage runs runProbe in-process and checks exit codes and
// messages through report, as main prints them.
func TestProbeUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"-h"}, 0, "curl 'http://127.0.0.1:9219/probe?target=api.example.com:443'"},
		{[]string{"--listen", "0.0.0.0:9219"}, 2, "--listen 0.0.0.0:9219 is not a loopback address: anyone who can reach a probe endpoint can make this host connect anywhere; add --allow-remote"},
		{[]string{"--listen", ":9219"}, 2, "is not a loopback address"},
		{[]string{"--listen", "[::]:9219"}, 2, "is not a loopback address"},
		{[]string{"--listen", "example.com:9219"}, 2, "is not a loopback address"},
		{[]string{"--listen", "9219"}, 2, `--listen "9219": want HOST:PORT`},
		{[]string{"--timeout", "0s"}, 2, "--timeout must be positive"},
		{[]string{"api.example.com:443"}, 2, "probe takes flags only"},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"--log-level", "loud"}, 2, `log level "loud"`},
		{[]string{"--listen", "127.0.0.1:0", "--ca", "/nonexistent/ca.pem"}, 1, "tlsgate: error: --ca: reading CA bundle: open /nonexistent/ca.pem"},
	}
	if addr := nonLoopbackAddr(t); addr != "" {
		cases = append(cases, struct {
			args     []string
			code     int
			inStderr string
		}{[]string{"--listen", addr + ":9219"}, 2, "is not a loopback address"})
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := runProbe(ctx, tc.args, &stdout, &stderr)
			code := report(err, &stderr)
			out := stderr.String()
			if tc.args[0] == "-h" {
				out = stdout.String() // help asked for is on stdout
			}
			if code != tc.code || !strings.Contains(out, tc.inStderr) {
				t.Fatalf("exit %d (want %d)\nstderr: %s\nwant it to contain %q", code, tc.code, stderr.String(), tc.inStderr)
			}
		})
	}
}

// TestProbeServes runs the exporter in-process with --ca and probes a
// Go HTTPS server whose certificate only that CA can verify.
func TestProbeServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "probe cmd CA")
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	srv.StartTLS()
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runProbe(ctx, []string{"--listen", "127.0.0.1:0", "--ca", ca.WriteRoot(t, dir), "--log-format", "json", "--log-level", "debug"}, io.Discard, &stderr)
	}()
	addr := waitFor(t, "the listening address", stderr.String, `"msg":"probe exporter listening","addr":"(127\.0\.0\.1:\d+)"`)[1]

	target := strings.TrimPrefix(srv.URL, "https://")
	for _, module := range []string{"http_2xx", "tcp_tls"} {
		resp, err := http.Get("http://" + addr + "/probe?" + url.Values{"target": {target}, "module": {module}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := mfs["probe_success"].GetMetric()[0].GetGauge().GetValue(); got != 1 {
			t.Errorf("%s: probe_success %v, want 1 (is --ca used?)\nlog: %s", module, got, stderr.String())
		}
		if got := mfs["probe_ssl_earliest_cert_expiry"].GetMetric()[0].GetGauge().GetValue(); got != float64(leaf.Leaf.NotAfter.Unix()) {
			t.Errorf("%s: probe_ssl_earliest_cert_expiry %v, want %d", module, got, leaf.Leaf.NotAfter.Unix())
		}
	}
	waitFor(t, "a debug line per probe", stderr.String, `"msg":"probe","module":"tcp_tls","target":"127\.0\.0\.1:\d+","result":"success"`)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runProbe: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("runProbe did not return after its context ended")
	}
	if !strings.Contains(stderr.String(), "probe exporter stopped") {
		t.Errorf("no stop line in:\n%s", stderr.String())
	}
}

// TestProbeHelpListsEveryModule (issue 15, item 17): probe --help names
// every module the exporter answers.
func TestProbeHelpListsEveryModule(t *testing.T) {
	for _, m := range []string{"http_2xx", "tcp_tls", "tls_grade"} {
		if !strings.Contains(probeUsage, "\n  "+m+" ") {
			t.Errorf("probe usage does not list module %s", m)
		}
	}
}
