package ca

import (
	"fmt"
	"strings"
)

// Revocation reasons of RFC 5280, 5.3.1, as 'tlsgate ca revoke --reason'
// spells them and records keep them. The value is the CRL reason code.
//
// Left out on purpose: certificateHold (6) and removeFromCRL (8), because
// a revocation here is final (there is no un-revoke, so a hold could never
// be released), and aACompromise (10), which is for attribute
// certificates.
var reasons = []struct {
	name string
	code int
}{
	{"unspecified", 0},
	{"keyCompromise", 1},
	{"cACompromise", 2},
	{"affiliationChanged", 3},
	{"superseded", 4},
	{"cessationOfOperation", 5},
	{"privilegeWithdrawn", 9},
}

// ReasonNames lists the revocation reasons Revoke accepts.
func ReasonNames() []string {
	out := make([]string, len(reasons))
	for i, r := range reasons {
		out[i] = r.name
	}
	return out
}

// ParseReason returns the RFC 5280 name (as ReasonNames spells it) and CRL
// reason code of s, matched case-insensitively; empty means unspecified.
func ParseReason(s string) (name string, code int, err error) {
	if s == "" {
		return "unspecified", 0, nil
	}
	for _, r := range reasons {
		if strings.EqualFold(s, r.name) {
			return r.name, r.code, nil
		}
	}
	return "", 0, fmt.Errorf("unknown revocation reason %q: use one of %s", s, strings.Join(ReasonNames(), ", "))
}

// ReasonCode is the CRL reason code of a record's reason. Records written
// before reasons were checked may hold free text: anything that is not one
// of ReasonNames reads as unspecified (0), which the CRL entry leaves out
// as RFC 5280 asks, so the certificate stays revoked and only the reason
// is lost.
func (r Record) ReasonCode() int {
	_, code, err := ParseReason(r.Reason)
	if err != nil {
		return 0
	}
	return code
}
