package loopback

import "testing"

func TestHost(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"::1%lo", true},
		{"", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
		{"LOCALHOST", false},
		{"api.localhost", false},
		{"localhost.example.com", false},
		{"[::1]", false},
		{"127.0.0.1:80", false},
	} {
		if got := Host(tt.host); got != tt.want {
			t.Errorf("Host(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"api.localhost", true},
		{"a.b.localhost", true},
		{"", false},
		{"127.0.0.1", false},
		{"notlocalhost", false},
		{"localhost.example.com", false},
	} {
		if got := Name(tt.host); got != tt.want {
			t.Errorf("Name(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
