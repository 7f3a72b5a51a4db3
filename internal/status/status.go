// Package status serves the gateway's status page: certificates and their
// expiry, the TLS handshake mix, recent client-certificate failures and
// upstream health, for a person who does not read Prometheus.
//
// The page is rendered on the server from a [Snapshot]. Its stylesheet and
// icon are embedded in the binary and it runs no script, so it makes no
// request outside the admin listener; a strict Content-Security-Policy
// makes the browser enforce that.
//
// It imports only internal/inventory of this module and must not import
// server or metrics: the server hands it a Snapshot.
package status

import (
	"time"

	"github.com/tlsgate/tlsgate/internal/inventory"
)

// Snapshot is the state the status page shows. The gateway builds one per
// request; the page only reads it.
//
// It must never carry secrets: the page and /status.json show every field
// to whoever reaches the admin listener. Upstream URLs are shown without
// their password (see [Handler]).
type Snapshot struct {
	// Generated is when the snapshot was taken. The page measures days left
	// and the "now" marker from it; zero means the time of the request.
	Generated time.Time `json:"generated"`
	Version   string    `json:"version"`

	// Certificates are the serving certificates, in any order: the page
	// sorts them by expiry.
	Certificates []Certificate `json:"certificates"`
	Handshakes   Handshakes    `json:"handshakes"`

	// ClientCertFailures are the most recent rejected client certificates,
	// most recent first, at most 50.
	ClientCertFailures []ClientCertFailure `json:"client_cert_failures"`
	Upstreams          []Upstream          `json:"upstreams"`
}

// Certificate is one serving certificate, or the place of one that has not
// been obtained yet (the page shows it as pending). A non-empty LastError
// is shown next to the certificate.
type Certificate = inventory.Certificate

// Handshakes counts completed and failed TLS handshakes since start.
type Handshakes struct {
	Versions map[string]uint64 `json:"versions"` // "TLS 1.3" -> count
	Groups   map[string]uint64 `json:"groups"`   // key exchange: "X25519MLKEM768", "X25519", ... -> count
	ALPN     map[string]uint64 `json:"alpn"`     // "h2", "http/1.1" -> count
	Resumed  uint64            `json:"resumed"`
	Full     uint64            `json:"full"`
	Failures map[string]uint64 `json:"failures"` // reason -> count
}

// ClientCertFailure is one rejected client certificate. Subject comes from
// the client's certificate, so it is attacker-controlled text.
type ClientCertFailure = inventory.ClientCertFailure

// Upstream is the health of one route's upstream. Its URL is shown
// without a password.
type Upstream = inventory.Upstream
