package scan

import (
	"time"
)

// SchemaVersion is the version of Result's JSON form (docs/scan.md). It
// changes only when a field is removed or changes meaning; new fields may
// appear in any version.
const SchemaVersion = 1

// Result is everything a scan found about one endpoint. Its JSON form is
// the stable schema of `tlsgate scan --json` (docs/scan.md).
type Result struct {
	Schema     int       `json:"schema"`
	Target     string    `json:"target"`      // as given: host[:port]
	ServerName string    `json:"server_name"` // SNI sent and name checked against the certificate
	Address    string    `json:"address"`     // ip:port scanned
	Started    time.Time `json:"started"`
	DurationMS int64     `json:"duration_ms"`
	// Connections is how many TCP connections the scan opened.
	Connections int `json:"connections"`

	Grade Grade `json:"grade"`

	Protocols   []Protocol    `json:"protocols"`
	Ciphers     []CipherList  `json:"ciphers"`
	Groups      []GroupResult `json:"groups"`
	Certificate *Certificate  `json:"certificate"`
	HTTP        *HTTP         `json:"http"`
	Features    Features      `json:"features"`
	Findings    []Finding     `json:"findings"`
	ProbeErrors []string      `json:"probe_errors,omitempty"`
}

// Grade is the SSL Labs style rating (docs/grading.md).
type Grade struct {
	// Letter is A+, A, A-, B, C, D, E, F, or T (not trusted) or M (name
	// mismatch).
	Letter string `json:"letter"`
	// IgnoringTrust is the letter the configuration would get with a
	// trusted, matching certificate; set only when Letter is T or M.
	IgnoringTrust string `json:"if_trusted,omitempty"`
	Score         int    `json:"score"` // 0-100, before caps
	Protocol      int    `json:"protocol_score"`
	KeyExchange   int    `json:"key_exchange_score"`
	Cipher        int    `json:"cipher_score"`
	// Caps are the rules that lowered (or, for A+, raised) the letter from
	// the score's, strongest first.
	Caps []Cap `json:"caps"`
}

// Cap is one grading rule that applied.
type Cap struct {
	Rule   string `json:"rule"`  // stable ID, see docs/grading.md
	Grade  string `json:"grade"` // the letter it caps to
	Reason string `json:"reason"`
}

// Protocol says whether one protocol version is offered.
type Protocol struct {
	Name    string `json:"name"` // SSLv2, SSLv3, TLS 1.0 ... TLS 1.3
	Offered bool   `json:"offered"`
}

// CipherList is the cipher suites one protocol version accepts.
type CipherList struct {
	Protocol string `json:"protocol"`
	// ServerOrder is true when the server picks by its own preference:
	// Suites is then in the server's order. Otherwise they are in the
	// scanner's order (strongest first).
	ServerOrder bool          `json:"server_order"`
	Suites      []SuiteResult `json:"suites"`
}

// SuiteResult is one accepted cipher suite.
type SuiteResult struct {
	ID            string   `json:"id"` // "0xC02F"
	Name          string   `json:"name"`
	OpenSSL       string   `json:"openssl_name,omitempty"`
	KeyExchange   string   `json:"key_exchange"`
	Cipher        string   `json:"cipher"`
	Bits          int      `json:"bits"`
	ForwardSecret bool     `json:"forward_secrecy"`
	AEAD          bool     `json:"aead"`
	Weaknesses    []string `json:"weaknesses"`
	// KeyExchangeBits is the DH prime size of a DHE suite, or the
	// RSA-equivalent strength of the curve an ECDHE suite used.
	KeyExchangeBits int `json:"key_exchange_bits,omitempty"`
}

// GroupResult is one key-exchange group the server accepts.
type GroupResult struct {
	ID          string `json:"id"` // "0x11EC"
	Name        string `json:"name"`
	PostQuantum bool   `json:"post_quantum"`
}

// Certificate is what the scanner found about the served chain.
type Certificate struct {
	Subject         string    `json:"subject"`
	Issuer          string    `json:"issuer"`
	SANs            []string  `json:"sans"`
	NotBefore       time.Time `json:"not_before"`
	NotAfter        time.Time `json:"not_after"`
	DaysLeft        int       `json:"days_left"`
	KeyType         string    `json:"key_type"` // RSA, ECDSA, Ed25519
	KeyBits         int       `json:"key_bits"`
	SignatureAlg    string    `json:"signature_algorithm"`
	ChainLength     int       `json:"chain_length"` // certificates sent
	ChainComplete   bool      `json:"chain_complete"`
	ChainInOrder    bool      `json:"chain_in_order"`
	Trusted         bool      `json:"trusted"`
	TrustError      string    `json:"trust_error,omitempty"`
	NameMatch       bool      `json:"name_match"`
	Expired         bool      `json:"expired"`
	NotYetValid     bool      `json:"not_yet_valid"`
	SelfSigned      bool      `json:"self_signed"`
	WeakSignature   bool      `json:"weak_signature"` // SHA-1, MD5 or MD2 on the leaf
	SCTs            int       `json:"scts"`           // signed certificate timestamps: embedded + TLS extension
	OCSPStapled     bool      `json:"ocsp_stapled"`
	MustStaple      bool      `json:"must_staple"`
	FetchedIssuer   bool      `json:"fetched_issuer,omitempty"` // a missing intermediate came from the AIA URL
	FingerprintSHA2 string    `json:"sha256"`
}

// HTTP is the HTTP layer: HSTS on the TLS port, redirect on the plain port.
type HTTP struct {
	Status int   `json:"status"` // of GET / over TLS; 0 when not HTTP
	HSTS   *HSTS `json:"hsts"`   // nil when absent
	// Redirect is the plain-HTTP port's answer; nil when not checked.
	Redirect *Redirect `json:"redirect"`
	Error    string    `json:"error,omitempty"`
}

// HSTS is a parsed Strict-Transport-Security header.
type HSTS struct {
	Header            string `json:"header"`
	MaxAge            int64  `json:"max_age"`
	IncludeSubDomains bool   `json:"include_subdomains"`
	Preload           bool   `json:"preload"`
}

// Redirect is what the plain-HTTP port answered to GET /.
type Redirect struct {
	Port     int    `json:"port"`
	Listens  bool   `json:"listens"`
	Status   int    `json:"status,omitempty"`
	Location string `json:"location,omitempty"`
	ToHTTPS  bool   `json:"to_https"`
}

// Features are protocol features and vulnerabilities.
type Features struct {
	ALPN                []string `json:"alpn"` // protocols the server selected, h2 first when offered
	H2                  bool     `json:"h2"`
	SessionTickets      bool     `json:"session_tickets"`       // a resumed handshake with a ticket (or TLS 1.3 PSK)
	SessionIDs          bool     `json:"session_id_resumption"` // a TLS 1.2 handshake resumed by session ID
	SecureRenegotiation *bool    `json:"secure_renegotiation"`  // RFC 5746; null without TLS 1.2 or older
	Compression         bool     `json:"compression"`           // TLS DEFLATE (CRIME)
	// FallbackSCSV: "supported", "not supported", or "n/a" with one protocol.
	FallbackSCSV string `json:"fallback_scsv"`
	Heartbeat    bool   `json:"heartbeat"`  // the heartbeat extension is accepted
	Heartbleed   bool   `json:"heartbleed"` // CVE-2014-0160
	// HTTP3 is nil when GET / over TLS advertises no h3 (Alt-Svc).
	HTTP3 *HTTP3 `json:"http3,omitempty"`
	// ECH is Encrypted Client Hello, from the host's DNS HTTPS record;
	// nil when not checked (Options.LookupECH).
	ECH *ECH `json:"ech,omitempty"`
}

// Severity of a finding.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

// Finding is one observation worth a line in a report, with a stable ID.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Detail   string   `json:"detail,omitempty"`
}
