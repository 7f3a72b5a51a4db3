package scan

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// Protocol versions as they appear on the wire. SSL 2.0 has its own
// record format and is probed separately.
const (
	versionSSL20 uint16 = 0x0002
	versionSSL30 uint16 = 0x0300
	versionTLS10 uint16 = 0x0301
	versionTLS11 uint16 = 0x0302
	versionTLS12 uint16 = 0x0303
	versionTLS13 uint16 = 0x0304
)

// allVersions is every protocol the scanner probes, oldest first.
var allVersions = []uint16{versionSSL20, versionSSL30, versionTLS10, versionTLS11, versionTLS12, versionTLS13}

// VersionName returns "SSLv2", "SSLv3", "TLS 1.0" ... "TLS 1.3" for a wire
// version, or its hex value.
func VersionName(v uint16) string {
	switch v {
	case versionSSL20:
		return "SSLv2"
	case versionSSL30:
		return "SSLv3"
	case versionTLS10:
		return "TLS 1.0"
	case versionTLS11:
		return "TLS 1.1"
	case versionTLS12:
		return "TLS 1.2"
	case versionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

type cipherMode uint8

const (
	modeCBC cipherMode = iota
	modeAEAD
	modeStream
	modeNone
)

// Suite describes one TLS cipher suite: what the scanner judges it by.
type Suite struct {
	ID      uint16
	Name    string // IANA name
	OpenSSL string // OpenSSL's name, as testssl.sh prints it
	// Kx is the key exchange: RSA (static, no forward secrecy), DHE,
	// ECDHE, DH and ECDH (static), DH_anon, ECDH_anon, or TLS13 (always
	// ephemeral, negotiated by the key_share extension).
	Kx     string
	Auth   string // RSA, DSS, ECDSA, DH, ECDH, anon, or "" for TLS 1.3
	Cipher string // AES-GCM, AES-CBC, ChaCha20-Poly1305, 3DES, RC4, NULL, ...
	Bits   int    // symmetric key length as the rating guide counts it (3DES: 168)
	Export bool   // an export-grade suite (40/56-bit ciphers, 512/1024-bit key exchange)

	mode       cipherMode
	minVersion uint16
}

// ForwardSecret reports whether the suite's key exchange is ephemeral.
// Anonymous suites are ephemeral but unauthenticated and count as not
// forward secret: anyone in the middle holds the keys.
func (s Suite) ForwardSecret() bool { return s.Kx == "DHE" || s.Kx == "ECDHE" || s.Kx == "TLS13" }

// AEAD reports whether the suite uses authenticated encryption (GCM, CCM,
// ChaCha20-Poly1305).
func (s Suite) AEAD() bool { return s.mode == modeAEAD }

// CBC reports whether the suite is a CBC-mode block cipher.
func (s Suite) CBC() bool { return s.mode == modeCBC }

// Null reports a suite that does not encrypt.
func (s Suite) Null() bool { return s.mode == modeNone }

// Anonymous reports a suite without server authentication.
func (s Suite) Anonymous() bool { return s.Auth == "anon" }

// RC4 reports an RC4 suite.
func (s Suite) RC4() bool { return s.Cipher == "RC4" }

// Block64 reports a cipher with a 64-bit block (3DES, DES, IDEA, RC2):
// SWEET32 recovers plaintext after a few hundred gigabytes.
func (s Suite) Block64() bool {
	switch s.Cipher {
	case "3DES", "DES", "IDEA", "RC2":
		return true
	}
	return false
}

// StaticRSA reports RSA key transport: no forward secrecy.
func (s Suite) StaticRSA() bool { return s.Kx == "RSA" }

// Weaknesses lists what is wrong with the suite, as short stable words:
// null, anonymous, export, rc4, 64-bit-block, des, static-rsa,
// static-dh, cbc.
func (s Suite) Weaknesses() []string {
	var w []string
	if s.Null() {
		w = append(w, "null")
	}
	if s.Anonymous() {
		w = append(w, "anonymous")
	}
	if s.Export {
		w = append(w, "export")
	}
	if s.RC4() {
		w = append(w, "rc4")
	}
	if s.Block64() {
		w = append(w, "64-bit-block")
	}
	if s.Bits > 0 && s.Bits < 112 {
		w = append(w, "short-key")
	}
	if s.StaticRSA() {
		w = append(w, "static-rsa")
	}
	if s.Kx == "DH" || s.Kx == "ECDH" {
		w = append(w, "static-dh")
	}
	if s.CBC() {
		w = append(w, "cbc")
	}
	return w
}

var suiteByID = func() map[uint16]Suite {
	m := make(map[uint16]Suite, len(suiteTable))
	for _, s := range suiteTable {
		m[s.ID] = s
	}
	return m
}()

// LookupSuite returns the suite with the given ID. Unknown IDs get a
// placeholder named by their hex value.
func LookupSuite(id uint16) Suite {
	if s, ok := suiteByID[id]; ok {
		return s
	}
	return Suite{ID: id, Name: fmt.Sprintf("0x%04X", id), mode: modeCBC}
}

// GoSuites returns the IDs of every suite crypto/tls implements, insecure
// ones included, secure ones first: the list for a crypto/tls client that
// must complete a handshake with a weak server to report on it (the
// certificate probe here, the exporter in package probe). crypto/tls
// still prefers strong suites, so a modern server gets a modern one.
// Each of them is in the table under the name crypto/tls gives it, so
// LookupSuite names what such a client negotiated as tls.CipherSuiteName
// would.
func GoSuites() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}

// suitesFor returns the suites a ClientHello of version v offers, the
// strongest first (see preference): TLS 1.3 suites for 1.3, everything
// else up to v otherwise.
func suitesFor(v uint16) []uint16 {
	return suitesByVersion[v]
}

var suitesByVersion = func() map[uint16][]uint16 {
	m := map[uint16][]uint16{}
	for _, v := range allVersions {
		m[v] = suitesForVersion(v)
	}
	return m
}()

func suitesForVersion(v uint16) []uint16 {
	var ids []uint16
	for _, s := range suiteTable {
		if v == versionTLS13 {
			if s.Kx == "TLS13" {
				ids = append(ids, s.ID)
			}
			continue
		}
		if s.Kx == "TLS13" || s.minVersion > v {
			continue
		}
		ids = append(ids, s.ID)
	}
	slices.SortStableFunc(ids, func(a, b uint16) int { return preference(suiteByID[b]) - preference(suiteByID[a]) })
	return ids
}

// Special cipher suite values (RFC 5746, RFC 7507).
const (
	scsvRenegotiation uint16 = 0x00FF
	scsvFallback      uint16 = 0x5600
)

// Group is a key-exchange group (named curve, finite-field group or
// post-quantum hybrid) as it appears in supported_groups.
type Group struct {
	ID   uint16
	Name string
	// Bits is the strength as the rating guide counts key exchange:
	// the RSA-equivalent size (NIST SP 800-57 Part 1, Table 2: a 256-bit
	// curve is worth RSA-3072). Hybrids count as their ML-KEM part
	// (category 3, like a 192-bit symmetric key: RSA-7680).
	Bits        int
	PostQuantum bool
}

// groupTable lists the groups the scanner offers, most common first.
var groupTable = []Group{
	{0x11EC, "X25519MLKEM768", 7680, true},
	{0x11EB, "SecP256r1MLKEM768", 7680, true},
	{0x11ED, "SecP384r1MLKEM1024", 15360, true},
	{0x6399, "X25519Kyber768Draft00", 7680, true},
	{0x001D, "x25519", 3072, false},
	{0x0017, "secp256r1", 3072, false},
	{0x0018, "secp384r1", 7680, false},
	{0x0019, "secp521r1", 15360, false},
	{0x001E, "x448", 7680, false},
	{0x001A, "brainpoolP256r1", 3072, false},
	{0x001B, "brainpoolP384r1", 7680, false},
	{0x001C, "brainpoolP512r1", 15360, false},
	{0x0016, "secp256k1", 3072, false},
	{0x0015, "secp224r1", 2048, false},
	{0x0100, "ffdhe2048", 2048, false},
	{0x0101, "ffdhe3072", 3072, false},
	{0x0102, "ffdhe4096", 4096, false},
	{0x0103, "ffdhe6144", 6144, false},
	{0x0104, "ffdhe8192", 8192, false},
}

// LookupGroup returns the group with the given ID, or a placeholder.
func LookupGroup(id uint16) Group {
	for _, g := range groupTable {
		if g.ID == id {
			return g
		}
	}
	return Group{ID: id, Name: fmt.Sprintf("0x%04X", id)}
}

// groupIDs returns the IDs of groupTable; tls12 drops the groups TLS 1.2
// ECDHE cannot use (hybrids and finite-field groups).
func groupIDs(tls12 bool) []uint16 {
	var ids []uint16
	for _, g := range groupTable {
		if tls12 && (g.PostQuantum || strings.HasPrefix(g.Name, "ffdhe")) {
			continue
		}
		ids = append(ids, g.ID)
	}
	return ids
}

// sslv2Specs are the SSL 2.0 cipher kinds offered by the SSLv2 probe.
var sslv2Specs = [][3]byte{
	{0x07, 0x00, 0xC0}, {0x05, 0x00, 0x80}, {0x03, 0x00, 0x80}, {0x01, 0x00, 0x80},
	{0x08, 0x00, 0x80}, {0x06, 0x00, 0x40}, {0x04, 0x00, 0x80}, {0x02, 0x00, 0x80},
}
