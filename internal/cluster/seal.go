package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// sealer encrypts stored values with AES-256-GCM. A sealed value is
//
//	"tg1" | mtime (8 bytes, Unix nanoseconds) | nonce (12) | ciphertext
//
// with the storage key and the mtime as associated data, so a value
// cannot be moved to another key or given another date unnoticed.
type sealer struct {
	aead cipher.AEAD
	prk  []byte // HKDF-SHA256 pseudorandom key of the storage key, for Derive
}

const sealMagic = "tg1"

func newSealer(keyFile []byte) (*sealer, error) {
	raw := []byte(strings.TrimSpace(string(keyFile)))
	if len(raw) != 32 {
		dec, err := base64.StdEncoding.DecodeString(string(raw))
		if err != nil || len(dec) != 32 {
			return nil, errors.New("want 32 random bytes in base64 (head -c 32 /dev/urandom | base64)")
		}
		raw = dec
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, raw, []byte("tlsgate derived keys"))
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, prk: prk}, nil
}

// Derive returns a 32-byte key for purpose, the same on every gateway
// with the same storage key and independent of the sealing key and of
// the keys of other purposes (HKDF-SHA256).
func (c *Cluster) Derive(purpose string) [32]byte {
	var k [32]byte
	b, _ := hkdf.Expand(sha256.New, c.sealer.prk, "tlsgate "+purpose, 32) // 32 bytes of SHA-256 never fail
	copy(k[:], b)
	return k
}

func (s *sealer) seal(key string, value []byte, mtime time.Time) []byte {
	out := make([]byte, 0, len(sealMagic)+8+s.aead.NonceSize()+len(value)+s.aead.Overhead())
	out = append(out, sealMagic...)
	out = binary.BigEndian.AppendUint64(out, uint64(mtime.UnixNano()))
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, value, s.ad(key, out[len(sealMagic):len(sealMagic)+8]))
}

func (s *sealer) ad(key string, mtime []byte) []byte {
	return append([]byte(key+"\x00"), mtime...)
}

// open decrypts a sealed value and returns it with its modification time.
func (s *sealer) open(key string, sealed []byte) ([]byte, time.Time, error) {
	head := len(sealMagic) + 8 + s.aead.NonceSize()
	if len(sealed) < head+s.aead.Overhead() || string(sealed[:len(sealMagic)]) != sealMagic {
		return nil, time.Time{}, fmt.Errorf("%s: not a tlsgate-encrypted value", key)
	}
	mt := sealed[len(sealMagic) : len(sealMagic)+8]
	plain, err := s.aead.Open(nil, sealed[len(sealMagic)+8:head], sealed[head:], s.ad(key, mt))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: cannot decrypt: is encryption_key_file the same on every gateway?", key)
	}
	return plain, time.Unix(0, int64(binary.BigEndian.Uint64(mt))), nil
}

// size is the plaintext length of a sealed value.
func (s *sealer) size(sealed []byte) int64 {
	n := len(sealed) - len(sealMagic) - 8 - s.aead.NonceSize() - s.aead.Overhead()
	return int64(max(n, 0))
}
