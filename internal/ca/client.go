package ca

import (
	"fmt"
	"net/url"
	"time"
)

// DefaultClientValidity is how long IssueClient's certificates last when
// no validity is given: long enough for a development session or a test
// fleet, short enough that a leaked one expires within the month.
const DefaultClientValidity = 30 * 24 * time.Hour

// IssueClient issues a client certificate for name, with uris as URI
// SANs (SPIFFE IDs, say), valid for validity (zero: DefaultClientValidity),
// and returns its PEM chain (leaf, then intermediate) and PEM key. It is
// not recorded: for certificates to list and revoke, use IssueRecorded.
func IssueClient(a *Authority, name string, uris []string, validity time.Duration) (chainPEM, keyPEM []byte, err error) {
	if validity == 0 {
		validity = DefaultClientValidity
	}
	l := Leaf{Names: []string{name}, Client: true, Validity: validity}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme == "" {
			return nil, nil, fmt.Errorf("URI SAN %q: not an absolute URI, such as spiffe://example.org/service", u)
		}
		l.URIs = append(l.URIs, pu)
	}
	cert, err := a.Issue(l)
	if err != nil {
		return nil, nil, fmt.Errorf("issuing a client certificate for %s: %w", name, err)
	}
	return EncodePEM(cert)
}
