package server

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReloadRestartOnly: a reload applies what it can (here the upstream
// response timeout, and timeouts.shutdown) and, for settings that change
// only on restart, says which, keeps their running values, and leaves the
// rest of the file applied. The warning names exactly the keys that
// changed and cannot apply.
func TestReloadRestartOnly(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "localhost", "127.0.0.1")
	b := backend(t, "a")
	g := startGateway(t, oneSite(p, "intermediate", b, ""))
	c := p.client(g.https, true)
	get := func() int {
		resp, err := c.Get("https://localhost/?sleep=1200ms")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("before reload: %d (upstream_response is 2s, the backend answers in 1.2s)", code)
	}
	changed := strings.Replace(oneSite(p, "intermediate", b, ""), "timeouts: {upstream_response: 2s, read_header: 2s}",
		"timeouts: {upstream_response: 500ms, read_header: 7s, shutdown: 3s}", 1)
	changed = strings.Replace(changed, "log: {format: text}", "log: {format: json}", 1)
	if err := os.WriteFile(g.configPath, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(g.logs.String())
	if err := g.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	logs := g.logs.String()[before:]
	for _, key := range []string{"timeouts.read_header", "log.format"} {
		if !strings.Contains(logs, "this setting changes only on restart; the running value stays\" key="+key) {
			t.Errorf("no restart-only warning for %s:\n%s", key, logs)
		}
	}
	for _, key := range []string{"timeouts.upstream_response", "timeouts.shutdown", "listen", "timeouts.idle"} {
		if strings.Contains(logs, "key="+key+" ") {
			t.Errorf("a restart-only warning for %s, which did not change or was applied:\n%s", key, logs)
		}
	}
	if !strings.Contains(logs, "running=2s file=7s") {
		t.Errorf("the warning does not give both values:\n%s", logs)
	}
	live := g.srv.cfg.Load()
	if live.Timeouts.ReadHeader != 2*time.Second || live.Timeouts.UpstreamResponse != 500*time.Millisecond ||
		live.Timeouts.Shutdown != 3*time.Second || live.Log.Format != "text" {
		t.Errorf("live config after reload: %+v %+v", live.Timeouts, live.Log)
	}
	if code := get(); code != 504 {
		t.Errorf("after reload: %d, want 504 (upstream_response is now 500ms)", code)
	}
}
