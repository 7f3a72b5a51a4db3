package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/internal/pkitest"
)

// TestFlagVocabulary: demo and proxy, configured by flags, name flags in
// their errors and hints, never the keys of the config built from them
// nor positions in it.
func TestFlagVocabulary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "vocabulary CA")
	certFile, keyFile := pkitest.WriteFiles(t, dir, "other", ca.Issue(t, pkitest.Leaf{Names: []string{"other.example"}}))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	// A UDP port taken, whose TCP port the test holds too until the case
	// that needs it free runs: a port free when picked may be taken by
	// then (any outgoing connection on the machine may use it).
	var busyUDP net.PacketConn
	var holdTCP net.Listener
	for range 100 {
		if holdTCP, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if busyUDP, err = net.ListenPacket("udp", holdTCP.Addr().String()); err == nil {
			break
		}
		holdTCP.Close()
	}
	if busyUDP == nil {
		t.Fatalf("no port free for both TCP and UDP: %v", err)
	}
	defer busyUDP.Close()
	defer holdTCP.Close()
	takenUDP := busyUDP.LocalAddr().String()
	dataDir := filepath.Join(dir, "data")

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"proxy", "--from", "api.localhost:0", "--to", "http://127.0.0.1:1", "--cert", certFile, "--key", keyFile},
			[]string{"tlsgate: error: --cert: ", "does not cover api.localhost", "or change the --from host"}},
		{[]string{"proxy", "--from", "127.0.0.1:0", "--to", "http://127.0.0.1:1", "--cert", filepath.Join(dir, "none.pem"), "--key", keyFile},
			[]string{"tlsgate: error: --cert: reading certificate"}},
		{[]string{"proxy", "--from", "127.0.0.1:0", "--to", "http://127.0.0.1:1", "--profile", "bogus"},
			[]string{"tlsgate: error: --profile: \"bogus\" is not a profile"}},
		{[]string{"proxy", "--from", taken, "--to", "http://127.0.0.1:1", "--data-dir", dataDir},
			[]string{"address already in use", "tlsgate: hint: another process may hold the port: pick another port with --from"}},
		{[]string{"proxy", "--from", takenUDP, "--to", "http://127.0.0.1:1", "--data-dir", dataDir},
			[]string{"listening for HTTP/3 on UDP " + takenUDP, "address already in use", "turn HTTP/3 off: --http3=false"}},
		{[]string{"demo", "--https", taken, "--http", "off", "--admin", "off", "--data-dir", dataDir},
			[]string{"address already in use", "tlsgate: hint: another process may hold the port: pick other addresses with --https, --http and --admin"}},
	} {
		t.Run(strings.Join(tc.args[:3], " "), func(t *testing.T) {
			if tc.args[2] == takenUDP {
				holdTCP.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			if code := report(run(ctx, tc.args, &stdout, &stderr), &stderr); code == 0 {
				t.Fatalf("%v: exit 0", tc.args)
			}
			got := stderr.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%v: no %q in:\n%s", tc.args, w, got)
				}
			}
			for _, no := range []string{"sites[", "listen:", "listen.", "the site's", "the proxy's flags", "the demo's config", "data_dir"} {
				if strings.Contains(got, no) {
					t.Errorf("%v: config vocabulary %q in:\n%s", tc.args, no, got)
				}
			}
		})
	}
}

// TestVocabularyKeepsShape: renaming keeps the problems of a joined
// error apart, hints, usage errors, and the cause for errors.Is.
func TestVocabularyKeepsShape(t *testing.T) {
	t.Parallel()
	cause := &fs.PathError{Op: "open", Path: "/x.pem", Err: fs.ErrNotExist}
	err := hintError{errors.Join(
		fmt.Errorf("the proxy's flags:13:19: sites[0].tls.certificate.cert: reading certificate: %w", cause),
		errors.New("sites[0].tls.profile: bad"),
	), "fix listen.https"}
	got := proxyVocabulary.rename(err)
	if !errors.Is(got, fs.ErrNotExist) {
		t.Errorf("the cause is lost: %v", got)
	}
	var stderr bytes.Buffer
	if code := report(got, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "tlsgate: error: 2 problems:\n  --cert: reading certificate: open /x.pem: file does not exist\n  --profile: bad\ntlsgate: hint: fix --from\n"
	if stderr.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", stderr.String(), want)
	}
	stderr.Reset()
	if code := report(proxyVocabulary.rename(usagef("listen.http: bad")), &stderr); code != 2 || !strings.Contains(stderr.String(), "error: --redirect-from: bad") {
		t.Errorf("usage error: exit %d\n%s", code, stderr.String())
	}
	if e := errors.New("x"); (*vocabulary)(nil).rename(e) != e {
		t.Error("config mode changed an error")
	}
}
