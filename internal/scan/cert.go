package scan

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

var (
	oidSCTList    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
	oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}
)

// checkCertificate judges a served chain (DER, leaf first): trust against
// the roots, completeness and order, name, validity, key and signature.
func (s *scanner) checkCertificate(ctx context.Context, chainDER [][]byte, info *tlsInfo) (*Certificate, *x509.Certificate, error) {
	if len(chainDER) == 0 {
		return nil, nil, errors.New("the server sent no certificate")
	}
	var chain []*x509.Certificate
	for i, der := range chainDER {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate %d of the chain: %w", i, err)
		}
		chain = append(chain, c)
	}
	leaf := chain[0]
	now := s.now
	sum := sha256.Sum256(leaf.Raw)
	c := &Certificate{
		Subject:         leaf.Subject.String(),
		Issuer:          leaf.Issuer.String(),
		SANs:            sans(leaf),
		NotBefore:       leaf.NotBefore,
		NotAfter:        leaf.NotAfter,
		DaysLeft:        int(leaf.NotAfter.Sub(now).Hours() / 24),
		SignatureAlg:    leaf.SignatureAlgorithm.String(),
		ChainLength:     len(chain),
		ChainInOrder:    true,
		Expired:         now.After(leaf.NotAfter),
		NotYetValid:     now.Before(leaf.NotBefore),
		FingerprintSHA2: hex.EncodeToString(sum[:]),
	}
	c.KeyType, c.KeyBits = keyInfo(leaf)
	switch leaf.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		c.WeakSignature = true
	}
	c.SelfSigned = leaf.Subject.String() == leaf.Issuer.String() && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil
	for i := 0; i+1 < len(chain); i++ {
		if chain[i].CheckSignatureFrom(chain[i+1]) != nil {
			c.ChainInOrder = false
		}
	}
	c.NameMatch = leaf.VerifyHostname(s.host) == nil

	// Trust is judged at a moment inside the leaf's validity, so that an
	// expired certificate from a trusted CA reads "expired", not
	// "untrusted".
	at := now
	if at.After(leaf.NotAfter) {
		at = leaf.NotAfter.Add(-time.Second)
	}
	if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore.Add(time.Second)
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	vo := x509.VerifyOptions{Roots: s.opts.Roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	_, err := leaf.Verify(vo)
	switch {
	case err == nil:
		c.Trusted, c.ChainComplete = true, true
	case isUnknownAuthority(err) && !c.SelfSigned && !s.opts.NoFetchIssuer && len(leaf.IssuingCertificateURL) > 0:
		if issuer := s.fetchIssuer(ctx, leaf.IssuingCertificateURL[0]); issuer != nil {
			inter.AddCert(issuer)
			if _, err2 := leaf.Verify(vo); err2 == nil {
				c.Trusted, c.FetchedIssuer = true, true
				break
			}
		}
		c.TrustError = err.Error()
	default:
		c.TrustError = err.Error()
	}
	if !c.Trusted {
		// Complete up to some root, even if not one we trust?
		last := chain[len(chain)-1]
		c.ChainComplete = last.Subject.String() == last.Issuer.String()
	}

	c.MustStaple = mustStaple(leaf)
	c.SCTs = embeddedSCTs(leaf)
	if info != nil && info.state != nil {
		c.SCTs += len(info.state.SignedCertificateTimestamps)
		c.OCSPStapled = len(info.state.OCSPResponse) > 0
	}
	return c, leaf, nil
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

func sans(c *x509.Certificate) []string {
	out := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// keyInfo returns the key type and size of a certificate.
func keyInfo(c *x509.Certificate) (string, int) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return c.PublicKeyAlgorithm.String(), 0
}

// keyStrength is a certificate key's strength as the rating guide counts
// it: RSA bits, or the RSA-equivalent of an elliptic-curve key (NIST SP
// 800-57 Part 1, Table 2).
func keyStrength(typ string, bits int) int {
	switch typ {
	case "RSA":
		return bits
	case "ECDSA", "Ed25519":
		switch {
		case bits >= 512:
			return 15360
		case bits >= 384:
			return 7680
		case bits >= 256:
			return 3072
		case bits >= 224:
			return 2048
		}
		return 1024
	}
	return bits
}

// mustStaple reports the TLS Feature extension asking for status_request
// (RFC 7633).
func mustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidTLSFeature) {
			continue
		}
		var features []int
		if _, err := asn1.Unmarshal(e.Value, &features); err == nil {
			for _, f := range features {
				if f == 5 {
					return true
				}
			}
		}
	}
	return false
}

// embeddedSCTs counts the SCTs embedded in a certificate (RFC 6962,
// section 3.3): an OCTET STRING holding a TLS-encoded list.
func embeddedSCTs(c *x509.Certificate) int {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidSCTList) {
			continue
		}
		var list []byte
		if _, err := asn1.Unmarshal(e.Value, &list); err != nil {
			return 0
		}
		r := reader(list)
		body, ok := r.vec16()
		if !ok {
			return 0
		}
		n := 0
		br := reader(body)
		for len(br) > 0 {
			if _, ok := br.vec16(); !ok {
				break
			}
			n++
		}
		return n
	}
	return 0
}

// fetchIssuer downloads the issuer certificate named by a leaf's AIA URL
// (http only, bounded in size and time), DER or PEM.
func (s *scanner) fetchIssuer(ctx context.Context, rawURL string) *x509.Certificate {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	tr := &http.Transport{
		DialContext:       s.opts.Dial,
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(bufio.NewReader(resp.Body), 64<<10))
	if err != nil {
		return nil
	}
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil
	}
	return c
}
