package scan

import (
	"context"
	"crypto/tls"
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// ECH is what a scan found about Encrypted Client Hello
// (draft-ietf-tls-esni): whether the host's DNS HTTPS record publishes an
// ECH config, and whether the server accepts a hello encrypted with it.
type ECH struct {
	// Published: the HTTPS record of the host carries an ech= config list.
	Published bool `json:"published"`
	// Given: the config tried was given by the caller (--ech-config), and
	// DNS was not asked; Published is then false.
	Given bool `json:"given,omitempty"`
	// PublicName is the outer server name of the first config: what
	// on-path observers see instead of the host.
	PublicName string `json:"public_name,omitempty"`
	// Accepted: a TLS 1.3 handshake whose hello was encrypted with the
	// published config was accepted by the server.
	Accepted bool `json:"accepted"`
	// Retry: the server rejected the published config and sent others to
	// retry with (the record is stale, or names another server's keys).
	Retry bool `json:"retry_configs"`
	// Error says why the record could not be read or the handshake
	// failed; empty otherwise.
	Error string `json:"error,omitempty"`
}

// probeECH looks up the host's HTTPS record and, when it publishes ECH,
// tries a handshake with it.
func (s *scanner) probeECH(ctx context.Context) *ECH {
	e := &ECH{}
	list := s.opts.ECHConfigList
	if list != nil {
		e.Given = true
	} else {
		lctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		var err error
		list, err = s.opts.LookupECH(lctx, s.host)
		cancel()
		if err != nil {
			e.Error = err.Error()
			return e
		}
		if len(list) == 0 {
			return e
		}
		e.Published = true
	}
	e.PublicName = echPublicName(list)
	cfg := s.tlsConfig()
	cfg.MinVersion = tls.VersionTLS13
	cfg.CipherSuites = nil
	cfg.EncryptedClientHelloConfigList = list
	// The chain is judged elsewhere; a rejection's outer certificate too.
	cfg.EncryptedClientHelloRejectionVerify = func(tls.ConnectionState) error { return nil }
	tc, release, err := s.tlsHandshake(ctx, cfg, nil)
	if err != nil {
		var rej *tls.ECHRejectionError
		if errors.As(err, &rej) {
			e.Retry = len(rej.RetryConfigList) > 0
		}
		e.Error = err.Error()
		return e
	}
	defer release()
	defer tc.Close()
	e.Accepted = tc.ConnectionState().ECHAccepted
	return e
}

// echPublicName is the public_name of the first config in an
// ECHConfigList, "" if it cannot be read.
func echPublicName(list []byte) string {
	s := cryptobyte.String(list)
	var configs, body, pk, suites, name cryptobyte.String
	var version uint16
	var id, maxLen uint8
	var kem uint16
	if !s.ReadUint16LengthPrefixed(&configs) || !configs.ReadUint16(&version) || !configs.ReadUint16LengthPrefixed(&body) ||
		!body.ReadUint8(&id) || !body.ReadUint16(&kem) || !body.ReadUint16LengthPrefixed(&pk) ||
		!body.ReadUint16LengthPrefixed(&suites) || !body.ReadUint8(&maxLen) || !body.ReadUint8LengthPrefixed(&name) {
		return ""
	}
	return string(name)
}
