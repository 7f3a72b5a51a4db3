package scan

// How bad a fact is, on the scale of findings, for the reports that
// colour, level or fail on it: a report takes these, never its own table.

// protocolFindings are the protocol versions whose offer is a finding,
// with its ID and severity: SSL 2.0 and 3.0 are broken (DROWN, POODLE),
// TLS 1.0 and 1.1 deprecated (RFC 8996).
var protocolFindings = []struct {
	name, id string
	sev      Severity
}{
	{"SSLv2", "protocol.sslv2", SeverityCritical},
	{"SSLv3", "protocol.sslv3", SeverityCritical},
	{"TLS 1.0", "protocol.tls10", SeverityMedium},
	{"TLS 1.1", "protocol.tls11", SeverityMedium},
}

// Severity is how bad it is that p is offered: critical for SSLv2 and
// SSLv3, medium for TLS 1.0 and 1.1, and "" (no finding) for TLS 1.2 and
// 1.3 or a protocol that is not offered. It is the severity of the
// protocol.* finding Findings reports for it.
func (p Protocol) Severity() Severity {
	if !p.Offered {
		return ""
	}
	for _, f := range protocolFindings {
		if f.name == p.Name {
			return f.sev
		}
	}
	return ""
}

// GradeSeverity is how bad a grade letter is: A+ and A are info, A- low,
// B medium, C to E high, and F, T (not trusted) and M (name mismatch),
// which clients refuse or should, critical.
func GradeSeverity(letter string) Severity {
	switch letter {
	case "A+", "A":
		return SeverityInfo
	case "A-":
		return SeverityLow
	case "B":
		return SeverityMedium
	case "C", "D", "E":
		return SeverityHigh
	}
	return SeverityCritical
}

// Below reports whether letter is worse than min, for a minimum grade
// that a run must meet; an empty min is no minimum. T and M are below
// every grade.
func Below(letter, min string) bool {
	return min != "" && GradeRank(letter) < GradeRank(min)
}
