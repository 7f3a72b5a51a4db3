// Package inventory describes what the gateway serves right now: its
// certificates and the health of its upstreams. Package proxy reports
// upstream health in these types and the server lists its certificates in
// them; package metrics (Prometheus) and package status (the status page
// and /status.json) read the same values, so nothing translates between
// shapes on the way.
//
// Everything here is shown to whoever reaches the admin listener, so it
// must never carry secrets. An upstream URL may hold a password from the
// config: package status removes it before showing the URL, and metrics
// label values come from the same config.
//
// It imports nothing of this module.
package inventory

import "time"

// Certificate is one serving certificate, or the place of one that has
// not been obtained yet. The JSON names are /status.json's.
type Certificate struct {
	Site   string `json:"site"`   // the site's first host
	Name   string `json:"name"`   // the host the certificate is for (an ACME site has one per host)
	Source string `json:"source"` // files, internal or acme
	Issuer string `json:"issuer"` // the issuer's common name, else its whole name
	Serial string `json:"serial"` // hexadecimal

	// NotBefore and NotAfter are the validity period; both zero when there
	// is no certificate yet (an ACME order is pending): metrics report it
	// as pending, the page shows it so.
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`

	// RenewAt is when the gateway renews the certificate at the latest:
	// with a third of its lifetime left for internal and (unless the
	// configured ratio or the CA's ARI window says earlier) for ACME
	// certificates. Zero for files certificates, which only a person
	// renews, and for pending ones. A self-renewing certificate still
	// served after RenewAt means renewal is failing.
	RenewAt time.Time `json:"renew_at,omitzero"`

	// LastAttempt, LastResult and LastError describe the latest ACME
	// issuance or renewal; empty for other sources, and left empty where
	// nobody reads them (the metrics). A non-empty LastError is shown next
	// to the certificate.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastResult  string    `json:"last_result,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

// Upstream is the passive health of one upstream of a route: an upstream
// that fails to connect is taken out of rotation and retried later with
// back-off. The JSON names are /status.json's.
type Upstream struct {
	Site  string `json:"site"`  // the site's first host
	Route string `json:"route"` // the route's path prefix
	URL   string `json:"url"`   // as configured: it may hold a password
	// Healthy is false while the upstream is backed off.
	Healthy             bool `json:"healthy"`
	ConsecutiveFailures int  `json:"consecutive_failures"`
	// RetryAt is when an unhealthy upstream is tried again; zero if
	// unknown or healthy. Once it has passed the upstream is Healthy
	// again (in rotation) while ConsecutiveFailures and LastResult still
	// say that its last attempt failed.
	RetryAt time.Time `json:"retry_at,omitzero"`
	// LastAttempt is when a request last went to the upstream (up to a
	// second earlier for a busy one), LastResult "ok" or "failed", and
	// LastError the failure as the transport reported it (no secrets: a
	// dial or TLS error names the address only). All empty before the
	// first request.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastResult  string    `json:"last_result,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

// ClientCertFailure is one refused or failed client certificate, as the
// status page lists the most recent ones. Subject comes from the client's
// certificate, so it is attacker-controlled text: the page escapes it.
type ClientCertFailure struct {
	Time    time.Time `json:"time"`
	Site    string    `json:"site"`
	Route   string    `json:"route"`
	Reason  string    `json:"reason"`
	Subject string    `json:"subject"`
}
