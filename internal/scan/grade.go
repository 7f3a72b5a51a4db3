package scan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// grades from best to worst; T and M are outside the scale.
var gradeOrder = []string{"A+", "A", "A-", "B", "C", "D", "E", "F"}

// GradeRank orders letters for comparison: higher is better. T and M rank
// below F: a certificate that is not trusted fails any minimum.
func GradeRank(letter string) int {
	if i := slices.Index(gradeOrder, letter); i >= 0 {
		return len(gradeOrder) - i
	}
	return 0
}

// ValidGrade reports whether letter is a grade --min-grade accepts.
func ValidGrade(letter string) bool { return slices.Contains(gradeOrder, letter) }

// hstsMin is the HSTS max-age the rating guide wants for A+: 180 days.
const hstsMin = 180 * 24 * 3600

// protocolScore is Table "Protocol support rating guide" of the SSL Labs
// Server Rating Guide; TLS 1.3 scores as TLS 1.2.
var protocolScore = map[string]int{"SSLv2": 20, "SSLv3": 80, "TLS 1.0": 90, "TLS 1.1": 95, "TLS 1.2": 100, "TLS 1.3": 100}

// keyExchangeScore is Table "Key exchange rating guide".
func keyExchangeScore(bits int) int {
	switch {
	case bits < 512:
		return 20
	case bits < 1024:
		return 40
	case bits < 2048:
		return 80
	case bits < 4096:
		return 90
	}
	return 100
}

// cipherScore is Table "Cipher strength rating guide".
func cipherScore(bits int) int {
	switch {
	case bits == 0:
		return 0
	case bits < 128:
		return 20
	case bits < 256:
		return 80
	}
	return 100
}

// letterFor is Table "Letter grade translation".
func letterFor(score int) string {
	switch {
	case score >= 80:
		return "A"
	case score >= 65:
		return "B"
	case score >= 50:
		return "C"
	case score >= 35:
		return "D"
	case score >= 20:
		return "E"
	}
	return "F"
}

// suitesOf returns the accepted suites of one protocol with their list.
func suitesOf(r *Result, proto string) (*CipherList, []Suite) {
	for i := range r.Ciphers {
		if r.Ciphers[i].Protocol == proto {
			var out []Suite
			for _, s := range r.Ciphers[i].Suites {
				out = append(out, suiteFromResult(s))
			}
			return &r.Ciphers[i], out
		}
	}
	return nil, nil
}

func suiteFromResult(s SuiteResult) Suite {
	id, _ := strconv.ParseUint(strings.TrimPrefix(s.ID, "0x"), 16, 16)
	return LookupSuite(uint16(id))
}

func offered(r *Result, name string) bool {
	for _, p := range r.Protocols {
		if p.Name == name {
			return p.Offered
		}
	}
	return false
}

// Rate grades a result following the SSL Labs Server Rating Guide as
// docs/grading.md states it. It reads only r's findings of fact, so
// results from JSON can be re-graded.
func Rate(r *Result) Grade {
	var g Grade
	var caps []Cap
	capTo := func(rule, grade, format string, args ...any) {
		caps = append(caps, Cap{Rule: rule, Grade: grade, Reason: fmt.Sprintf(format, args...)})
	}

	// Protocol support: (best + worst) / 2.
	best, worst := -1, 101
	var names []string
	for _, p := range r.Protocols {
		if !p.Offered {
			continue
		}
		names = append(names, p.Name)
		sc := protocolScore[p.Name]
		best, worst = max(best, sc), min(worst, sc)
	}
	if best < 0 {
		best, worst = 0, 0
	}
	g.Protocol = (best + worst) / 2

	// Key exchange: the weakest of the certificate key, DH primes and
	// ECDHE groups; anonymous suites score 0, export suites at most 40.
	kexBits := 1 << 30
	if c := r.Certificate; c != nil && c.KeyBits > 0 {
		kexBits = keyStrength(c.KeyType, c.KeyBits)
	}
	anon, export, null := false, false, false
	hiBits, loBits := -1, 1<<30
	for _, l := range r.Ciphers {
		for _, sr := range l.Suites {
			s := suiteFromResult(sr)
			if sr.KeyExchangeBits > 0 {
				kexBits = min(kexBits, sr.KeyExchangeBits)
			}
			anon = anon || s.Anonymous()
			export = export || s.Export
			null = null || s.Null()
			hiBits, loBits = max(hiBits, s.Bits), min(loBits, s.Bits)
		}
	}
	for _, gr := range r.Groups {
		id, _ := strconv.ParseUint(strings.TrimPrefix(gr.ID, "0x"), 16, 16)
		if b := LookupGroup(uint16(id)).Bits; b > 0 {
			kexBits = min(kexBits, b)
		}
	}
	if kexBits == 1<<30 {
		kexBits = 0
	}
	g.KeyExchange = keyExchangeScore(kexBits)
	if anon {
		g.KeyExchange = 0
	} else if export {
		g.KeyExchange = min(g.KeyExchange, 40)
	}
	if hiBits < 0 {
		hiBits, loBits = 0, 0
	}
	g.Cipher = (cipherScore(hiBits) + cipherScore(loBits)) / 2

	if g.Protocol == 0 || g.KeyExchange == 0 || g.Cipher == 0 {
		g.Score = 0
	} else {
		g.Score = (30*g.Protocol + 30*g.KeyExchange + 40*g.Cipher + 50) / 100
	}

	// Caps.
	if offered(r, "SSLv2") {
		capTo("sslv2", "F", "SSL 2.0 is offered")
	}
	if anon {
		capTo("anonymous", "F", "anonymous (unauthenticated) cipher suites are offered")
	}
	if export {
		capTo("export", "F", "export-grade cipher suites are offered (FREAK, Logjam)")
	}
	if null {
		capTo("null", "F", "NULL cipher suites (no encryption) are offered")
	}
	if r.Features.Heartbleed {
		capTo("heartbleed", "F", "vulnerable to Heartbleed (CVE-2014-0160)")
	}
	if offered(r, "SSLv3") {
		capTo("sslv3", "C", "SSL 3.0 is offered (POODLE)")
	}
	if len(names) > 0 && !offered(r, "TLS 1.2") && !offered(r, "TLS 1.3") {
		capTo("no_tls12", "C", "TLS 1.2 is not offered")
	}
	rc4Modern, rc4Any := false, false
	var block64 []string
	for _, l := range r.Ciphers {
		modern := l.Protocol == "TLS 1.1" || l.Protocol == "TLS 1.2"
		_, ss := suitesOf(r, l.Protocol)
		for _, s := range ss {
			if s.RC4() {
				rc4Any = true
				rc4Modern = rc4Modern || modern
			}
		}
		if modern && block64Penalised(l, ss) {
			block64 = append(block64, l.Protocol)
		}
	}
	if len(block64) > 0 {
		capTo("block64", "C", "a 64-bit block cipher (3DES) is used with %s (SWEET32)", strings.Join(block64, " and "))
	}
	if rc4Modern {
		capTo("rc4_modern", "C", "RC4 is offered with TLS 1.1 or newer")
	} else if rc4Any {
		capTo("rc4", "B", "RC4 is offered")
	}
	if offered(r, "TLS 1.0") || offered(r, "TLS 1.1") {
		var old []string
		for _, n := range []string{"TLS 1.0", "TLS 1.1"} {
			if offered(r, n) {
				old = append(old, n)
			}
		}
		capTo("tls10_11", "B", "%s offered", strings.Join(old, " and "))
	}
	var noFS, noAEAD []string
	for _, ref := range referenceClients {
		s, proto, ok := ref.negotiate(r)
		if !ok {
			continue
		}
		if !s.ForwardSecret() {
			noFS = append(noFS, fmt.Sprintf("%s gets %s over %s", ref.name, s.Name, proto))
		}
		if !s.AEAD() {
			noAEAD = append(noAEAD, fmt.Sprintf("%s gets %s over %s", ref.name, s.Name, proto))
		}
	}
	if len(noFS) > 0 {
		capTo("no_forward_secrecy", "B", "no forward secrecy: %s", strings.Join(noFS, "; "))
	}
	if len(noAEAD) > 0 {
		capTo("no_aead", "B", "no authenticated encryption: %s", strings.Join(noAEAD, "; "))
	}
	if c := r.Certificate; c != nil && c.KeyBits > 0 && keyStrength(c.KeyType, c.KeyBits) < 2048 {
		capTo("weak_key", "B", "the certificate key is %s %d bits (below RSA-2048 strength)", c.KeyType, c.KeyBits)
	}
	dhMin := 0
	for _, l := range r.Ciphers {
		for _, sr := range l.Suites {
			if s := suiteFromResult(sr); (s.Kx == "DHE" || s.Kx == "DH_anon") && sr.KeyExchangeBits > 0 && (dhMin == 0 || sr.KeyExchangeBits < dhMin) {
				dhMin = sr.KeyExchangeBits
			}
		}
	}
	if dhMin > 0 && dhMin < 2048 {
		capTo("weak_dh", "B", "Diffie-Hellman parameters of %d bits", dhMin)
	}
	if c := r.Certificate; c != nil && c.FetchedIssuer {
		capTo("chain_incomplete", "B", "the certificate chain is incomplete: the server does not send the intermediate (%s)", c.Issuer)
	}
	if r.Features.Compression {
		capTo("compression", "B", "TLS compression is enabled (CRIME)")
	}

	letter := letterFor(g.Score)
	for _, c := range caps {
		if GradeRank(c.Grade) < GradeRank(letter) {
			letter = c.Grade
		}
	}

	// A- and A+.
	if letter == "A" {
		var h *HSTS
		if r.HTTP != nil {
			h = r.HTTP.HSTS
		}
		switch {
		case h == nil:
			capTo("hsts_missing", "A-", "no HTTP Strict Transport Security header")
			letter = "A-"
		case h.MaxAge < hstsMin:
			capTo("hsts_short", "A-", "HSTS max-age is %d s, under 180 days (%d s)", h.MaxAge, hstsMin)
			letter = "A-"
		case !offered(r, "TLS 1.3"):
			capTo("no_tls13", "A", "A+ needs TLS 1.3")
		case r.Features.FallbackSCSV != "supported" && r.Features.FallbackSCSV != "n/a":
			capTo("no_fallback_scsv", "A", "A+ needs TLS_FALLBACK_SCSV (downgrade protection)")
		default:
			caps = append(caps, Cap{Rule: "a_plus", Grade: "A+", Reason: fmt.Sprintf("TLS 1.3, HSTS max-age %d s (at least 180 days), no warnings", h.MaxAge)})
			letter = "A+"
		}
	}

	// Certificate problems replace the letter: T (not trusted) and M
	// (name mismatch).
	trust := ""
	if c := r.Certificate; c == nil {
		capTo("no_certificate", "T", "no certificate could be read")
		trust = "T"
	} else {
		var why []string
		if c.Expired {
			why = append(why, "expired "+c.NotAfter.UTC().Format("2006-01-02"))
		}
		if c.NotYetValid {
			why = append(why, "not valid before "+c.NotBefore.UTC().Format("2006-01-02"))
		}
		if c.SelfSigned && !c.Trusted {
			why = append(why, "self-signed")
		} else if !c.Trusted {
			why = append(why, "not trusted: "+c.TrustError)
		}
		if c.WeakSignature {
			why = append(why, "signed with "+c.SignatureAlg)
		}
		if len(why) > 0 {
			capTo("untrusted", "T", "certificate %s", strings.Join(why, ", "))
			trust = "T"
		}
		if !c.NameMatch {
			capTo("name_mismatch", "M", "certificate does not match %s (names: %s)", r.ServerName, strings.Join(c.SANs, ", "))
			if trust == "" {
				trust = "M"
			}
		}
	}
	if trust != "" {
		g.IgnoringTrust = letter
		letter = trust
	}
	g.Letter = letter
	// Strongest first: T/M, then F ... A+.
	slices.SortStableFunc(caps, func(a, b Cap) int { return GradeRank(a.Grade) - GradeRank(b.Grade) })
	g.Caps = caps
	if g.Caps == nil {
		g.Caps = []Cap{}
	}
	return g
}

// block64Penalised reports 64-bit block suites that clients would use: any
// unless the server enforces its order and ranks them after every other
// suite (the exemption in SSL Labs' 3DES rule).
func block64Penalised(l CipherList, ss []Suite) bool {
	has, seen64 := false, false
	for _, s := range ss {
		if s.Block64() {
			has, seen64 = true, true
		} else if seen64 && l.ServerOrder {
			return true // a 64-bit suite ranked above a better one
		}
	}
	if !has {
		return false
	}
	if !l.ServerOrder {
		return true
	}
	// Server order with all 64-bit suites last: penalised only when
	// nothing else is offered.
	for _, s := range ss {
		if !s.Block64() {
			return false
		}
	}
	return true
}

// referenceClient stands for the browsers of SSL Labs' handshake
// simulations: the rules on forward secrecy and AEAD apply only to suites
// such clients negotiate.
type referenceClient struct {
	name       string
	maxVersion string
}

var referenceClients = []referenceClient{
	{"a TLS 1.3 client", "TLS 1.3"},
	{"a TLS 1.2 client", "TLS 1.2"},
}

var protoNames = []string{"SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}

// supports reports the suites a browser-like client offers: ECDHE, DHE or
// RSA key exchange, RSA or ECDSA certificates, AES or ChaCha20, and 3DES
// last.
func (rc referenceClient) supports(s Suite) bool {
	if s.Kx == "TLS13" {
		return true
	}
	if s.Kx != "ECDHE" && s.Kx != "DHE" && s.Kx != "RSA" || s.Auth != "RSA" && s.Auth != "ECDSA" {
		return false
	}
	switch s.Cipher {
	case "AES-GCM", "AES-CBC", "ChaCha20-Poly1305", "3DES":
		return true
	}
	return false
}

// negotiate returns the suite and protocol the client would get.
func (rc referenceClient) negotiate(r *Result) (Suite, string, bool) {
	limit := slices.Index(protoNames, rc.maxVersion)
	for i := limit; i >= 0; i-- {
		p := protoNames[i]
		if !offered(r, p) {
			continue
		}
		l, ss := suitesOf(r, p)
		if l == nil {
			return Suite{}, "", false
		}
		var cands []Suite
		for _, s := range ss {
			if rc.supports(s) {
				cands = append(cands, s)
			}
		}
		if len(cands) == 0 {
			return Suite{}, "", false
		}
		if l.ServerOrder {
			return cands[0], p, true
		}
		slices.SortStableFunc(cands, func(a, b Suite) int { return preference(b) - preference(a) })
		return cands[0], p, true
	}
	return Suite{}, "", false
}

// preference ranks suites as a browser orders its offer: forward secrecy
// first, then AEAD, ECDHE over DHE, then key length; 64-bit block ciphers
// and RC4 last.
func preference(s Suite) int {
	p := 0
	if s.ForwardSecret() {
		p += 64
	}
	if s.AEAD() {
		p += 32
	}
	if s.Kx == "ECDHE" || s.Kx == "TLS13" {
		p += 16
	}
	if s.Block64() || s.RC4() || s.Null() || s.Export {
		p -= 128
	}
	if s.Anonymous() {
		p -= 256
	}
	p += s.Bits / 64
	return p
}
