package ca

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRevokeReasonCodes checks that every accepted reason reaches the CRL
// entry as its RFC 5280 code, that free text is refused naming the
// accepted reasons, and that a record an older version wrote with free
// text stays revoked, as unspecified.
func TestRevokeReasonCodes(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	want := map[string]int{}
	for _, name := range append(ReasonNames(), "legacy") {
		_, rec, err := a.IssueRecorded(Leaf{Names: []string{"c-" + strings.ToLower(name)}, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		if name == "legacy" {
			if _, err := a.Revoke(rec.Serial, "lost laptop"); err == nil || !strings.Contains(err.Error(), "keyCompromise, cACompromise") {
				t.Fatalf("Revoke with free text: %v, want an error listing the reasons", err)
			}
			if _, err := a.Revoke(rec.Serial, "certificateHold"); err == nil {
				t.Fatal("certificateHold accepted: a hold could never be released")
			}
			// What an older version wrote.
			if _, err := a.Revoke(rec.Serial, ""); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(a.Dir(), issuedDir, rec.Serial+".json")
			data, _ := os.ReadFile(p)
			var r Record
			json.Unmarshal(data, &r)
			r.Reason = "lost laptop"
			if err := a.writeRecord(&r); err != nil {
				t.Fatal(err)
			}
			want[rec.Serial] = 0
			continue
		}
		got, err := a.Revoke(rec.Serial, strings.ToUpper(name))
		if err != nil {
			t.Fatal(err)
		}
		if got.Reason != name {
			t.Errorf("recorded reason %q, want %q", got.Reason, name)
		}
		_, want[rec.Serial], _ = ParseReason(name)
	}
	out, err := a.CRL(0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(out)
	crl, err := x509.ParseRevocationList(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != len(want) {
		t.Fatalf("CRL has %d entries, want %d", len(crl.RevokedCertificateEntries), len(want))
	}
	for _, e := range crl.RevokedCertificateEntries {
		serial := e.SerialNumber.Text(16)
		if e.ReasonCode != want[serial] {
			t.Errorf("serial %s: reason code %d, want %d", serial, e.ReasonCode, want[serial])
		}
		for _, x := range e.Extensions {
			// id-ce-cRLReasons: absent for unspecified (RFC 5280, 5.3.1).
			if x.Id.String() == "2.5.29.21" && want[serial] == 0 {
				t.Errorf("serial %s: unspecified reason encoded; RFC 5280 asks to leave it out", serial)
			}
		}
	}
}

func TestParseReason(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"": 0, "unspecified": 0, "keyCompromise": 1, "KEYCOMPROMISE": 1, "cACompromise": 2,
		"affiliationChanged": 3, "superseded": 4, "cessationOfOperation": 5, "privilegeWithdrawn": 9} {
		if _, code, err := ParseReason(in); err != nil || code != want {
			t.Errorf("ParseReason(%q) = %d, %v; want %d", in, code, err, want)
		}
	}
	for _, in := range []string{"certificateHold", "removeFromCRL", "aACompromise", "key compromise", "1"} {
		if _, _, err := ParseReason(in); err == nil {
			t.Errorf("ParseReason(%q) accepted", in)
		}
	}
}
