package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// gatewayHead is the header of a typical answer from the gateway
// (security headers, Alt-Svc, request ID).
func gatewayHead() http.Header {
	return http.Header{
		"Content-Type":              {"application/json"},
		"Strict-Transport-Security": {"max-age=31536000; includeSubDomains"},
		"X-Content-Type-Options":    {"nosniff"},
		"X-Frame-Options":           {"DENY"},
		"Referrer-Policy":           {"strict-origin-when-cross-origin"},
		"Alt-Svc":                   {`h3=":443"; ma=86400`},
		"X-Request-Id":              {"f20bc31821e6-1"},
		"Content-Length":            {"66"},
		"Date":                      {"Thu, 03 Dec 2026 11:49:36 GMT"},
	}
}

// fieldsPair writes h both ways: net/http's Header.WriteSubset and
// writeFields.
func fieldsPair(h http.Header, exclude map[string]bool, keys []field) (want, got string, kept []field) {
	var a bytes.Buffer
	if err := h.WriteSubset(&a, exclude); err != nil {
		panic(err)
	}
	var b bytes.Buffer
	bw := bufio.NewWriterSize(&b, 64) // small: fields cross buffer flushes
	kept = writeFields(bw, h, exclude, keys)
	bw.Flush()
	return a.String(), b.String(), kept
}

func TestWriteFields(t *testing.T) {
	many := http.Header{}
	for i := range 40 {
		many.Set(fmt.Sprintf("X-Field-%02d", i), fmt.Sprint(i))
	}
	cases := []struct {
		name    string
		h       http.Header
		exclude map[string]bool
	}{
		{"empty", http.Header{}, nil},
		{"nil", nil, nil},
		{"gateway's answer", gatewayHead(), nil},
		{"sorted bytewise, not canonically", http.Header{"b": {"1"}, "A": {"2"}, "a": {"3"}, "B": {"4"}, "_x": {"5"}, "~": {"6"}}, nil},
		{"values in order", http.Header{"Set-Cookie": {"a=1", "b=2", "a=3"}}, nil},
		{"no values", http.Header{"X-Empty": {}, "X-Nil": nil, "X-One": {""}}, nil},
		{"CR and LF become spaces", http.Header{"X-A": {"a\r\nInjected: yes", "\r\n", "a\rb\nc", "\n\n", "a\rb", "a\nb"}}, nil},
		{"trimmed", http.Header{"X-A": {"  a  ", "\t b\t", " \r\n x \r\n ", "\v", "\u00a0a\u00a0"}}, nil},
		{"invalid names dropped", http.Header{"": {"x"}, "Bad Name": {"x"}, "Bad:Name": {"x"}, "Bad\r\nName": {"x"}, "Ünï": {"x"}, "Good": {"y"}}, nil},
		{"exclude", http.Header{"A": {"1"}, "B": {"2"}, "C": {"3"}}, map[string]bool{"B": true, "Z": true, "a": true}},
		{"exclude false entries", http.Header{"A": {"1"}, "B": {"2"}}, map[string]bool{"A": false, "B": true}},
		{"exclude all", http.Header{"A": {"1"}}, map[string]bool{"A": true}},
		{"many fields", many, map[string]bool{"X-Field-07": true}},
		{"binary", http.Header{"X-B": {"\x00\x01\xff\x7f", strings.Repeat("v", 300)}}, nil},
	}
	keys := make([]field, 0, 4)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 5 { // map order varies between runs
				want, got, kept := fieldsPair(tc.h, tc.exclude, keys)
				if got != want {
					t.Fatalf("writeFields wrote\n%q\nnet/http\n%q", got, want)
				}
				if len(kept) != 0 {
					t.Fatalf("scratch returned with %d names", len(kept))
				}
				for _, s := range keys[:cap(keys)] {
					if s.name != "" || s.values != nil {
						t.Fatalf("scratch space given still holds %q", s.name)
					}
				}
				for _, s := range kept[:cap(kept)] {
					if s.name != "" || s.values != nil {
						t.Fatalf("scratch space returned still holds %q", s.name)
					}
				}
				if cap(kept) > maxKeys {
					t.Fatalf("returned scratch of cap %d", cap(kept))
				}
				keys = kept
			}
		})
	}
}

// TestWriteFieldsScratchBounded: a head of many fields does not leave its
// grown scratch space in the pool.
func TestWriteFieldsScratchBounded(t *testing.T) {
	h := http.Header{}
	for i := range maxKeys + 1 {
		h.Set(fmt.Sprintf("X-%d", i), "v")
	}
	bw := bufio.NewWriter(new(bytes.Buffer))
	scratch := make([]field, 0, 4)
	if kept := writeFields(bw, h, nil, scratch); cap(kept) != 4 || &kept[:1][0] != &scratch[:1][0] {
		t.Fatalf("kept scratch of cap %d for %d fields, want the cap-4 scratch given back", cap(kept), len(h))
	}
	for len(h) > 20 {
		for k := range h {
			delete(h, k)
			break
		}
	}
	if kept := writeFields(bw, h, nil, scratch); cap(kept) < 20 || cap(kept) > maxKeys {
		t.Fatalf("kept scratch of cap %d for %d fields, want the grown one", cap(kept), len(h))
	}
}

// FuzzWriteFields holds writeFields to net/http's Header.WriteSubset byte
// for byte. The input is NUL-separated name, value, name, value...; a
// name seen again adds a value; bit i of mask excludes the i-th name.
func FuzzWriteFields(f *testing.F) {
	f.Add("Content-Type\x00text/plain\x00X-A\x00 a \x00x-a\x00b", uint16(0))
	f.Add("A\x00a\r\nB: c\x00B\x00\n\x00C\x00\t", uint16(2))
	f.Add("Bad Name\x00x\x00\x00y\x00Set-Cookie\x00a\x00Set-Cookie\x00b", uint16(0xffff))
	f.Fuzz(func(t *testing.T, data string, mask uint16) {
		h := http.Header{}
		exclude := map[string]bool{}
		parts := strings.Split(data, "\x00")
		for i := 0; i+1 < len(parts); i += 2 {
			k := parts[i]
			h[k] = append(h[k], parts[i+1])
			if mask&(1<<(i/2%16)) != 0 {
				exclude[k] = true
			}
		}
		if len(parts)%2 == 1 && parts[len(parts)-1] != "" {
			h[parts[len(parts)-1]] = nil // a name without values
		}
		want, got, kept := fieldsPair(h, exclude, nil)
		if got != want {
			t.Fatalf("writeFields wrote\n%q\nnet/http\n%q", got, want)
		}
		if len(kept) != 0 {
			t.Fatalf("scratch returned with %d names", len(kept))
		}
	})
}

// BenchmarkWriteFields: the gateway's usual answer head, written by
// net/http's Header.WriteSubset and by writeFields.
func BenchmarkWriteFields(b *testing.B) {
	h := gatewayHead()
	delete(h, "Content-Length") // writeHead deletes it from its own copy
	delete(h, "Date")           // and Date is net/http's extra header
	var exclude map[string]bool // as writeHead's on its own copy of the header
	bw := bufio.NewWriterSize(io.Discard, 4096)
	b.Run("net-http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.WriteSubset(bw, exclude)
		}
	})
	b.Run("writeFields", func(b *testing.B) {
		b.ReportAllocs()
		var keys []field
		for b.Loop() {
			keys = writeFields(bw, h, exclude, keys)
		}
	})
}
