package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// KeyType names the kind of key a CA or certificate gets.
type KeyType string

// Supported key types. ECDSA P-256 is the default: fast handshakes, small
// certificates, and accepted by every TLS client of the last decade.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	RSA2048   KeyType = "rsa-2048"
	RSA3072   KeyType = "rsa-3072"
	Ed25519   KeyType = "ed25519"
)

// KeyTypes lists the supported key types, default first.
var KeyTypes = []KeyType{ECDSAP256, RSA2048, RSA3072, Ed25519}

// ParseKeyType checks a key type name; "" is the default.
func ParseKeyType(s string) (KeyType, error) {
	if s == "" {
		return ECDSAP256, nil
	}
	for _, k := range KeyTypes {
		if KeyType(s) == k {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown key type %q: use ecdsa-p256, rsa-2048, rsa-3072 or ed25519", s)
}

func (k KeyType) generate() (crypto.Signer, error) {
	switch k {
	case ECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unknown key type %q", k)
}

// keyUsage is what a leaf with this key may do. RSA keys may also encrypt
// a key exchange; ECDSA and Ed25519 keys only sign.
func (k KeyType) keyUsage() x509.KeyUsage {
	if k == RSA2048 || k == RSA3072 {
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
}
