package proxy

import (
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// githubSpec is GitHub's REST API description (@octokit/openapi, installed
// by make test-deps). proxy does not read OpenAPI (oaslint does, and proxy
// may not import it): the benchmark takes the operations from the JSON's
// paths itself.
const githubSpec = "../oaslint/testdata/specs/node_modules/@octokit/openapi/generated/api.github.com.json"

// githubOperations returns the operations of GitHub's spec (paths as
// written, no base path: its server is https://api.github.com).
func githubOperations(b *testing.B) []Operation {
	data, err := os.ReadFile(githubSpec)
	if err != nil {
		b.Skipf("GitHub's OpenAPI document is not installed: run 'make test-deps' (%v)", err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		b.Fatal(err)
	}
	var ops []Operation
	for path, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "put", "post", "delete", "options", "head", "patch":
				ops = append(ops, Operation{Method: strings.ToUpper(m), Path: path})
			}
		}
	}
	return ops
}

// benchOp is the operation both sites are asked for: a deep GitHub
// template with parameters and literals between them.
const benchOp = "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs"

// BenchmarkOperationTable compares a site with GitHub's operation table
// (about 1,100 operations) with a site of one operation, on the same
// request: "lookup" is the table's work alone (matching the template and
// the method), "serve" the whole request through the site to a loopback
// upstream, as BenchmarkSiteGET. The lookup follows the path's segments,
// not the number of operations, so the two sizes should cost the same.
func BenchmarkOperationTable(b *testing.B) {
	github := githubOperations(b)
	if len(github) < 1000 {
		b.Fatalf("%d operations", len(github))
	}
	one := []Operation{{Method: "GET", Path: benchOp}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"status":"ok","service":"bench","n":1234567890,"ok":true}` + "\n")
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	go up.Serve(ln)
	defer up.Close()
	sites := map[string]*Site{}
	for name, ops := range map[string][]Operation{"1op": one, "github": github} {
		s, err := NewSite(SiteConfig{Name: "bench", HSTS: HSTS{MaxAge: 31536000},
			Spec: &SpecConfig{Name: "openapi bench", Operations: ops, Upstreams: []string{"http://" + ln.Addr().String()}}},
			&Options{Log: slog.New(slog.DiscardHandler), UpstreamConnect: time.Second, UpstreamResponse: 5 * time.Second, BodyRead: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		sites[name] = s
	}
	newReq := func() *http.Request {
		req := httptest.NewRequest("GET", "https://bench/repos/tlsgate/tlsgate/actions/runs/123456/jobs", nil)
		req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, ServerName: "bench"}
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Accept", "application/json")
		return req
	}
	for _, name := range []string{"1op", "github"} {
		s := sites[name]
		b.Run("lookup/"+name, func(b *testing.B) {
			req := newReq()
			b.ReportAllocs()
			for b.Loop() {
				po := s.ops.find(req.URL.Path)
				if po == nil || po.lookup(req) == nil {
					b.Fatal("no operation")
				}
			}
		})
	}
	for _, name := range []string{"1op", "github"} {
		s := sites[name]
		b.Run("serve/"+name, func(b *testing.B) {
			req := newReq()
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				s.ServeHTTP(w, req)
				if w.status != 200 {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}
