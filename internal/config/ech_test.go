package config

import (
	"strings"
	"testing"
)

func TestECHValidate(t *testing.T) {
	t.Parallel()
	const sites = `
sites:
  - hosts: [api.example.com, "*.edge.example.com"]
    routes: [{upstreams: ["http://127.0.0.1:9000"]}]
`
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings, one per expected error; none: valid
	}{
		{"default", sites, nil},
		{"public name of a site", "ech: {public_name: api.example.com}" + sites, nil},
		{"public name under a wildcard host", "ech: {public_name: ech.edge.example.com}" + sites, nil},
		{"public name no site has", "ech: {public_name: ech.example.net}" + sites,
			[]string{`ech.public_name: "ech.example.net" is not a host of any site`}},
		{"single label", "ech: {public_name: localhost}" + sites, []string{`ech.public_name: "localhost" has one label`}},
		{"IP address", "ech: {public_name: 192.0.2.1}" + sites, []string{`ech.public_name: "192.0.2.1" is an IP address`}},
		{"enabled without a usable name", "ech: {enabled: true}\nsites: [{hosts: [localhost], routes: [{upstreams: [\"http://127.0.0.1:9\"]}]}]",
			[]string{"ech.public_name: ech.enabled is true but no site has a host usable"}},
		{"off needs nothing", "ech: {enabled: false, public_name: nowhere}" + sites, nil},
		{"short rotation", "ech: {rotate: 1s, grace: -1s}" + sites, []string{"ech.rotate: must be at least 1m", "ech.grace: must be a positive duration"}},
		{"publish without rfc2136", "ech: {publish: {zone: example.com, names: [api.example.com, api.example.net]}}" + sites,
			[]string{"ech.publish: publishing the HTTPS record uses acme.dns", `ech.publish.names[1]: "api.example.net" is not in zone example.com`}},
		{"publish a name no site serves", "ech: {publish: {zone: example.com, names: [api.example.com, x.edge.example.com, www.example.com]}}\nacme: {dns: {provider: rfc2136, server: ns1.example.com, key_name: k., key_file: /k}}" + sites,
			[]string{`ech.publish.names[2]: "www.example.com" is not a host of any site`}},
		{"publish without names", "ech: {publish: {ttl: 72h}}\nacme: {dns: {provider: rfc2136, server: ns1.example.com, key_name: k., key_file: /k}}" + sites,
			[]string{"ech.publish.zone: required", "ech.publish.names: required", "ech.publish.ttl: must be at least 1s and well under ech.grace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := check(tc.yaml)
			got := flatten(err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d: %v", len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].Error(), w) {
					t.Errorf("error %d: %v\nwant it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestECHPublicNameDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{`sites: [{hosts: [localhost, 127.0.0.1, "*.x.example.com", api.example.com]}, {hosts: [b.example.com]}]`, "api.example.com"},
		{`sites: [{hosts: [a.example.com]}, {hosts: [b.example.com], default: true}]`, "b.example.com"},
		{`sites: [{hosts: [localhost, "::1"]}]`, ""},
		{"ech: {public_name: B.Example.com.}\nsites: [{hosts: [a.example.com]}]", "b.example.com"},
	} {
		c, err := Parse(testFile, []byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ECHPublicName(); got != tc.want {
			t.Errorf("%s: public name %q, want %q", tc.yaml, got, tc.want)
		}
		if c.ECHEnabled() != (tc.want != "") {
			t.Errorf("%s: enabled %v", tc.yaml, c.ECHEnabled())
		}
	}
}

// TestECHFleetDefault: with storage.etcd, as with a data dir, ECH is on
// by default and off with ech.enabled: false.
func TestECHFleetDefault(t *testing.T) {
	t.Parallel()
	const base = "storage: {etcd: {endpoints: [\"http://127.0.0.1:2379\"], encryption_key_file: /k}}\nsites: [{hosts: [a.example.com]}]\n"
	for yaml, want := range map[string]bool{
		base: true, base + "ech: {public_name: a.example.com}": true, base + "ech: {enabled: true}": true, base + "ech: {enabled: false}": false,
	} {
		c, err := Parse(testFile, []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		if c.ECHEnabled() != want {
			t.Errorf("%s: enabled %v, want %v", yaml, c.ECHEnabled(), want)
		}
	}
}

// TestECHHidesNothing: a public name that is the only name served
// (addresses aside) hides nothing; another name, a wildcard or the
// catch-all beside it does.
func TestECHHidesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		want bool
	}{
		{`sites: [{hosts: [api.example.com, 127.0.0.1, "::1"]}]`, true},
		{`sites: [{hosts: [api.example.com]}, {hosts: [b.example.com]}]`, false},
		{`sites: [{hosts: [api.example.com, "*.x.example.com"]}]`, false},
		{`sites: [{hosts: [api.example.com]}, {hosts: ["*"]}]`, false},
		{"ech: {public_name: ech.example.com}\nsites: [{hosts: [ech.example.com, api.example.com]}]", false},
	} {
		c, err := Parse(testFile, []byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ECHHidesNothing(); got != tc.want {
			t.Errorf("%s: hides nothing %v, want %v", tc.yaml, got, tc.want)
		}
	}
}
