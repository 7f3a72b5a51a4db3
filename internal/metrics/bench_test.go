package metrics

import (
	"testing"
	"time"
)

// BenchmarkRequest is what counting one request costs (the request
// counter and the latency histogram).
func BenchmarkRequest(b *testing.B) {
	m, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Request("api.example.com", "/v1/", "GET", 200, 3*time.Millisecond)
	}
}
