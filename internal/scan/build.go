package scan

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// result turns the probes' answers into a Result: facts, findings, grade.
func (s *scanner) result(ctx context.Context, f *facts) *Result {
	r := &Result{
		Schema:     SchemaVersion,
		Target:     s.target,
		ServerName: s.host,
		Address:    s.addr,
		Protocols:  []Protocol{},
		Ciphers:    []CipherList{},
		Groups:     []GroupResult{},
		Findings:   []Finding{},
	}
	for _, v := range allVersions {
		r.Protocols = append(r.Protocols, Protocol{Name: VersionName(v), Offered: f.offered[v]})
	}
	for _, v := range []uint16{versionTLS13, versionTLS12, versionTLS11, versionTLS10, versionSSL30} {
		l := f.suites[v]
		if l == nil {
			continue
		}
		cl := CipherList{Protocol: VersionName(v), ServerOrder: l.serverOrder, Suites: []SuiteResult{}}
		for _, id := range l.ids {
			su := LookupSuite(id)
			w := su.Weaknesses()
			if w == nil {
				w = []string{}
			}
			cl.Suites = append(cl.Suites, SuiteResult{
				ID: fmt.Sprintf("0x%04X", id), Name: su.Name, OpenSSL: su.OpenSSL,
				KeyExchange: su.Kx, Cipher: su.Cipher, Bits: su.Bits,
				ForwardSecret: su.ForwardSecret(), AEAD: su.AEAD(), Weaknesses: w,
				KeyExchangeBits: l.kxBits[id],
			})
		}
		r.Ciphers = append(r.Ciphers, cl)
	}
	if r.Protocols[0].Offered {
		// SSL 2.0 suites are not enumerated: offering SSL 2.0 at all fails.
		r.Ciphers = append(r.Ciphers, CipherList{Protocol: "SSLv2", Suites: []SuiteResult{}})
	}
	for _, id := range f.groups {
		g := LookupGroup(id)
		r.Groups = append(r.Groups, GroupResult{ID: fmt.Sprintf("0x%04X", id), Name: g.Name, PostQuantum: g.PostQuantum})
	}

	// Certificate: from crypto/tls when it could connect, otherwise from
	// a TLS 1.2-or-older ServerHello.
	chain := f.rawChain
	if f.tlsInfo != nil && f.tlsInfo.state != nil && len(f.tlsInfo.state.PeerCertificates) > 0 {
		chain = nil
		for _, c := range f.tlsInfo.state.PeerCertificates {
			chain = append(chain, c.Raw)
		}
	}
	if cert, _, err := s.checkCertificate(ctx, chain, f.tlsInfo); err == nil {
		r.Certificate = cert
	} else {
		s.probeError("certificate", err)
	}

	// HTTP.
	r.HTTP = &HTTP{Redirect: f.redirect}
	if ti := f.tlsInfo; ti != nil {
		r.HTTP.Status = ti.httpStatus
		if ti.httpErr != nil {
			r.HTTP.Error = ti.httpErr.Error()
		}
		if ti.hstsSeen {
			r.HTTP.HSTS = ParseHSTS(ti.hsts)
		}
	}

	// Features.
	ft := &r.Features
	ft.ALPN = []string{}
	if ti := f.tlsInfo; ti != nil {
		if ti.alpn != "" {
			ft.ALPN = append(ft.ALPN, ti.alpn)
		}
		ft.SessionTickets = ti.resumed
		ft.HTTP3 = ti.http3
	}
	ft.ECH = f.ech
	ft.H2 = len(ft.ALPN) > 0 && ft.ALPN[0] == "h2"
	ft.SessionIDs = f.sessionID
	if v := f.highestLegacy(); v != 0 {
		if h := f.protoResp[v].Hello; h != nil {
			_, ri := h.Extensions[extRenegotiation]
			ft.SecureRenegotiation = &ri
			ft.Compression = h.Compression != 0
			_, ft.Heartbeat = h.Extensions[extHeartbeat]
		}
	}
	ft.FallbackSCSV = f.fallback
	ft.Heartbleed = f.heartbleed

	r.Grade = Rate(r)
	r.Findings = Findings(r)
	s.mu.Lock()
	r.ProbeErrors = append(r.ProbeErrors, s.probeErr...)
	s.mu.Unlock()
	return r
}

// ParseHSTS parses a Strict-Transport-Security header value (RFC 6797,
// section 6.1). A missing or malformed max-age reads as 0.
func ParseHSTS(v string) *HSTS {
	h := &HSTS{Header: v}
	for _, d := range strings.Split(v, ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
			if err == nil && n > 0 {
				h.MaxAge = n
			}
		case "includesubdomains":
			h.IncludeSubDomains = true
		case "preload":
			h.Preload = true
		}
	}
	return h
}
