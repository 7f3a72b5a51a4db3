package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/internal/cluster"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/datadir"
	"github.com/tlsgate/tlsgate/internal/dns01"
	"github.com/tlsgate/tlsgate/internal/ech"
	"github.com/tlsgate/tlsgate/internal/metrics"
	"github.com/tlsgate/tlsgate/internal/plan"
	"github.com/tlsgate/tlsgate/internal/tlspolicy"
)

// echService keeps the listener's Encrypted Client Hello keys: loaded (or
// made) at start and on reload, rotated by a timer (one gateway) or
// through etcd (a fleet), and published in DNS when ech.publish is set.
type echService struct {
	keys ech.Keys // the live ring; read by every handshake
	path string   // the ring's file (without a cluster)
	c    *cluster.Cluster
	cfg  func() *config.Config
	log  *slog.Logger
	m    *metrics.Metrics // may be nil

	mu          sync.Mutex    // serialises changes to the ring's file; guards published and publishedOK
	revMu       sync.Mutex    // guards rev
	rev         int64         // etcd revision of the live ring (a fleet's); 0 without
	published   []byte        // the config list last published in DNS; empty: records without ech=
	publishedOK bool          // published is what DNS holds
	wake        chan struct{} // the ring changed: publish
	kick        chan struct{} // the ring changed: recompute the rotation timer
	prune       chan struct{} // the ring changed: recompute the grace timer
}

func newECHService(dataDir string, c *cluster.Cluster, cfg func() *config.Config, log *slog.Logger, m *metrics.Metrics) *echService {
	return &echService{path: filepath.Join(dataDir, ech.FileName), c: c, cfg: cfg, log: log, m: m, wake: make(chan struct{}, 1), kick: make(chan struct{}, 1), prune: make(chan struct{}, 1)}
}

// settings are the live config's key settings; an empty public name when
// ECH is off.
func (e *echService) settings() ech.Settings {
	cfg := e.cfg()
	if !cfg.ECHEnabled() {
		return ech.Settings{Rotate: cfg.ECH.Rotate, Grace: cfg.ECH.Grace}
	}
	return cfg.ECHSettings()
}

// load reads (or makes) the ring for the live config and applies it; with
// ECH off it empties the live ring.
func (e *echService) load(ctx context.Context) error {
	s := e.settings()
	if s.PublicName == "" {
		e.apply(ech.Ring{}) // the publisher withdraws the ech= value
		return nil
	}
	var r ech.Ring
	var err error
	if e.c != nil {
		var rev int64
		if r, rev, err = e.c.LoadECH(ctx, s); err == nil {
			e.applyAt(r, rev)
			return nil
		}
	} else {
		e.mu.Lock()
		r, err = ech.LoadOrUpdate(e.path, s, time.Now())
		e.mu.Unlock()
	}
	if err != nil {
		return err
	}
	e.apply(r)
	return nil
}

// apply makes r live and has the publisher look at it.
func (e *echService) apply(r ech.Ring) {
	prev, _ := e.keys.Ring().Current()
	e.keys.Set(r)
	if e.m != nil {
		cur, _ := r.Current()
		e.m.ECHKeys(len(r.Keys), cur.Created)
	}
	if cur, ok := r.Current(); ok && !bytes.Equal(cur.Config, prev.Config) {
		e.log.Info("ECH key in use", "config_id", cur.ID, "public_name", cur.PublicName, "keys", len(r.Keys))
	}
	for _, c := range []chan struct{}{e.wake, e.kick, e.prune} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// applyShared applies a ring read from etcd (the fleet's): only while
// this gateway's own config has ECH on. The fleet's ring is there as long
// as any gateway uses ECH; a gateway whose config turns it off (at start
// or by reload) must not decrypt with it, nor send its retry configs.
func (e *echService) applyShared(r ech.Ring, rev int64) {
	if e.settings().PublicName == "" {
		e.keys.Set(ech.Ring{})
		return
	}
	e.applyAt(r, rev)
}

// applyAt applies a fleet's ring of etcd revision rev unless a newer one
// is live: the watch can deliver a ring after this gateway applied a
// later one itself (its rotation, or its start's read), and going back
// would drop the fleet's current key here. A ring of a lower revision
// whose current key is younger than the live one's is newer all the
// same: etcd was wiped or restored, and its revisions start again.
func (e *echService) applyAt(r ech.Ring, rev int64) {
	e.revMu.Lock()
	defer e.revMu.Unlock()
	live, haveLive := e.keys.Ring().Current()
	in, _ := r.Current()
	if rev < e.rev && haveLive && !in.Created.After(live.Created) {
		return
	}
	e.rev = rev
	e.apply(r)
}

// rotate makes a new current key now.
func (e *echService) rotate(ctx context.Context) (ech.Ring, error) {
	s := e.settings()
	if s.PublicName == "" {
		return ech.Ring{}, errors.New("ECH is off: no public name")
	}
	if e.c != nil {
		r, rev, err := e.c.RotateECH(ctx, s)
		if err == nil {
			e.applyAt(r, rev)
		}
		return r, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := ech.Load(e.path)
	if err != nil {
		return ech.Ring{}, err
	}
	if r, err = r.Rotated(s, time.Now()); err != nil {
		return ech.Ring{}, err
	}
	if r, _, err = r.Update(s, time.Now()); err != nil {
		return ech.Ring{}, err
	}
	if err := ech.Save(e.path, r); err != nil {
		return ech.Ring{}, err
	}
	e.apply(r)
	return r, nil
}

// echMaxWait bounds the rotation timer, so that a reload's settings apply
// within it.
const echMaxWait = time.Minute

// run rotates and publishes until ctx ends.
func (e *echService) run(ctx context.Context) {
	go e.publishLoop(ctx)
	go e.pruneLoop(ctx)
	if e.c != nil {
		e.c.ShareECH(ctx, e.settings, e.applyShared)
		return
	}
	for {
		wait := echMaxWait
		if s := e.settings(); s.PublicName != "" {
			if next := e.keys.Ring().NextChange(s); !next.IsZero() {
				wait = max(min(time.Until(next), echMaxWait), time.Second)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
			continue
		case <-time.After(wait):
		}
		if err := e.load(ctx); err != nil {
			e.log.Warn("rotating the ECH keys failed; the current ones stay in use", "err", err)
		}
	}
}

// pruneLoop drops previous keys from the live ring when their grace
// period ends. The ring's owner does so too (the file's, or the fleet's
// elected node in etcd), but only when it can write: with the data dir
// unwritable or etcd unreachable, a previous key would otherwise go on
// decrypting for as long as that lasts.
func (e *echService) pruneLoop(ctx context.Context) {
	for {
		wait := echMaxWait
		if end := e.keys.Ring().GraceEnds(e.settings().Grace); !end.IsZero() {
			wait = max(min(time.Until(end), echMaxWait), 10*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.prune:
			continue
		case <-time.After(wait):
		}
		e.keys.Prune(e.settings().Grace, time.Now())
	}
}

// echPublishRetry is how long a failed DNS update waits to be retried.
const echPublishRetry = 30 * time.Second

// publishLoop keeps the HTTPS records current: after every change of the
// current key, and again after a failure. In a fleet every gateway does
// so; the records are the same, and a DNS UPDATE that replaces a record
// set with what it holds changes nothing.
func (e *echService) publishLoop(ctx context.Context) {
	for {
		var retry <-chan time.Time
		if err := e.publish(ctx); err != nil {
			e.log.Error("publishing the ECH config in DNS failed; clients keep the previous one until it works", "err", err, "retry_in", echPublishRetry.String())
			retry = time.After(echPublishRetry)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-retry:
		}
	}
}

// publish updates the HTTPS records of ech.publish if the current config
// changed since the last success.
func (e *echService) publish(ctx context.Context) error {
	cfg := e.cfg()
	p := cfg.ECH.Publish
	if p == nil {
		return nil
	}
	// With ECH off the records stay, without their ech= value: a client
	// holding a config the gateway no longer decrypts would get no retry
	// configs, and fail or fall back only after a failed handshake.
	list := []byte{}
	if cfg.ECHEnabled() {
		if list = e.keys.Ring().PublishedList(); list == nil {
			return nil
		}
	}
	e.mu.Lock()
	same := e.publishedOK && bytes.Equal(list, e.published)
	e.mu.Unlock()
	if same {
		return nil
	}
	d := cfg.ACME.DNS
	secret, err := os.ReadFile(d.KeyFile)
	if err != nil {
		return cfg.Errorf("acme.dns.key_file", "reading the TSIG secret to publish the ECH config: %v", err)
	}
	prov := &dns01.RFC2136{Server: d.Server, KeyName: d.KeyName, KeyAlgorithm: d.KeyAlgorithm, Secret: strings.TrimSpace(string(secret))}
	for _, name := range p.Names {
		rec := httpsRecord(cfg, name, list)
		if err := prov.ReplaceHTTPS(ctx, p.Zone, rec); err != nil {
			if e.m != nil {
				e.m.ECHPublish(false)
			}
			return fmt.Errorf("ech.publish: %w", err)
		}
	}
	if e.m != nil {
		e.m.ECHPublish(true)
	}
	e.mu.Lock()
	e.published, e.publishedOK = list, true
	e.mu.Unlock()
	if len(list) == 0 {
		e.log.Info("ECH is off: withdrew the ECH config from the HTTPS records in DNS", "names", strings.Join(p.Names, ","), "zone", p.Zone)
		return nil
	}
	e.log.Info("published the ECH config in DNS", "names", strings.Join(p.Names, ","), "zone", p.Zone)
	return nil
}

// httpsRecord is the HTTPS record of name that carries list.
func httpsRecord(cfg *config.Config, name string, list []byte) dns01.HTTPSRecord {
	alpn := tlspolicy.ALPN()
	if cfg.Listen.HTTP3Enabled() {
		// HTTP/3 listens on the HTTPS port: a client that reads the
		// record may go straight to QUIC (RFC 9460 section 7.1.2).
		alpn = append([]string{tlspolicy.ALPNHTTP3}, alpn...)
	}
	rec := dns01.HTTPSRecord{Name: name, TTL: config.DefaultECHPublishTTL, ALPN: alpn, ECH: list}
	if p := cfg.ECH.Publish; p != nil {
		rec.TTL, rec.Port = p.TTL, p.Port
	}
	return rec
}

// RotateECH makes a new current ECH key now, for the whole fleet with
// etcd storage; the previous keys keep decrypting for ech.grace.
func (s *Server) RotateECH(ctx context.Context) error {
	_, err := s.ech.rotate(ctx)
	return err
}

// ECHConfigList is the ECHConfigList clients should use now (the HTTPS
// record's ech value), nil when ECH is off.
func (s *Server) ECHConfigList() []byte { return s.ech.keys.Ring().PublishedList() }

// RotateECHKeys makes a new current ECH key for cfg now, without
// serving: 'tlsgate ech rotate'.
func RotateECHKeys(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	e, closeFn, err := offlineECH(cfg, log)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = e.rotate(ctx)
	return err
}

// offlineECH is the ECH keys of cfg for a command that does not serve.
func offlineECH(cfg *config.Config, log *slog.Logger) (*echService, func(), error) {
	if !cfg.ECHEnabled() {
		return nil, nil, errors.New("ECH is off: set ech.public_name to a host of one of the sites (a DNS name such as ech.example.com), or remove ech.enabled: false")
	}
	var c *cluster.Cluster
	closeFn := func() {}
	if cfg.Storage.Etcd != nil {
		var err error
		if _, c, err = plan.StorageOf(cfg).Open(cfg, "ech", log); err != nil {
			return nil, nil, err
		}
		closeFn = func() { c.Close() }
	}
	return newECHService(datadir.Resolve(cfg.DataDir), c, func() *config.Config { return cfg }, log, nil), closeFn, nil
}

// ECHShow is what 'tlsgate ech show' prints.
type ECHShow struct {
	// PublicName is the outer server name.
	PublicName string `json:"public_name"`
	// ConfigID is the current key's config_id.
	ConfigID uint8 `json:"config_id"`
	// Created is when the current key was made.
	Created time.Time `json:"created"`
	// ConfigList is the ECHConfigList, base64: the ech= value.
	ConfigList string `json:"config_list"`
	// Records are the HTTPS records to publish, zone-file syntax.
	Records []string `json:"records"`
	// Keys is how many keys decrypt (the current one and those in their
	// grace period).
	Keys int `json:"keys"`
}

// ShowECH reads (or, if there are none yet, makes) the ECH keys of cfg
// as a gateway would, without serving, and says what to publish.
// names are the HTTPS record names; nil means ech.publish.names, else
// every site host that is a DNS name.
func ShowECH(ctx context.Context, cfg *config.Config, names []string, log *slog.Logger) (*ECHShow, error) {
	e, closeFn, err := offlineECH(cfg, log)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.load(ctx); err != nil {
		return nil, err
	}
	r := e.keys.Ring()
	cur, _ := r.Current()
	list := r.PublishedList()
	out := &ECHShow{PublicName: cur.PublicName, ConfigID: cur.ID, Created: cur.Created, ConfigList: ech.Base64(list), Keys: len(r.Keys)}
	if names == nil && cfg.ECH.Publish != nil {
		names = cfg.ECH.Publish.Names
	}
	if names == nil {
		for _, s := range cfg.Sites {
			for _, h := range s.Hosts {
				if ech.CheckPublicName(h) == nil {
					names = append(names, config.NormalizeHost(h))
				}
			}
		}
	}
	for _, n := range names {
		out.Records = append(out.Records, httpsRecord(cfg, n, list).String())
	}
	return out, nil
}

// loadECH loads the ECH keys for the live config. Without a cluster a
// failure (the data dir cannot be written) is an error; with one, an
// unreachable etcd is not: the watch applies the fleet's keys when etcd
// answers, and until then the gateway serves without ECH.
func (s *Server) loadECH() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s.ech.mu.Lock()
	s.ech.publishedOK = false // publish again: the names or the record may have changed
	s.ech.mu.Unlock()
	err := s.ech.load(ctx)
	if err != nil && s.cluster != nil {
		s.log.Warn("cannot read the fleet's ECH keys yet; serving without ECH until etcd answers", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("ech: %w", err)
	}
	return nil
}
