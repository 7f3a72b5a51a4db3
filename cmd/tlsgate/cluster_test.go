package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/testpeer"
)

// fleetNode is one gateway process of the fleet.
type fleetNode struct {
	name        string
	https, http int
	config      string
	p           *proc
}

type fleet struct {
	t      testing.TB
	dir    string
	etcd   *testpeer.Etcd
	pebble *testpeer.Pebble
	nodes  []*fleetNode
	key    string
	roots  *x509.CertPool
}

// fleetConfig is a node's config: the shared sites, plus extra hosts.
func (f *fleet) writeConfig(n *fleetNode, extra ...string) {
	sites := `  - hosts: [fleet1.example.com, fleet2.example.com, fleet3.example.com]
    tls: {certificate: {source: acme}}
    routes: [{upstreams: ["` + httpBackend(f.t) + `"]}]
`
	for _, h := range extra {
		sites += fmt.Sprintf("  - hosts: [%s]\n    tls: {certificate: {source: acme}}\n    routes: [{upstreams: [%q]}]\n", h, httpBackend(f.t))
	}
	endpoints, _ := json.Marshal(f.etcd.Endpoints)
	cfg := fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:%d", http: "127.0.0.1:%d"}
log: {format: json, access: false}
storage:
  etcd: {endpoints: %s, encryption_key_file: %s, ticket_rotation: 4s, node: %s}
acme: {directory: "%s", email: fleet@example.com, ca_roots: [%s], challenges: [http-01], profile: default}
sites:
%s`, filepath.Join(f.dir, n.name+"-data"), n.https, n.http, endpoints, f.key, n.name, f.pebble.Directory, f.pebble.APICAFile, sites)
	if err := os.WriteFile(n.config, []byte(cfg), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// handshake connects to node n as a client of name; cache may carry a
// session to resume.
func (f *fleet) handshake(n *fleetNode, name string, cache tls.ClientSessionCache) (*tls.ConnectionState, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: name, RootCAs: f.roots, ClientSessionCache: cache}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", n.https), nil)
	req.Host = name
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.TLS, nil
}

// waitServed waits until node n serves name a certificate from Pebble.
func (f *fleet) waitServed(n *fleetNode, name string, within time.Duration) *x509.Certificate {
	f.t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		cs, err := f.handshake(n, name, nil)
		if err == nil {
			return cs.PeerCertificates[0]
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	f.t.Fatalf("%s does not serve %s after %v: %v\nits log:\n%s", n.name, name, within, last, n.p.errOut())
	return nil
}

func (f *fleet) orders() int {
	b, _ := os.ReadFile(filepath.Join(f.dir, "pebble", "pebble.log"))
	return strings.Count(string(b), "Added order")
}

// TestFleet runs three gateway processes sharing a 3-member etcd and a
// Pebble CA, and checks what issue 8 promises, step by step.
func TestFleet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := &fleet{t: t, dir: dir}
	f.etcd = testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 3)
	for _, name := range []string{"a", "b", "c"} {
		f.nodes = append(f.nodes, &fleetNode{name: name, https: testpeer.FreePort(t), http: testpeer.FreePort(t),
			config: filepath.Join(dir, name+".yaml")})
	}
	// Pebble validates only against node a's ports: b and c have no
	// challenge ports the CA can reach.
	f.pebble = testpeer.StartPebble(t, filepath.Join(dir, "pebble"), testpeer.PebbleOptions{HTTPPort: f.nodes[0].http, TLSPort: f.nodes[0].https})
	f.key = filepath.Join(dir, "storage.key")
	os.WriteFile(f.key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))), 0o600)
	f.writeConfig(f.nodes[0])
	f.writeConfig(f.nodes[1])
	f.writeConfig(f.nodes[2], "solo.example.com") // only c serves solo
	// Node a first, until it listens: the CA validates every name's
	// http-01 challenge on a's port, and an order placed by b or c before
	// a listens fails and is placed again (under load a takes a second or
	// more to connect to etcd and listen). Then b and c at once, while a
	// orders too: one order per name still needs the fleet's lock.
	f.nodes[0].p = start(t, nil, "serve", "--config", f.nodes[0].config)
	aHTTP := net.JoinHostPort("127.0.0.1", strconv.Itoa(f.nodes[0].http))
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", aHTTP, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 300 {
			t.Fatalf("node a does not listen on %s after 30 s: %v", aHTTP, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range f.nodes[1:] {
		n.p = start(t, nil, "serve", "--config", n.config)
	}
	f.roots = f.pebble.IssuerRoots(t)

	// 1. Exactly one order per name; every node serves the same certificate.
	for _, name := range []string{"fleet1.example.com", "fleet2.example.com", "fleet3.example.com"} {
		var serial string
		for _, n := range f.nodes {
			s := f.waitServed(n, name, 90*time.Second).SerialNumber.Text(16)
			if serial != "" && s != serial {
				t.Errorf("%s: node %s serves serial %s, another node %s", name, n.name, s, serial)
			}
			serial = s
		}
	}
	// 2. A node without challenge ports (c) got solo.example.com: node a
	// answered the CA's http-01 request from the shared storage.
	f.waitServed(f.nodes[2], "solo.example.com", 90*time.Second)
	if n := f.orders(); n != 4 {
		t.Errorf("Pebble received %d orders for 4 names, want exactly 4", n)
	}

	// 3. A TLS 1.3 ticket from a resumes on b and c, also after a rotation.
	cache := tls.NewLRUClientSessionCache(1)
	if _, err := f.handshake(f.nodes[0], "fleet1.example.com", cache); err != nil {
		t.Fatal(err)
	}
	for _, n := range f.nodes[1:] {
		cs, err := f.handshake(n, "fleet1.example.com", cache)
		if err != nil || !cs.DidResume {
			t.Errorf("a ticket from a did not resume on %s: %v", n.name, err)
		}
	}
	before := clusterStatus(t, f.nodes[0].config)
	time.Sleep(5 * time.Second) // one rotation (every 4 s)
	after := clusterStatus(t, f.nodes[0].config)
	if !after.Rotated.After(before.Rotated) {
		t.Fatalf("no rotation in 5 s: %v then %v", before.Rotated, after.Rotated)
	}
	// The ticket b issued before the rotation still resumes, on c.
	if cs, err := f.handshake(f.nodes[2], "fleet1.example.com", cache); err != nil || !cs.DidResume {
		t.Errorf("a ticket from before the rotation did not resume on c: %v", err)
	}
	fresh := tls.NewLRUClientSessionCache(1)
	f.handshake(f.nodes[1], "fleet1.example.com", fresh)
	if cs, err := f.handshake(f.nodes[0], "fleet1.example.com", fresh); err != nil || !cs.DidResume {
		t.Errorf("a ticket from after the rotation did not resume on a: %v", err)
	}

	// 4. Private keys are not readable in etcd.
	etcdctl := testpeer.Require(t, "etcdctl")
	cmd := exec.Command(etcdctl, "--endpoints", strings.Join(f.etcd.Endpoints, ","), "get", "--prefix", "/tlsgate/")
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	dump, err := cmd.Output()
	if err != nil || len(dump) < 1000 {
		t.Fatalf("etcdctl get: %v (%d bytes)", err, len(dump))
	}
	if strings.Contains(string(dump), "PRIVATE KEY") || strings.Contains(string(dump), "BEGIN") {
		t.Error("etcd holds PEM in clear")
	}

	// 5. tlsgate cluster status.
	out, errOut, code := runCLI(t, nil, "cluster", "status", "--config", f.nodes[1].config)
	if code != 0 || strings.Count(out, "127.0.0.1") < 3 || !strings.Contains(out, "leader") ||
		!strings.Contains(out, "solo.example.com") || !strings.Contains(out, "rotated by ") {
		t.Errorf("cluster status: exit %d\n%s\n%s", code, out, errOut)
	}

	// 6. Kill -9 the etcd leader under a bounded load: no failed request.
	leader := -1
	for i, m := range after.Members {
		if m.Leader {
			for j, ep := range f.etcd.Endpoints {
				if ep == m.Endpoint {
					leader = j
				}
			}
			_ = i
		}
	}
	if leader < 0 {
		t.Fatalf("no etcd leader in %+v", after.Members)
	}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	var wg sync.WaitGroup
	for _, n := range f.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 2000; i++ {
				if _, err := f.handshake(n, "fleet2.example.com", nil); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	f.etcd.Kill(t, leader)
	wg.Wait()
	cancel()
	t.Logf("etcd leader killed under load: %d requests, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed while the etcd leader died; first: %v", failed.Load(), firstErr.Load())
	}

	// 7. Quorum lost: gateways keep serving; a new name waits and is
	// issued once quorum is back.
	second := (leader + 1) % 3
	f.etcd.Kill(t, second)
	for _, n := range f.nodes {
		f.waitServed(n, "fleet3.example.com", 5*time.Second)
	}
	f.writeConfig(f.nodes[0], "late.example.com")
	f.nodes[0].p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload", f.nodes[0].p.errOut, `"msg":"reloaded"`)
	time.Sleep(3 * time.Second)
	if _, err := f.handshake(f.nodes[0], "late.example.com", nil); err == nil {
		t.Fatal("late.example.com was issued without an etcd quorum")
	}
	// a could not even look for it in storage: it retries by itself.
	waitFor(t, "a failing to read storage for late.example.com", f.nodes[0].p.errOut,
		`"msg":"cannot load or order the certificate yet; retrying","name":"late.example.com"`)
	f.etcd.Restart(t, leader)
	f.etcd.Restart(t, second)
	quorum := time.Now()
	f.waitServed(f.nodes[0], "late.example.com", 150*time.Second)
	t.Logf("late.example.com served %v after the etcd quorum was back", time.Since(quorum).Round(100*time.Millisecond))

	// 8. A gateway killed while holding an issuance lock: another node
	// takes over once the lock's lease expires.
	f.pebble.Pause(t)
	f.writeConfig(f.nodes[1], "locked.example.com")
	f.nodes[1].p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "b requesting locked.example.com", f.nodes[1].p.errOut, `"msg":"requesting certificate","name":"locked.example.com"`)
	f.nodes[1].p.cmd.Process.Kill()
	killed := time.Now()
	f.pebble.Resume(t)
	f.writeConfig(f.nodes[2], "solo.example.com", "locked.example.com")
	f.nodes[2].p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "c requesting locked.example.com", f.nodes[2].p.errOut, `"msg":"requesting certificate","name":"locked.example.com"`)
	if waited := time.Since(killed); waited < 5*time.Second {
		t.Errorf("c ordered %v after b died holding the lock: the lock did not hold", waited)
	} else {
		t.Logf("c took over the issuance lock %v after b was killed", waited.Round(100*time.Millisecond))
	}
	f.waitServed(f.nodes[2], "locked.example.com", 60*time.Second)
}

type clusterStatusJSON struct {
	Members []struct {
		Endpoint string `json:"endpoint"`
		Leader   bool   `json:"leader"`
	} `json:"members"`
	Rotator string    `json:"ticket_key_rotator"`
	Rotated time.Time `json:"ticket_keys_rotated"`
}

func clusterStatus(t testing.TB, config string) clusterStatusJSON {
	t.Helper()
	out, errOut, code := runCLI(t, nil, "cluster", "status", "--config", config, "--json")
	var st clusterStatusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("cluster status --json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	return st
}

// TestCertsFleet: in fleet mode `certs list` and `certs renew` use the
// fleet's etcd, as `serve` does, not a data dir of their own. Node b runs
// only the CLI, with a data dir that never held a certificate: what it
// lists and renews can only come from etcd.
func TestCertsFleet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := &fleet{t: t, dir: dir}
	f.etcd = testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 1)
	for _, name := range []string{"a", "b"} {
		f.nodes = append(f.nodes, &fleetNode{name: name, https: testpeer.FreePort(t), http: testpeer.FreePort(t),
			config: filepath.Join(dir, name+".yaml")})
	}
	a, b := f.nodes[0], f.nodes[1]
	// The decoy profiles' lifetimes would show an order that lost the
	// configured profile on its way through etcd and certs renew.
	f.pebble = testpeer.StartPebble(t, filepath.Join(dir, "pebble"), testpeer.PebbleOptions{HTTPPort: a.http, TLSPort: a.https,
		Profiles: testpeer.WithDecoys("default", 90*24*time.Hour)})
	f.key = filepath.Join(dir, "storage.key")
	os.WriteFile(f.key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))), 0o600)
	f.writeConfig(a)
	f.writeConfig(b)
	a.p = start(t, nil, "serve", "--config", a.config)
	f.roots = f.pebble.IssuerRoots(t)
	first := f.waitServed(a, "fleet1.example.com", 90*time.Second).SerialNumber.Text(16)

	type row struct {
		Name       string `json:"name"`
		Serial     string `json:"serial"`
		LastResult string `json:"last_result"`
		Problem    string `json:"problem"`
	}
	list := func() map[string]row {
		out, errOut, code := runCLI(t, nil, "certs", "list", "--config", b.config, "--json")
		var rows []row
		if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil {
			t.Fatalf("certs list: exit %d, %v\n%s\n%s", code, err, out, errOut)
		}
		m := map[string]row{}
		for _, r := range rows {
			m[r.Name] = r
		}
		return m
	}
	if r := list()["fleet1.example.com"]; r.Serial != first || r.LastResult != "obtained" {
		t.Fatalf("certs list on b: %+v, want the serial a serves (%s), obtained", r, first)
	}
	// b has no challenge ports the CA reaches: a answers through etcd.
	out, errOut, code := runCLI(t, nil, "certs", "renew", "--config", b.config, "--force", "fleet1.example.com")
	if code != 0 || !strings.Contains(out, "new certificate") {
		t.Fatalf("certs renew --force on b: exit %d\n%s\n%s", code, out, errOut)
	}
	renewed := list()["fleet1.example.com"]
	if renewed.Serial == first || renewed.LastResult != "renewed" {
		t.Fatalf("after renew on b: %+v (first serial %s)", renewed, first)
	}
	if _, err := os.Stat(filepath.Join(dir, "b-data", "acme")); err == nil {
		t.Error("certs on b wrote a file store in its data dir")
	}
	a.p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload", a.p.errOut, `"msg":"reloaded"`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, err := f.handshake(a, "fleet1.example.com", nil)
		if err == nil && cs.PeerCertificates[0].SerialNumber.Text(16) == renewed.Serial {
			leaf := cs.PeerCertificates[0]
			if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 89*24*time.Hour {
				t.Errorf("the certificate certs renew got lives %s, want the default profile's 90 days: the profile was dropped", life)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a does not serve the certificate b renewed (%s): %v", renewed.Serial, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterStatusEtcdDown: with etcd down, cluster status says at once
// which endpoints refused the connection (it took 22 s and printed
// "context deadline exceeded" four times).
func TestClusterStatusEtcdDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var endpoints []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		endpoints = append(endpoints, "http://"+ln.Addr().String())
		ln.Close() // a port nothing listens on: refused
	}
	key := filepath.Join(dir, "storage.key")
	os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))), 0o600)
	list, _ := json.Marshal(endpoints)
	cfg := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `storage:
  etcd: {endpoints: %s, encryption_key_file: %s}
sites:
  - hosts: [a.example.com]
    routes: [{upstreams: ["http://127.0.0.1:9"]}]
`, list, key), 0o600)
	for _, format := range []string{"text", "json"} {
		start := time.Now()
		stdout, stderr, code := runCLI(t, nil, "cluster", "status", "--config", cfg, "--format", format)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: took %v", format, took)
		}
		if code != 1 || strings.Contains(stdout+stderr, "deadline exceeded") {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", format, code, stdout, stderr)
		}
		for _, ep := range endpoints {
			want := "connection refused by " + strings.TrimPrefix(ep, "http://")
			if !strings.Contains(stdout, want) || !strings.Contains(stderr, ep+": "+want) {
				t.Errorf("%s: %s not reported refused\nstdout: %s\nstderr: %s", format, ep, stdout, stderr)
			}
		}
		if !strings.Contains(stderr, "tlsgate: hint: start etcd, or check storage.etcd.endpoints in "+cfg) {
			t.Errorf("%s: no hint:\n%s", format, stderr)
		}
	}
}

// TestFleetDNS01: two gateways sharing etcd, with the same dns-01 wildcard
// site, order its certificate once (the issuance lock in etcd) and both
// serve it. The TXT record goes into a real Knot, where Pebble looks.
func TestFleetDNS01(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := &fleet{t: t, dir: dir}
	f.etcd = testpeer.StartEtcd(t, filepath.Join(dir, "etcd"), 1)
	knot := testpeer.StartKnot(t, filepath.Join(dir, "knot"), testpeer.KnotZone{Name: "example.test"})
	f.pebble = testpeer.StartPebble(t, filepath.Join(dir, "pebble"), testpeer.PebbleOptions{DNSServer: knot.Addr})
	f.key = filepath.Join(dir, "storage.key")
	os.WriteFile(f.key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))), 0o600)
	endpoints, _ := json.Marshal(f.etcd.Endpoints)
	up := httpBackend(t)
	for _, name := range []string{"a", "b"} {
		n := &fleetNode{name: name, https: testpeer.FreePort(t), config: filepath.Join(dir, name+".yaml")}
		f.nodes = append(f.nodes, n)
		cfg := fmt.Sprintf(`data_dir: %s
listen: {https: "127.0.0.1:%d", http: "off"}
log: {format: json, access: false}
storage:
  etcd: {endpoints: %s, encryption_key_file: %s, node: %s}
acme:
  directory: "%s"
  email: fleet-dns01@example.com
  ca_roots: [%s]
  profile: default
  challenges: [dns-01]
  dns: {provider: rfc2136, server: "%s", key_name: %s, key_file: %s, resolvers: ["%s"], propagation_timeout: 20s}
sites:
  - hosts: ["*.api.example.test"]
    tls: {certificate: {source: acme}}
    routes: [{upstreams: [%q]}]
`, filepath.Join(dir, name+"-data"), n.https, endpoints, f.key, name, f.pebble.Directory, f.pebble.APICAFile,
			knot.Addr, knot.KeyName, knot.SecretFile, knot.Addr, up)
		if err := os.WriteFile(n.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range f.nodes { // both at once: they race for the order
		n.p = start(t, nil, "serve", "--config", n.config)
	}
	f.roots = f.pebble.IssuerRoots(t)

	var serial string
	for _, n := range f.nodes {
		for _, name := range []string{"a.api.example.test", "b.api.example.test"} {
			leaf := f.waitServed(n, name, 90*time.Second)
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "*.api.example.test" {
				t.Fatalf("%s serves %s a certificate for %v", n.name, name, leaf.DNSNames)
			}
			if s := leaf.SerialNumber.Text(16); serial == "" {
				serial = s
			} else if s != serial {
				t.Errorf("node %s serves %s serial %s, want the one certificate %s", n.name, name, s, serial)
			}
		}
	}
	if n := f.orders(); n != 1 {
		t.Errorf("Pebble received %d orders for one wildcard name served by two gateways, want 1", n)
	}
	// certs list finds the wildcard's certificate in etcd.
	out, errOut, code := runCLI(t, nil, "certs", "list", "--config", f.nodes[1].config, "--json")
	var rows []struct {
		Name   string `json:"name"`
		Serial string `json:"serial"`
	}
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 1 || rows[0].Name != "*.api.example.test" || rows[0].Serial != serial {
		t.Errorf("certs list: exit %d, %v, want *.api.example.test with serial %s\n%s\n%s", code, err, serial, out, errOut)
	}
	// The record is removed after validation, soon after issuance.
	deadline := time.Now().Add(10 * time.Second)
	for txt := knot.TXT(t, "_acme-challenge.api.example.test"); len(txt) > 0; txt = knot.TXT(t, "_acme-challenge.api.example.test") {
		if time.Now().After(deadline) {
			t.Fatalf("TXT _acme-challenge.api.example.test left behind: %q", txt)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
