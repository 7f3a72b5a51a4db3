package server

import (
	"crypto/x509"
	"math/big"
	"testing"
	"time"
)

// TestCertInfoRenewAt: the internal CA renews at two thirds of the
// lifetime, ACME with the configured ratio left (a third by default), and
// nobody renews files certificates, so they have no renewal point.
func TestCertInfoRenewAt(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	leaf := func(days int) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: start, NotAfter: start.Add(time.Duration(days) * 24 * time.Hour)}
	}
	for _, tt := range []struct {
		source string
		days   int
		ratio  float64
		want   time.Time
	}{
		{"internal", 7, 0, start.Add(112 * time.Hour)}, // 4 d 16 h of 7 d
		{"internal", 7, 0.5, start.Add(112 * time.Hour)},
		{"acme", 90, 0, start.Add(60 * 24 * time.Hour)},
		{"acme", 6, 0, start.Add(4 * 24 * time.Hour)},
		{"acme", 90, 0.5, start.Add(45 * 24 * time.Hour)},
		{"files", 365, 0, time.Time{}},
	} {
		c := certInfo("s", "s", tt.source, leaf(tt.days), tt.ratio)
		if !c.RenewAt.Equal(tt.want) {
			t.Errorf("%s, %d days, ratio %v: RenewAt %v, want %v", tt.source, tt.days, tt.ratio, c.RenewAt, tt.want)
		}
	}
	if c := certInfo("s", "s", "acme", nil, 0); !c.RenewAt.IsZero() {
		t.Errorf("pending certificate: RenewAt %v", c.RenewAt)
	}
}
