package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var per [][]time.Duration
	for w := range 4 { // 1..1000 ms spread over 4 workers
		var l []time.Duration
		for i := w + 1; i <= 1000; i += 4 {
			l = append(l, time.Duration(i)*time.Millisecond)
		}
		per = append(per, l)
	}
	got := percentiles(per)
	want := map[string]float64{"p50": 500, "p90": 900, "p99": 990, "p99.9": 999, "max": 1000}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v ms, want %v", k, got[k], v)
		}
	}
	if percentiles([][]time.Duration{nil, {}}) != nil {
		t.Error("no latencies should give no percentiles")
	}
}

// rateRun runs hsload -keepalive -rate against a TLS server whose every
// answer takes delay, on conc connections.
func rateRun(t *testing.T, delay time.Duration, conc int, rate float64, dur time.Duration) result {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Write([]byte("ok"))
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(options{rawURL: srv.URL + "/", conc: conc, dur: dur, maxReq: 1e7, keepAlive: true, rate: rate,
		caFile: ca, curve: "default", timeout: 10 * time.Second, proto: "h1", out: &out})
	if err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	return res
}

// TestRateOpenLoop: requests arrive at the offered rate whatever the
// server does, and a request waiting behind a slow answer is timed from
// its arrival, not from when it could be sent.
func TestRateOpenLoop(t *testing.T) {
	fast := rateRun(t, 0, 4, 400, 2*time.Second)
	if fast.Errors != 0 || fast.OfferedRate != 400 || fast.Latency == nil {
		t.Fatalf("fast server: %+v", fast)
	}
	// Poisson: 800 arrivals expected, standard deviation about 28
	if fast.Requests < 650 || fast.Requests > 950 {
		t.Errorf("fast server answered %d requests in 2 s at 400/s, want about 800", fast.Requests)
	}
	// One connection, 25 ms an answer (at most 40/s), 100/s offered: the
	// backlog grows for the whole second, so late arrivals wait hundreds
	// of milliseconds. A closed-loop count would say about 25 ms.
	slow := rateRun(t, 25*time.Millisecond, 1, 100, time.Second)
	if slow.Latency["p99"] < 300 {
		t.Errorf("slow server: p99 %.1f ms, want the backlog counted (over 300 ms); %+v", slow.Latency["p99"], slow)
	}
	if slow.Latency["p50"] < 25 {
		t.Errorf("slow server: p50 %.1f ms under the 25 ms each answer takes", slow.Latency["p50"])
	}
}
