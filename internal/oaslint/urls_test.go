package oaslint

import (
	"fmt"
	"testing"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want string // scheme host user relative noScheme secure loopback
	}{
		{"https://api.example.com/v1", "https api.example.com - abs - secure -"},
		{"HTTP://API.Example.COM:8080", "http api.example.com - abs - - -"},
		{"  http://localhost:8080/x  ", "http localhost - abs - - loopback"},
		{"http://127.0.0.2", "http 127.0.0.2 - abs - - loopback"},
		{"http://[::1]:80/", "http ::1 - abs - - loopback"},
		{"http://0.0.0.0:8080", "http 0.0.0.0 - abs - - loopback"},
		{"http://app.localhost", "http app.localhost - abs - - loopback"},
		{"http://localhost.example.com", "http localhost.example.com - abs - - -"},
		{"wss://stream.example.com", "wss stream.example.com - abs - secure -"},
		{"ws://stream.example.com", "ws stream.example.com - abs - - -"},
		{"https://u:p@h.example.com/x@y", "https h.example.com u:p abs - secure -"},
		{"https://token@h.example.com", "https h.example.com token abs - secure -"},
		{"/v1", "- - - rel - - -"},
		{"", "- - - rel - - -"},
		{"//cdn.example.com/v1", "- cdn.example.com - rel - - -"},
		{"v1/api", "- - - rel - - -"},
		{"api.example.com/v1", "- api.example.com - rel noscheme - -"},
		{"localhost:8080/api", "- localhost - rel noscheme - loopback"},
		{"api.example.com:443", "- api.example.com - rel noscheme - -"},
		{"u:p@api.example.com/v1", "- api.example.com u:p rel noscheme - -"},
		{"mailto:api@example.com", "- example.com mailto:api rel noscheme - -"},
		{"urn:example:api", "urn - - abs - - -"},
		{"{scheme}://api.example.com", "- - - rel - - -"},
	}
	for _, tc := range cases {
		u := parseURL(tc.in)
		or := func(s, alt string) string {
			if s == "" {
				return alt
			}
			return s
		}
		flag := func(b bool, s string) string {
			if b {
				return s
			}
			return "-"
		}
		rel := "abs"
		if u.relative {
			rel = "rel"
		}
		got := fmt.Sprintf("%s %s %s %s %s %s %s", or(u.scheme, "-"), or(u.host, "-"), or(u.userinfo, "-"), rel,
			flag(u.noScheme, "noscheme"), flag(u.secure(), "secure"), flag(u.loopback(), "loopback"))
		if got != tc.want {
			t.Errorf("parseURL(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://u:p@h.example.com/x":    "https://u:***@h.example.com/x",
		"https://ghp_token@github.com":   "https://***@github.com",
		"https://h.example.com/a@b":      "https://h.example.com/a@b",
		"u:p@h.example.com/v1":           "u:***@h.example.com/v1",
		"https://h.example.com":          "https://h.example.com",
		"http://a:b:c@h.example.com?x=@": "http://a:***@h.example.com?x=@",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
