package scan

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// facts are the raw answers of all probes, before they become a Result.
type facts struct {
	offered map[uint16]bool
	// protoResp is the answer to each version's protocol probe.
	protoResp  map[uint16]*serverResponse
	suites     map[uint16]*suiteList
	groups     []uint16
	rawChain   [][]byte // a chain from a TLS 1.2-or-older ServerHello, for when crypto/tls cannot connect
	tlsInfo    *tlsInfo
	sessionID  bool
	fallback   string
	heartbleed bool
	redirect   *Redirect
	ech        *ECH // nil when not checked
}

// suiteList is what one protocol version accepted.
type suiteList struct {
	ids         []uint16
	kxBits      map[uint16]int // suite -> DH bits or curve strength
	serverOrder bool
}

func (f *facts) highest() uint16 {
	var h uint16
	for v, ok := range f.offered {
		if ok && v > h {
			h = v
		}
	}
	return h
}

// highestLegacy is the highest offered version up to TLS 1.2 (0 if none).
func (f *facts) highestLegacy() uint16 {
	var h uint16
	for v, ok := range f.offered {
		if ok && v > h && v <= versionTLS12 && v != versionSSL20 {
			h = v
		}
	}
	return h
}

// probe runs every probe against the target.
func (s *scanner) probe(ctx context.Context) (*facts, error) {
	f := &facts{offered: map[uint16]bool{}, protoResp: map[uint16]*serverResponse{}, suites: map[uint16]*suiteList{}}

	// Phase 1: which protocol versions are offered.
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[uint16]error{}
	for _, v := range allVersions {
		wg.Go(func() {
			resp, err := s.protocolProbe(ctx, v)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[v] = err
				return
			}
			f.protoResp[v] = resp
			f.offered[v] = offers(resp, v)
		})
	}
	wg.Wait()
	if f.highest() == 0 {
		for _, v := range allVersions {
			if err := errs[v]; err != nil && v != versionSSL20 {
				if errors.Is(err, errNotTLS) {
					return nil, &ConnError{Kind: ErrNotTLS, Target: s.target, Addr: s.addr, Err: err}
				}
				return nil, s.connError(err)
			}
		}
		return nil, &ConnError{Kind: ErrHandshake, Target: s.target, Addr: s.addr, Err: errors.New("no protocol version accepted")}
	}
	for v, err := range errs {
		s.probeError("protocol "+VersionName(v), err)
	}
	for _, v := range []uint16{f.highestLegacy(), versionSSL20} {
		if r := f.protoResp[v]; r != nil && len(r.Certs) > 0 && f.offered[v] {
			f.rawChain = r.Certs
			break
		}
	}

	// Phase 2: everything else, in parallel within the connection limit.
	run := func(fn func()) { wg.Go(fn) }
	for _, v := range []uint16{versionSSL30, versionTLS10, versionTLS11, versionTLS12, versionTLS13} {
		if !f.offered[v] {
			continue
		}
		run(func() {
			l := s.enumerateSuites(ctx, v)
			mu.Lock()
			f.suites[v] = l
			mu.Unlock()
		})
	}
	run(func() {
		g := s.enumerateGroups(ctx, f)
		mu.Lock()
		f.groups = g
		mu.Unlock()
	})
	run(func() {
		info := s.tlsProbe(ctx)
		if info != nil {
			info.http3 = s.http3Probe(ctx, info.altSvc)
		}
		mu.Lock()
		f.tlsInfo = info
		mu.Unlock()
	})
	if f.offered[versionTLS12] {
		run(func() {
			ok := s.sessionIDProbe(ctx)
			mu.Lock()
			f.sessionID = ok
			mu.Unlock()
		})
	}
	if s.opts.ECHConfigList != nil || s.opts.LookupECH != nil && !isIP(s.host) {
		// An address has no HTTPS record (and a client sends no SNI to
		// it, so no ECH either) unless a config is given.
		run(func() {
			e := s.probeECH(ctx)
			mu.Lock()
			f.ech = e
			mu.Unlock()
		})
	}
	run(func() {
		fb := s.fallbackProbe(ctx, f)
		mu.Lock()
		f.fallback = fb
		mu.Unlock()
	})
	if v := f.highestLegacy(); v != 0 && f.protoResp[v].Hello != nil {
		if _, ok := f.protoResp[v].Hello.Extensions[extHeartbeat]; ok {
			run(func() {
				hb := s.heartbleedProbe(ctx, v)
				mu.Lock()
				f.heartbleed = hb
				mu.Unlock()
			})
		}
	}
	if s.opts.HTTPPort > 0 {
		run(func() {
			rd := s.redirectProbe(ctx)
			mu.Lock()
			f.redirect = rd
			mu.Unlock()
		})
	}
	wg.Wait()
	// The group enumeration for TLS 1.2 needs the ECDHE suites found above.
	if len(f.groups) == 0 && !f.offered[versionTLS13] {
		f.groups = s.enumerateGroups12(ctx, f)
	}
	return f, nil
}

// offers reports whether resp accepts protocol version v.
func offers(resp *serverResponse, v uint16) bool {
	if v == versionSSL20 {
		return resp.SSLv2 && len(resp.SSLv2Spec) > 0
	}
	h := resp.Hello
	if h == nil {
		return false
	}
	if v == versionTLS13 {
		return h.selectedVersion() == versionTLS13
	}
	return !h.Retry && h.selectedVersion() == v
}

// baseHello is the ClientHello the scanner sends for version v.
func (s *scanner) baseHello(v uint16) *hello {
	h := &hello{version: v, suites: suitesFor(v), serverName: s.host, alpn: []string{"h2", "http/1.1"}}
	switch v {
	case versionSSL30:
		h.noExt = true
	case versionTLS13:
		h.keyShares = []uint16{0x001D, 0x0017}
	}
	return h
}

// protocolProbe asks whether version v is offered. The probes of TLS 1.2
// and older also offer compression and heartbeats, so that their
// ServerHellos tell whether the server accepts those.
func (s *scanner) protocolProbe(ctx context.Context, v uint16) (*serverResponse, error) {
	if v == versionSSL20 {
		return s.exchange(ctx, sslv2Hello())
	}
	h := s.baseHello(v)
	if v >= versionTLS10 && v <= versionTLS12 {
		h.compression = true
		h.heartbeat = true
	}
	return s.exchange(ctx, h.marshal(s.ks))
}

// enumerateSuites finds every suite version v accepts: offer all, note
// the server's pick, drop it, repeat. A server that picks by its own
// preference so reveals its order; preferOwn tells whether it does.
func (s *scanner) enumerateSuites(ctx context.Context, v uint16) *suiteList {
	l := &suiteList{kxBits: map[uint16]int{}}
	l.ids = eliminate(suitesFor(v), func(remaining []uint16) (uint16, bool) {
		h := s.baseHello(v)
		h.suites = remaining
		resp, err := s.exchange(ctx, h.marshal(s.ks))
		if err != nil {
			s.probeError("cipher suites "+VersionName(v), err)
			return 0, false
		}
		if !offers(resp, v) || !slices.Contains(remaining, resp.Hello.Suite) {
			return 0, false
		}
		id := resp.Hello.Suite
		if resp.KeyExch != nil {
			curve, dhBits, err := keyExchangeParams(LookupSuite(id).Kx, resp.KeyExch)
			if err == nil && dhBits > 0 {
				l.kxBits[id] = dhBits
			} else if err == nil && curve != 0 {
				l.kxBits[id] = LookupGroup(curve).Bits
			}
		}
		return id, true
	})
	l.serverOrder = s.preferOwn(ctx, v, l.ids)
	return l
}

// preferOwn reports whether the server picks suites by its own preference
// rather than the client's. It offers each pair of neighbours in ids (the
// order the server picked them in) both ways round: a server that takes
// the same suite from both has an order of its own. A single ClientHello
// with all suites reversed is not enough: crypto/tls puts ChaCha20 first
// when the client's first suite is ChaCha20 (a client without AES
// hardware) and its own order otherwise, so the reversed list gets the
// client's first choice from a server that prefers AES-128-GCM to
// AES-256-GCM whatever the client says. The pairs stop at the first
// evidence; a server that follows the client costs two ClientHellos per
// accepted suite.
func (s *scanner) preferOwn(ctx context.Context, v uint16, ids []uint16) bool {
	pick := func(suites ...uint16) (uint16, bool) {
		h := s.baseHello(v)
		h.suites = suites
		resp, err := s.exchange(ctx, h.marshal(s.ks))
		if err != nil || !offers(resp, v) || !slices.Contains(suites, resp.Hello.Suite) {
			return 0, false
		}
		return resp.Hello.Suite, true
	}
	for i := 0; i+1 < len(ids); i++ {
		a, b := ids[i], ids[i+1]
		x, ok1 := pick(a, b)
		y, ok2 := pick(b, a)
		if ok1 && ok2 && x == y {
			return true
		}
	}
	return false
}

// enumerateGroups finds the TLS 1.3 groups: offer all groups without key
// shares; the server names its choice in a HelloRetryRequest; drop it,
// repeat.
func (s *scanner) enumerateGroups(ctx context.Context, f *facts) []uint16 {
	if !f.offered[versionTLS13] {
		return nil
	}
	return eliminate(groupIDs(false), func(remaining []uint16) (uint16, bool) {
		h := s.baseHello(versionTLS13)
		h.groups, h.keyShares = remaining, nil
		resp, err := s.exchange(ctx, h.marshal(s.ks))
		if err != nil || !offers(resp, versionTLS13) {
			return 0, false
		}
		return resp.Hello.keyShareGroup(), true
	})
}

// enumerateGroups12 finds the ECDHE curves of a server without TLS 1.3
// from its ServerKeyExchange messages.
func (s *scanner) enumerateGroups12(ctx context.Context, f *facts) []uint16 {
	v := f.highestLegacy()
	l := f.suites[v]
	if l == nil {
		return nil
	}
	var ecdhe []uint16
	for _, id := range l.ids {
		if LookupSuite(id).Kx == "ECDHE" {
			ecdhe = append(ecdhe, id)
		}
	}
	if len(ecdhe) == 0 {
		return nil
	}
	return eliminate(groupIDs(true), func(remaining []uint16) (uint16, bool) {
		h := s.baseHello(v)
		h.suites, h.groups = ecdhe, remaining
		resp, err := s.exchange(ctx, h.marshal(s.ks))
		if err != nil || !offers(resp, v) || resp.KeyExch == nil {
			return 0, false
		}
		curve, _, err := keyExchangeParams("ECDHE", resp.KeyExch)
		return curve, err == nil
	})
}

// eliminate finds which of ids a server accepts, one ClientHello at a
// time: offer all that are left, take the server's pick out, repeat. pick
// sends one ClientHello offering remaining (which it must not keep) and
// returns the server's choice, or false when the server refused or
// answered something unusable. The search ends there, on a pick that was
// not offered, or when nothing is left; found is in the server's order of
// picking.
func eliminate(ids []uint16, pick func(remaining []uint16) (id uint16, ok bool)) (found []uint16) {
	remaining := slices.Clone(ids)
	for len(remaining) > 0 {
		id, ok := pick(remaining)
		if !ok || !slices.Contains(remaining, id) {
			break
		}
		found = append(found, id)
		remaining = slices.DeleteFunc(remaining, func(x uint16) bool { return x == id })
	}
	return found
}

// fallbackProbe checks TLS_FALLBACK_SCSV (RFC 7507): offered the second
// highest version with the signal, the server must refuse with an
// inappropriate_fallback alert.
func (s *scanner) fallbackProbe(ctx context.Context, f *facts) string {
	var vs []uint16
	for _, v := range []uint16{versionSSL30, versionTLS10, versionTLS11, versionTLS12, versionTLS13} {
		if f.offered[v] {
			vs = append(vs, v)
		}
	}
	if len(vs) < 2 {
		return "n/a"
	}
	v := vs[len(vs)-2]
	h := s.baseHello(v)
	h.fallback = true
	resp, err := s.exchange(ctx, h.marshal(s.ks))
	switch {
	case err != nil:
		s.probeError("TLS_FALLBACK_SCSV", err)
		return "unknown"
	case resp.AlertSeen && resp.Alert == alertInappropriateFallback:
		return "supported"
	case resp.Hello != nil:
		return "not supported"
	}
	return "unknown"
}

// heartbleedProbe sends a heartbeat request whose length field claims 16
// KiB it does not carry, before the handshake ends. A server with the bug
// answers with a heartbeat response: the scanner reads only that record's
// header, never the leaked memory, and closes.
func (s *scanner) heartbleedProbe(ctx context.Context, v uint16) bool {
	c, release, err := s.dial(ctx)
	if err != nil {
		s.probeError("heartbleed", err)
		return false
	}
	defer release()
	h := s.baseHello(v)
	h.heartbeat = true
	resp, err := s.roundTrip(c, h.marshal(s.ks))
	if err != nil || resp.Hello == nil || !resp.Done {
		return false
	}
	if _, err := c.Write(heartbeatRequest(v)); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(min(s.opts.Timeout, 3*time.Second)))
	hdr := make([]byte, 5)
	for {
		if _, err := readFull(c, hdr); err != nil {
			return false
		}
		switch hdr[0] {
		case recordHeartbeat:
			return true
		case recordHandshake, recordChangeCipherSpec:
			// Skip records that may still follow the ServerHelloDone.
			n := int(hdr[3])<<8 | int(hdr[4])
			if _, err := readFull(c, make([]byte, n)); err != nil {
				return false
			}
		default:
			return false
		}
	}
}

// sessionIDProbe checks session resumption by ID in TLS 1.2: a full
// handshake (crypto/tls, tickets off) gets a session ID; a ClientHello
// offering it back must get the same ID.
func (s *scanner) sessionIDProbe(ctx context.Context) bool {
	id := s.fullHandshakeSessionID(ctx)
	if len(id) == 0 {
		return false
	}
	h := s.baseHello(versionTLS12)
	h.sessionID = id
	resp, err := s.exchange(ctx, h.marshal(s.ks))
	if err != nil || resp.Hello == nil {
		return false
	}
	return resp.Resumed && bytes.Equal(resp.Hello.SessionID, id)
}

// isIP reports whether host is an IP address literal.
func isIP(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}
