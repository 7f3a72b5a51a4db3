package acme

import (
	"slices"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/internal/config"
)

// TestKeyTypesMatchConfig holds the key types the config accepts and the
// ones this package can generate to the same list: a name config.Validate
// lets through but KeyTypes lacks would silently get a P-256 key.
func TestKeyTypesMatchConfig(t *testing.T) {
	t.Parallel()
	var got []string
	for name := range KeyTypes {
		got = append(got, name)
	}
	want := slices.Clone(config.ACMEKeyTypes)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("acme.KeyTypes has %v, config.ACMEKeyTypes %v", got, want)
	}
	if kt := keyType(""); kt != certmagic.P256 {
		t.Errorf("keyType(\"\") = %v, want P-256 (config.DefaultACMEKeyType)", kt)
	}
}
