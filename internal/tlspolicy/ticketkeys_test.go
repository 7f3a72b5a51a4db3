package tlspolicy_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

var versions = []uint16{tls.VersionTLS12, tls.VersionTLS13}

// resumer is a client with its own session cache.
type resumer struct {
	t   *testing.T
	cfg *tls.Config
}

func (p *testPKI) resumer(t *testing.T, version uint16) *resumer {
	cfg := p.client()
	cfg.MinVersion, cfg.MaxVersion = version, version
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	return &resumer{t, cfg}
}

// connect makes a connection to srv and reports whether it resumed.
func (r *resumer) connect(srv *tls.Config) bool {
	r.t.Helper()
	st, err := handshake(r.t, srv, r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	return st.DidResume
}

func TestTicketKeysPerLabel(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	for _, v := range versions {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			t.Parallel()
			a, b, b2 := pki.server(t, tlspolicy.Intermediate), pki.server(t, tlspolicy.Intermediate), pki.server(t, tlspolicy.Intermediate)
			tk := tlspolicy.NewTicketKeys()
			tk.Track(map[*tls.Config]string{a: "a.example", b: "b.example", b2: "b.example"})

			r := pki.resumer(t, v)
			if r.connect(a) {
				t.Fatal("first connection resumed")
			}
			if !r.connect(a) {
				t.Fatal("session from site A does not resume on A")
			}

			r = pki.resumer(t, v)
			r.connect(a)
			if r.connect(b) {
				t.Error("session from site A resumed on site B")
			}
			// B's own tickets resume on any config with B's label, which
			// shows that the label alone kept A's ticket out.
			r = pki.resumer(t, v)
			r.connect(b)
			if !r.connect(b2) {
				t.Error("session from one config of site B does not resume on another")
			}
		})
	}
}

func newKey() [32]byte {
	var k [32]byte
	rand.Read(k[:])
	return k
}

func TestTicketKeysSet(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	for _, v := range versions {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			t.Parallel()
			srv := pki.server(t, tlspolicy.Intermediate)
			tk := tlspolicy.NewTicketKeys()
			tk.Track(map[*tls.Config]string{srv: "example.com"})
			old := tk.Keys()
			if len(old) != 1 {
				t.Fatalf("NewTicketKeys holds %d keys, want 1", len(old))
			}

			// Two clients with tickets under the old key.
			before1, before2 := pki.resumer(t, v), pki.resumer(t, v)
			before1.connect(srv)
			before2.connect(srv)

			// A new key goes first; the old one still decrypts.
			k1 := newKey()
			tk.Set([][32]byte{k1, old[0]})
			if got := tk.Keys(); !slices.Equal(got, [][32]byte{k1, old[0]}) {
				t.Fatal("Keys does not return the keys Set, in order")
			}
			if !before1.connect(srv) {
				t.Error("a ticket under the second key does not resume")
			}
			after := pki.resumer(t, v)
			after.connect(srv) // its ticket is under k1, the first key

			// The old key dropped: its tickets no longer resume, the new
			// key's still do.
			tk.Set([][32]byte{k1})
			if before2.connect(srv) {
				t.Error("a ticket under a dropped key resumed")
			}
			if !after.connect(srv) {
				t.Error("a ticket under the first key does not resume after the old key was dropped")
			}

			// Set with nothing is ignored.
			tk.Set(nil)
			if got := tk.Keys(); !slices.Equal(got, [][32]byte{k1}) {
				t.Error("Set(nil) changed the keys")
			}
		})
	}
}

func TestTicketKeysTrackReplaces(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	oldCfg, newCfg := pki.server(t, tlspolicy.Intermediate), pki.server(t, tlspolicy.Intermediate)
	tk := tlspolicy.NewTicketKeys()
	tk.Track(map[*tls.Config]string{oldCfg: "example.com"})
	r := pki.resumer(t, tls.VersionTLS13)
	r.connect(oldCfg)

	// A reload: the new config gets the same keys, so sessions survive it.
	tk.Track(map[*tls.Config]string{newCfg: "example.com"})
	if !r.connect(newCfg) {
		t.Error("a session did not survive a config reload")
	}
	// Rotating now leaves the untracked config alone.
	r2 := pki.resumer(t, tls.VersionTLS13)
	r2.connect(oldCfg)
	tk.Set([][32]byte{newKey()})
	if !r2.connect(oldCfg) {
		t.Error("Set changed the keys of a config no longer tracked")
	}
}

func TestTicketKeysCopies(t *testing.T) {
	t.Parallel()
	tk := tlspolicy.NewTicketKeys()
	in := [][32]byte{newKey(), newKey()}
	tk.Set(in)
	in[0] = [32]byte{}
	got := tk.Keys()
	got[1] = [32]byte{}
	if k := tk.Keys(); k[0] == ([32]byte{}) || k[1] == ([32]byte{}) {
		t.Error("TicketKeys shares its key slice with callers")
	}
	if a, b := tlspolicy.NewTicketKeys().Keys(), tlspolicy.NewTicketKeys().Keys(); a[0] == b[0] {
		t.Error("two rings start with the same key")
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	for _, keep := range []int{1, 3} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const interval = 24 * time.Hour
				tk := tlspolicy.NewTicketKeys()
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() {
					tk.Rotate(ctx, interval, keep)
					close(done)
				}()
				prev := tk.Keys()
				// Look half-way between ticks.
				time.Sleep(interval / 2)
				synctest.Wait()
				if !slices.Equal(tk.Keys(), prev) {
					t.Fatal("keys rotated before the first interval")
				}
				for n := 1; n <= 5; n++ {
					time.Sleep(interval)
					synctest.Wait()
					keys := tk.Keys()
					if want := min(n+1, keep); len(keys) != want {
						t.Fatalf("after %d intervals: %d keys, want %d", n, len(keys), want)
					}
					if slices.Contains(prev, keys[0]) {
						t.Fatalf("after %d intervals: the first key is not new", n)
					}
					// Newest first: the rest are the previous keys, in order.
					if !slices.Equal(keys[1:], prev[:len(keys)-1]) {
						t.Fatalf("after %d intervals: older keys not kept in order", n)
					}
					prev = keys
				}
				cancel()
				<-done
				time.Sleep(3 * interval)
				if !slices.Equal(tk.Keys(), prev) {
					t.Error("keys rotated after ctx ended")
				}
			})
		})
	}
}

// TestTicketLifetime (issue 15, item 8): a ticket resumes within
// TicketLifetime and not after, in TLS 1.3 and 1.2, though crypto/tls
// advertises 7 days.
func TestTicketLifetime(t *testing.T) {
	p := newPKI(t)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		srv, err := tlspolicy.Server(tlspolicy.Options{Profile: tlspolicy.Intermediate, GetCertificate: p.getCert,
			TicketLifetime: 800 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r := p.resumer(t, v)
		r.connect(srv)
		if !r.connect(srv) {
			t.Errorf("%x: a fresh ticket did not resume", v)
		}
		time.Sleep(time.Second)
		if r.connect(srv) {
			t.Errorf("%x: a ticket past TicketLifetime resumed", v)
		}
	}
}
