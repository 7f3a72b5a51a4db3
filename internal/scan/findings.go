package scan

import (
	"fmt"
	"strings"
)

// Findings lists what is worth a line in a report about r, worst first,
// each with a stable ID (docs/scan.md lists them).
func Findings(r *Result) []Finding {
	out := []Finding{}
	add := func(id string, sev Severity, title, detail string) {
		out = append(out, Finding{ID: id, Severity: sev, Title: title, Detail: detail})
	}
	caps := map[string]Cap{}
	for _, c := range r.Grade.Caps {
		caps[c.Rule] = c
	}

	for _, p := range protocolFindings {
		if offered(r, p.name) {
			add(p.id, p.sev, p.name+" is offered", "")
		}
	}
	if !offered(r, "TLS 1.3") {
		add("protocol.no_tls13", SeverityLow, "TLS 1.3 is not offered", "")
	}

	bySuite := map[string][]string{}
	for _, l := range r.Ciphers {
		for _, s := range l.Suites {
			for _, w := range s.Weaknesses {
				bySuite[w] = appendUnique(bySuite[w], s.Name)
			}
		}
	}
	suiteFinding := func(weak, id string, sev Severity, title string) {
		if n := bySuite[weak]; len(n) > 0 {
			add(id, sev, title, strings.Join(n, ", "))
		}
	}
	suiteFinding("null", "cipher.null", SeverityCritical, "NULL cipher suites (no encryption)")
	suiteFinding("anonymous", "cipher.anonymous", SeverityCritical, "anonymous cipher suites (no authentication)")
	suiteFinding("export", "cipher.export", SeverityCritical, "export-grade cipher suites")
	suiteFinding("rc4", "cipher.rc4", SeverityHigh, "RC4 cipher suites")
	suiteFinding("64-bit-block", "cipher.64bit_block", SeverityMedium, "64-bit block cipher suites (3DES, SWEET32)")
	suiteFinding("static-rsa", "cipher.static_rsa", SeverityLow, "static RSA key exchange (no forward secrecy)")
	suiteFinding("cbc", "cipher.cbc", SeverityLow, "CBC-mode cipher suites")
	if c, ok := caps["no_forward_secrecy"]; ok {
		add("cipher.no_forward_secrecy", SeverityHigh, "clients get no forward secrecy", c.Reason)
	}
	if c, ok := caps["no_aead"]; ok {
		add("cipher.no_aead", SeverityMedium, "clients get no authenticated encryption", c.Reason)
	}
	if c, ok := caps["weak_dh"]; ok {
		add("kex.weak_dh", SeverityMedium, "weak Diffie-Hellman parameters", c.Reason)
	}
	pq := []string{}
	for _, g := range r.Groups {
		if g.PostQuantum {
			pq = append(pq, g.Name)
		}
	}
	if len(pq) > 0 {
		add("kex.post_quantum", SeverityInfo, "post-quantum hybrid key exchange offered", strings.Join(pq, ", "))
	} else if offered(r, "TLS 1.3") {
		add("kex.no_post_quantum", SeverityInfo, "no post-quantum hybrid key exchange (X25519MLKEM768)", "")
	}

	if c := r.Certificate; c != nil {
		if c.Expired {
			add("cert.expired", SeverityCritical, "certificate expired", "not after "+c.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
		} else if c.NotYetValid {
			add("cert.not_yet_valid", SeverityCritical, "certificate not yet valid", "not before "+c.NotBefore.UTC().Format("2006-01-02 15:04 MST"))
		} else if c.DaysLeft < 30 {
			add("cert.expires_soon", SeverityMedium, fmt.Sprintf("certificate expires in %d days", c.DaysLeft), "not after "+c.NotAfter.UTC().Format("2006-01-02"))
		}
		switch {
		case c.SelfSigned && !c.Trusted:
			add("cert.self_signed", SeverityHigh, "self-signed certificate", c.Subject)
		case !c.Trusted:
			add("cert.untrusted", SeverityHigh, "certificate not trusted", c.TrustError)
		}
		if !c.NameMatch {
			add("cert.name_mismatch", SeverityHigh, "certificate does not match "+r.ServerName, "names: "+strings.Join(c.SANs, ", "))
		}
		if c.WeakSignature {
			add("cert.weak_signature", SeverityHigh, "certificate signed with "+c.SignatureAlg, "")
		}
		if cp, ok := caps["weak_key"]; ok {
			add("cert.weak_key", SeverityMedium, "weak certificate key", cp.Reason)
		}
		if c.FetchedIssuer {
			add("cert.chain_incomplete", SeverityMedium, "incomplete certificate chain", "the intermediate for "+c.Issuer+" is not sent; clients without AIA fetching fail")
		}
		if !c.ChainInOrder {
			add("cert.chain_order", SeverityLow, "certificate chain out of order", "")
		}
		if c.MustStaple && !c.OCSPStapled {
			add("cert.must_staple_unstapled", SeverityHigh, "certificate requires OCSP stapling but none is sent", "")
		} else if !c.OCSPStapled {
			add("cert.no_ocsp_staple", SeverityInfo, "no OCSP response stapled", "")
		}
		if c.SCTs == 0 {
			add("cert.no_sct", SeverityInfo, "no signed certificate timestamps (Certificate Transparency)", "")
		}
	}

	if h := r.HTTP; h != nil {
		switch {
		case h.HSTS == nil:
			add("http.hsts_missing", SeverityMedium, "no Strict-Transport-Security header", h.Error)
		case h.HSTS.MaxAge < hstsMin:
			add("http.hsts_short", SeverityLow, fmt.Sprintf("HSTS max-age %d s is under 180 days", h.HSTS.MaxAge), h.HSTS.Header)
		}
		if rd := h.Redirect; rd != nil && rd.Listens && !rd.ToHTTPS {
			add("http.no_redirect", SeverityLow, fmt.Sprintf("plain HTTP port %d does not redirect to HTTPS", rd.Port), fmt.Sprintf("status %d", rd.Status))
		}
	}

	ft := r.Features
	if h := ft.HTTP3; h != nil && !h.Handshake {
		// Clients fall back to TCP, after a delay each time.
		add("http3.unreachable", SeverityLow, fmt.Sprintf("HTTP/3 is advertised on UDP port %d but no QUIC handshake succeeds there", h.Port), h.Error)
	}
	if e := ft.ECH; e != nil && e.Published && !e.Accepted {
		if e.Retry {
			// Clients retry with the configs sent: one more handshake
			// for every new connection.
			add("ech.stale", SeverityLow, "the ECH config in the DNS HTTPS record is rejected; the server sends other configs to retry with (the record is stale or names another server's keys)", e.Error)
		} else {
			// Without retry configs a client fails, or retries without
			// ECH and shows the name.
			add("ech.refused", SeverityMedium, "the DNS HTTPS record publishes ECH, but the server accepts no hello encrypted with it and sends no retry configs", e.Error)
		}
	}
	if ft.Heartbleed {
		add("tls.heartbleed", SeverityCritical, "vulnerable to Heartbleed (CVE-2014-0160)", "")
	}
	if ft.Compression {
		add("tls.compression", SeverityHigh, "TLS compression enabled (CRIME)", "")
	}
	if ft.SecureRenegotiation != nil && !*ft.SecureRenegotiation {
		add("tls.no_secure_renegotiation", SeverityMedium, "no secure renegotiation (RFC 5746)", "")
	}
	if ft.FallbackSCSV == "not supported" {
		add("tls.no_fallback_scsv", SeverityLow, "no TLS_FALLBACK_SCSV downgrade protection", "")
	}
	if !ft.H2 {
		add("tls.no_h2", SeverityInfo, "HTTP/2 not offered by ALPN", "")
	}
	if !ft.SessionTickets && !ft.SessionIDs {
		add("tls.no_resumption", SeverityInfo, "no session resumption", "")
	}

	rank := map[Severity]int{SeverityCritical: 0, SeverityHigh: 1, SeverityMedium: 2, SeverityLow: 3, SeverityInfo: 4}
	stableSort(out, func(a, b Finding) bool { return rank[a.Severity] < rank[b.Severity] })
	return out
}

func appendUnique(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

func stableSort(f []Finding, less func(a, b Finding) bool) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && less(f[j], f[j-1]); j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}
