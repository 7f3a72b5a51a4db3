package scan

import (
	"encoding/base64"
	"testing"
)

// A config list made by tlsgate (public name public.example.test).
const echListSeed = "AEr+DQBG5gAgACCtp0h4CV6hBvbu0NYKDtuMiIZjuhAN0bzvYCi0II84cgAIAAEAAQABAAMgE3B1YmxpYy5leGFtcGxlLnRlc3QAAA=="

func TestECHPublicName(t *testing.T) {
	list, _ := base64.StdEncoding.DecodeString(echListSeed)
	if got := echPublicName(list); got != "public.example.test" {
		t.Errorf("public name %q", got)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 4, 0xfe, 0x0d, 0, 9}, list[:len(list)-10]} {
		if got := echPublicName(bad); got != "" {
			t.Errorf("echPublicName(%x) = %q, want empty", bad, got)
		}
	}
}

// FuzzECHPublicName: the HTTPS record's ech value comes from DNS; any
// bytes must parse or not, never panic.
func FuzzECHPublicName(f *testing.F) {
	list, _ := base64.StdEncoding.DecodeString(echListSeed)
	f.Add(list)
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) { echPublicName(b) })
}
