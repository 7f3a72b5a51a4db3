package scan

import "testing"

// TestProtocolSeverity: the severity a report colours a protocol with is
// that of the finding Findings reports for it.
func TestProtocolSeverity(t *testing.T) {
	t.Parallel()
	names := []string{"SSLv2", "SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}
	want := map[string]Severity{"SSLv2": SeverityCritical, "SSLv3": SeverityCritical, "TLS 1.0": SeverityMedium, "TLS 1.1": SeverityMedium}
	r := &Result{}
	for _, n := range names {
		r.Protocols = append(r.Protocols, Protocol{Name: n, Offered: true})
		if got := (Protocol{Name: n}).Severity(); got != "" {
			t.Errorf("%s not offered: severity %q, want none", n, got)
		}
	}
	found := map[string]Severity{}
	for _, f := range Findings(r) {
		found[f.ID] = f.Severity
	}
	for _, p := range r.Protocols {
		if got := p.Severity(); got != want[p.Name] {
			t.Errorf("%s offered: severity %q, want %q", p.Name, got, want[p.Name])
		}
	}
	for _, pf := range protocolFindings {
		if found[pf.id] != (Protocol{Name: pf.name, Offered: true}).Severity() {
			t.Errorf("%s: finding %s has severity %q, the protocol %q", pf.name, pf.id, found[pf.id], (Protocol{Name: pf.name, Offered: true}).Severity())
		}
	}
}

func TestGradeSeverity(t *testing.T) {
	t.Parallel()
	want := map[string]Severity{"A+": SeverityInfo, "A": SeverityInfo, "A-": SeverityLow, "B": SeverityMedium, "C": SeverityHigh,
		"D": SeverityHigh, "E": SeverityHigh, "F": SeverityCritical, "T": SeverityCritical, "M": SeverityCritical}
	for letter, sev := range want {
		if got := GradeSeverity(letter); got != sev {
			t.Errorf("GradeSeverity(%s) = %q, want %q", letter, got, sev)
		}
	}
	for _, tc := range []struct {
		letter, min string
		below       bool
	}{{"A-", "A", true}, {"A-", "A-", false}, {"A+", "A", false}, {"F", "", false}, {"T", "F", true}, {"M", "", false}} {
		if got := Below(tc.letter, tc.min); got != tc.below {
			t.Errorf("Below(%s, %q) = %v", tc.letter, tc.min, got)
		}
	}
}
