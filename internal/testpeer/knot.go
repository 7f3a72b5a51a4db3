package testpeer

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// KnotZone is a zone StartKnot serves: an SOA and an NS record
// (ns1.<zone>, 127.0.0.1) are made for it.
type KnotZone struct {
	// Name is the zone's apex, such as "example.test".
	Name string
	// Records are extra zone-file lines, names relative to the zone or
	// absolute, e.g. "_acme-challenge.api CNAME x.validation.example.test.".
	Records []string
}

// Knot is a running Knot DNS server (knotd) on 127.0.0.1, authoritative
// for the zones given to StartKnot, which accepts DNS UPDATEs signed with
// its TSIG key.
type Knot struct {
	// Addr is where it answers, UDP and TCP: 127.0.0.1:PORT.
	Addr string
	// KeyName is the TSIG key's name, "acme-key.".
	KeyName string
	// Secret is the key's base64 hmac-sha256 secret, and SecretFile a file
	// holding it (with a newline, as an operator would write it).
	Secret, SecretFile string
	// Log is knotd's log file.
	Log string
}

// KnotKeyName is the name of the TSIG key StartKnot makes.
const KnotKeyName = "acme-key."

// StartKnot runs knotd unprivileged from a config of its own in dir
// (created if missing), serving zones on a free 127.0.0.1 port (UDP and
// TCP) and allowing updates signed with a random hmac-sha256 TSIG key. It
// waits until the first zone answers, stops knotd when the test ends, and
// prints the tail of its log if the test failed.
func StartKnot(t testing.TB, dir string, zones ...KnotZone) *Knot {
	t.Helper()
	knotd := Require(t, "knotd")
	if len(zones) == 0 {
		t.Fatal("testpeer: StartKnot: no zones")
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	k := &Knot{
		KeyName:    KnotKeyName,
		Secret:     base64.StdEncoding.EncodeToString(secret),
		SecretFile: filepath.Join(dir, "tsig.key"),
		Log:        filepath.Join(dir, "knotd.log"),
	}
	if err := os.WriteFile(k.SecretFile, []byte(k.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var zoneConf strings.Builder
	for _, z := range zones {
		name := strings.TrimSuffix(z.Name, ".")
		body := fmt.Sprintf("$ORIGIN %s.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n%s\n",
			name, strings.Join(z.Records, "\n"))
		if err := os.WriteFile(filepath.Join(dir, name+".zone"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&zoneConf, "  - domain: %s.\n    acl: update\n", name)
	}
	var proc *process
	t.Cleanup(func() {
		if proc != nil {
			proc.stop()
		}
		if t.Failed() {
			logTail(t, k.Log)
		}
	})
	for attempt := 1; ; attempt++ {
		k.Addr = fmt.Sprintf("127.0.0.1:%d", stablePort(t, true))
		host, port, _ := strings.Cut(k.Addr, ":")
		// rundir holds knotd's control socket, whose path may have at
		// most 107 bytes: t.TempDir() paths are well below that.
		conf := fmt.Sprintf(`server:
    rundir: %q
    listen: %s@%s
    pidfile: %q
database:
    storage: %q
log:
  - target: stderr
    any: info
key:
  - id: %s
    algorithm: hmac-sha256
    secret: %s
acl:
  - id: update
    key: %s
    action: update
template:
  - id: default
    storage: %q
    file: "%%s.zone"
    zonefile-sync: -1
zone:
%s`, dir, host, port, filepath.Join(dir, "knotd.pid"), filepath.Join(dir, "db"), k.KeyName, k.Secret, k.KeyName, dir, zoneConf.String())
		confFile := filepath.Join(dir, "knot.conf")
		if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := start(k.Log, nil, knotd, "-c", confFile)
		if err != nil {
			t.Fatal(err)
		}
		err = waitFor(p, func() error { return knotReady(k.Addr, zones[0].Name) })
		if err == nil {
			proc = p
			return k
		}
		p.stop()
		log := p.logSince()
		if !strings.Contains(log, "in use") && !strings.Contains(log, "failed to bind") || attempt == 3 {
			t.Fatalf("starting knotd: %v (see %s)", err, k.Log)
		}
	}
}

// knotReady reports whether addr answers zone's SOA over UDP and TCP.
func knotReady(addr, zone string) error {
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
		r, _, err := (&dns.Client{Net: network, Timeout: time.Second}).Exchange(m, addr)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return errors.New("zone " + zone + " not loaded yet: " + dns.RcodeToString[r.Rcode])
		}
	}
	return nil
}

// TXT returns the TXT values Knot serves for name (over TCP), for tests to
// check what a client published.
func (k *Knot) TXT(t testing.TB, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(m, k.Addr)
	if err != nil {
		t.Fatalf("querying knotd for TXT %s: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}
