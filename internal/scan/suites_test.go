package scan

import (
	"crypto/tls"
	"testing"
)

// TestGoSuitesInTable holds the table to crypto/tls: every suite Go
// speaks is in it, under Go's name, with what Go says of its security.
// Package probe names negotiated suites from the table and must print
// what blackbox_exporter (tls.CipherSuiteName) prints.
func TestGoSuitesInTable(t *testing.T) {
	t.Parallel()
	insecure := map[uint16]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		insecure[s.ID] = true
	}
	ids := GoSuites()
	if len(ids) != len(tls.CipherSuites())+len(tls.InsecureCipherSuites()) {
		t.Fatalf("GoSuites has %d suites, crypto/tls %d", len(ids), len(tls.CipherSuites())+len(tls.InsecureCipherSuites()))
	}
	for _, id := range ids {
		s, ok := suiteByID[id]
		if !ok {
			t.Errorf("0x%04X (%s) is not in the table", id, tls.CipherSuiteName(id))
			continue
		}
		if want := tls.CipherSuiteName(id); s.Name != want {
			t.Errorf("0x%04X: table name %s, crypto/tls %s", id, s.Name, want)
		}
		// Go calls a suite insecure for RC4, 3DES, CBC with SHA-256 or
		// static RSA key exchange: each is a weakness in the table.
		if insecure[id] && len(s.Weaknesses()) == 0 {
			t.Errorf("%s: crypto/tls calls it insecure, the table finds no weakness", s.Name)
		}
	}
	// An ID in no table reads the same either way.
	if got, want := LookupSuite(0x0A0A).Name, tls.CipherSuiteName(0x0A0A); got != want {
		t.Errorf("unknown suite: LookupSuite names it %s, crypto/tls %s", got, want)
	}
}
