package server

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// docMetric is a metric name as docs/metrics.md spells it, in backticks.
var docMetric = regexp.MustCompile("`(tlsgate_[a-z0-9_]+)`")

// TestMetricsDocumented keeps docs/metrics.md honest: every metric it names
// is on a live gateway's /metrics, and every metric there is in it (the Go
// and process collectors' go_* and process_* as the families the doc
// names). The gateway has a site of each certificate source (files with
// mutual TLS, internal, ACME whose CA is unreachable), and sees a request
// with a client certificate, one to a dead upstream and a handshake that
// fails, so that every series exists.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range docMetric.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	for _, family := range []string{"`go_*`", "`process_*`"} {
		if !strings.Contains(string(doc), family) {
			t.Errorf("docs/metrics.md does not mention the %s metrics", family)
		}
	}

	dir := t.TempDir()
	ca := pkitest.NewCA(t, "Doc CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "site", ca.Issue(t, pkitest.Leaf{Names: []string{"files.example.com"}}))
	clientCA := pkitest.NewCA(t, "Doc Clients CA")
	client := clientCA.Issue(t, pkitest.Leaf{Names: []string{"billing"}, Client: true})
	up := backend(t, "api")
	g := startGateway(t, fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:0", http: "127.0.0.1:0"}
admin: {listen: "127.0.0.1:0"}
acme: {directory: "https://%s/dir", email: doc@example.com, ca_roots: [%s]}
sites:
  - hosts: [files.example.com]
    tls: {certificate: {cert: %s, key: %s}}
    client_auth: {ca: [%s]}
    routes:
      - {path: /, upstreams: ["%s"], client_auth: require}
      - {path: /dead/, upstreams: ["http://%s"]}
  - hosts: [internal.example.com]
    tls: {certificate: {source: internal}}
    routes: [{upstreams: ["%s"]}]
  - hosts: [acme.example.com]
    tls: {certificate: {source: acme, acme: {profile: default}}}
    routes: [{upstreams: ["%s"]}]
  - hosts: ["*"]
    tls: {certificate: {source: acme, acme: {profile: default, on_demand: {ask: "http://%s/ask"}}}}
    routes: [{upstreams: ["%s"]}]
`, filepath.Join(dir, "data"), testpeer.ClosedAddr(t), ca.WriteRoot(t, dir), certFile, keyFile, clientCA.WriteRoot(t, dir),
		up, testpeer.ClosedAddr(t), up, up, testpeer.ClosedAddr(t), up))
	admin := g.srv.AdminAddr().String()
	// The first ACME order fails: then no background work still writes
	// to data_dir when the test's cleanup removes it.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(g.logs.String(), "certificate request failed"); {
		if time.Now().After(deadline) {
			t.Fatalf("no ACME failure logged\nlogs:\n%s", g.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	get := func(path string, cert *tls.Certificate) {
		cfg := &tls.Config{ServerName: "files.example.com", RootCAs: ca.Pool()}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+g.https+path, nil)
		req.Host = "files.example.com"
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/", client)
	// One handshake over Encrypted Client Hello (on by default).
	if list := g.srv.ECHConfigList(); list == nil {
		t.Fatal("ECH is off")
	} else {
		c, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "files.example.com", RootCAs: ca.Pool(), Certificates: []tls.Certificate{*client}, EncryptedClientHelloConfigList: list})
		if err != nil {
			t.Fatal(err)
		}
		if !c.ConnectionState().ECHAccepted {
			t.Error("ECH not accepted")
		}
		c.Close()
	}
	get("/dead/", client)
	if _, err := tls.Dial("tcp", g.https, &tls.Config{ServerName: "other.example.com", InsecureSkipVerify: true}); err == nil {
		t.Fatal("unknown SNI accepted")
	}

	// The handshake failure and the ACME failure are counted just after
	// the client sees them: wait, bounded, for every documented name.
	var live map[string]bool
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		live = map[string]bool{}
		for name := range scrape(t, admin) {
			live[name] = true
		}
		missing = missing[:0]
		for name := range documented {
			if !live[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(missing)
	for _, name := range missing {
		t.Errorf("docs/metrics.md names %s, which a live gateway does not expose", name)
	}
	var undocumented []string
	for name := range live {
		if !documented[name] && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			undocumented = append(undocumented, name)
		}
	}
	slices.Sort(undocumented)
	for _, name := range undocumented {
		t.Errorf("/metrics has %s, which docs/metrics.md does not document", name)
	}
	if !live["go_goroutines"] || !live["process_cpu_seconds_total"] {
		t.Error("no go_* or process_* metrics, which docs/metrics.md promises")
	}
}
