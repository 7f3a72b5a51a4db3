package scan

import "testing"

func TestAltSvcH3Port(t *testing.T) {
	for _, tc := range []struct {
		v    string
		port int
		ok   bool
	}{
		{`h3=":443"; ma=86400`, 443, true},
		{`h3-29=":8443", h3=":8444"; ma=3600`, 8444, true},
		{`h2=":443"`, 0, false},
		{`h3="other.example:443"`, 0, false}, // another host's
		{`h3=":0"`, 0, false},
		{`h3=":99999"`, 0, false},
		{``, 0, false},
		{`clear`, 0, false},
	} {
		if port, ok := altSvcH3Port(tc.v); port != tc.port || ok != tc.ok {
			t.Errorf("altSvcH3Port(%q) = %d, %v; want %d, %v", tc.v, port, ok, tc.port, tc.ok)
		}
	}
}
