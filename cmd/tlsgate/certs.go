package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tlsgate/tlsgate/internal/acme"
	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/hostmap"
	"github.com/tlsgate/tlsgate/internal/plan"
	"github.com/tlsgate/tlsgate/internal/storage"
)

const certsUsage = `Usage:
  tlsgate certs list  --config FILE [--format text|json]
  tlsgate certs renew --config FILE [--force] [--lock-timeout DURATION] NAME

list shows every site certificate of a config: name, source, issuer,
expiry and days left, and for ACME certificates the last request and its
result (as recorded by the gateway in the data dir).

renew asks the site's ACME CA for a new certificate for NAME now if it is
due for renewal, or in any case with --force, and waits for the result.
A running gateway using the same data dir answers the CA's challenges on
its ports; reload it (SIGHUP) to serve the new certificate at once,
otherwise it does so by itself when the old one is due. While another
process or node (a gateway issuing or retrying NAME) holds NAME's
issuance lock, renew says so and waits, up to --lock-timeout.

Exit status: 0 on success, 1 on failure (the CA's error is printed), 2 on
usage errors.

Examples:
  tlsgate certs list --config /etc/tlsgate/tlsgate.yaml
  tlsgate certs list --config /etc/tlsgate/tlsgate.yaml --format json | jq '.[] | select(.days_left < 30)'
  tlsgate certs renew --config /etc/tlsgate/tlsgate.yaml --force api.example.com && systemctl reload tlsgate

Flags:
`

func runCerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if help, err := commandHelp(args, certsUsage, stdout, stderr, "certs needs a subcommand: list or renew"); help {
		return err
	}
	sub := args[0]
	if sub != "list" && sub != "renew" {
		return usagef("unknown certs subcommand %q: use list or renew", sub)
	}
	fs := newFlagSet("certs "+sub, certsUsage, stdout, stderr)
	path := fs.String("config", "", "config `FILE` (YAML) of the gateway")
	format := fs.format("text", "json")
	force := fs.Bool("force", false, "renew: even when the certificate is not due")
	lockTimeout := fs.Duration("lock-timeout", 2*time.Minute, "renew: give up after `DURATION` waiting for the issuance lock another process holds")
	pos, err := fs.parse(args[1:])
	if err != nil {
		return err
	}
	if *path == "" {
		return usagef("certs %s needs --config FILE", sub)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	// The store the gateway uses (plan.StorageOf): the fleet's etcd when
	// storage.etcd is set, else the data dir.
	store, cluster, err := plan.StorageOf(cfg).Open(cfg, "tlsgate-certs", slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if cluster != nil {
		defer cluster.Close()
	}
	if sub == "list" {
		if len(pos) > 0 {
			return usagef("certs list takes no arguments, got %q", pos)
		}
		return certsList(ctx, cfg, store, format.value == "json", stdout)
	}
	if len(pos) != 1 {
		return usagef("certs renew needs exactly one NAME (a host of a site with source acme)")
	}
	if *lockTimeout <= 0 {
		return usagef("--lock-timeout must be positive, got %s", *lockTimeout)
	}
	return certsRenew(ctx, cfg, store, pos[0], *force, *lockTimeout, stdout, stderr)
}

// certRow is one line of certs list; its JSON form is documented by the
// field names.
type certRow struct {
	Name        string    `json:"name"`
	Site        string    `json:"site"`
	Source      string    `json:"source"`
	Issuer      string    `json:"issuer,omitempty"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	DaysLeft    *int      `json:"days_left,omitempty"`
	Serial      string    `json:"serial,omitempty"`
	CA          string    `json:"ca,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastResult  string    `json:"last_result,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Problem     string    `json:"problem,omitempty"`
}

func certsList(ctx context.Context, cfg *config.Config, store storage.Storage, asJSON bool, stdout io.Writer) error {
	var rows []certRow
	now := time.Now()
	for i, s := range cfg.Sites {
		site := config.NormalizeHost(s.Hosts[0])
		c := s.TLS.Certificate
		switch c.Source {
		case config.SourceFiles:
			r := certRow{Name: site, Site: site, Source: c.Source}
			if cert, err := certs.LoadFiles(c.Cert, c.Key); err != nil {
				r.Problem = err.Error()
			} else {
				r.fill(cert.Leaf, now)
			}
			rows = append(rows, r)
		case config.SourceInternal:
			rows = append(rows, certRow{Name: site, Site: site, Source: c.Source,
				Issuer: "tlsgate local CA", Problem: "issued by the gateway at start-up, 7 days, renewed automatically; not stored"})
		case config.SourceACME:
			a := cfg.SiteACME(i)
			names := s.Hosts
			if a.OnDemand != nil {
				names = onDemandNames(ctx, cfg, i, store, a.Directory)
			}
			for _, h := range names {
				name := config.NormalizeHost(h)
				r := certRow{Name: name, Site: site, Source: c.Source, CA: a.Directory}
				if chain, err := acme.Stored(ctx, store, a.Directory, name); err == nil {
					r.fill(chain[0], now)
				} else {
					r.Problem = "no certificate yet"
				}
				if st, err := acme.LoadStatus(ctx, store, name); err == nil {
					r.LastAttempt, r.LastResult, r.LastError = st.LastAttempt, st.LastResult, st.LastError
				}
				rows = append(rows, r)
			}
		}
	}
	if asJSON {
		if rows == nil {
			rows = []certRow{}
		}
		return writeJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tISSUER\tNOT AFTER\tDAYS LEFT\tLAST ATTEMPT\tRESULT")
	for _, r := range rows {
		notAfter, days := "-", "-"
		if !r.NotAfter.IsZero() {
			notAfter = r.NotAfter.UTC().Format("2006-01-02 15:04")
			days = strconv.Itoa(*r.DaysLeft)
		}
		attempt, result := "-", "-"
		if !r.LastAttempt.IsZero() {
			attempt = r.LastAttempt.UTC().Format("2006-01-02 15:04")
		}
		switch {
		case r.LastResult != "":
			result = r.LastResult
			if r.LastError != "" {
				result += ": " + oneLine(r.LastError, 100)
			}
		case r.Problem != "":
			result = oneLine(r.Problem, 100)
		}
		issuer := r.Issuer
		if issuer == "" {
			issuer = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Source, issuer, notAfter, days, attempt, result)
	}
	return tw.Flush()
}

func (r *certRow) fill(leaf *x509.Certificate, now time.Time) {
	r.Issuer = leaf.Issuer.CommonName
	if r.Issuer == "" && len(leaf.Issuer.Organization) > 0 {
		r.Issuer = leaf.Issuer.Organization[0]
	}
	r.NotAfter = leaf.NotAfter
	d := int(leaf.NotAfter.Sub(now).Hours() / 24)
	r.DaysLeft = &d
	r.Serial = leaf.SerialNumber.Text(16)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

func certsRenew(ctx context.Context, cfg *config.Config, store storage.Storage, name string, force bool, lockTimeout time.Duration, stdout, stderr io.Writer) error {
	name = config.NormalizeHost(name)
	site := -1
	for i, s := range cfg.Sites {
		for _, h := range s.Hosts {
			if config.NormalizeHost(h) == name {
				site = i
			}
		}
	}
	if site < 0 {
		return hintError{fmt.Errorf("no site in %s has the host %q", cfg.File(), name), "run 'tlsgate certs list --config FILE' for the names"}
	}
	if src := cfg.Sites[site].TLS.Certificate.Source; src != config.SourceACME {
		return fmt.Errorf("%s's certificate source is %s, not acme: only ACME certificates are renewed by tlsgate certs renew", name, src)
	}
	settings, errs := plan.ACMESettings(cfg, site)
	if len(errs) > 0 {
		return errs[0]
	}
	log, err := newLogger(stderr, "text", "info")
	if err != nil {
		return err
	}
	routeStdLog(log)
	lock := &lockWatch{Storage: store, key: "issue_cert_" + name, name: name, timeout: lockTimeout, out: stderr}
	m := acme.NewManager(acme.Options{Storage: lock, Log: log, OneShot: true})
	defer m.Close()
	m.Start(listenPorts(cfg))
	ctx, cancel := context.WithTimeout(ctx, renewTimeout)
	defer cancel()
	issued, err := m.Renew(ctx, settings, name, force)
	if err != nil {
		return renewError(err, cfg, name, settings.Directory, lock)
	}
	chain, err := acme.Stored(ctx, store, settings.Directory, name)
	if err != nil {
		return fmt.Errorf("reading the certificate back from storage: %w", err)
	}
	leaf := chain[0]
	if !issued {
		fmt.Fprintf(stdout, "%s: not due for renewal (valid until %s, %d days left); use --force to renew anyway\n",
			name, leaf.NotAfter.UTC().Format(time.RFC3339), int(time.Until(leaf.NotAfter).Hours()/24))
		return nil
	}
	fmt.Fprintf(stdout, "%s: new certificate from %s, valid until %s (serial %s)\n"+
		"A running gateway serves it after a reload (SIGHUP), or by itself when the old one is due.\n",
		name, leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339), leaf.SerialNumber.Text(16))
	return nil
}

// listenPorts are the challenge ports a config's gateway listens on.
func listenPorts(cfg *config.Config) acme.Ports {
	var p acme.Ports
	if h, port, err := net.SplitHostPort(cfg.Listen.HTTPS); err == nil {
		p.Host = h
		p.TLS, _ = strconv.Atoi(port)
	}
	if cfg.Listen.HTTP != config.ListenOff {
		if _, port, err := net.SplitHostPort(cfg.Listen.HTTP); err == nil {
			p.HTTP, _ = strconv.Atoi(port)
		}
	}
	return p
}

// renewTimeout bounds a whole renewal, lock wait included: an order that
// has not completed in 10 minutes is stuck (Let's Encrypt validates in
// seconds; certmagic retries a failed order for far longer).
const renewTimeout = 10 * time.Minute

// renewError says why a renewal failed and what to look at, by the kind of
// failure: the lock, the CA's address, or the CA's challenges.
func renewError(err error, cfg *config.Config, name, directory string, lock *lockWatch) error {
	if lock.timedOut.Load() {
		return hintError{fmt.Errorf("renewing %s: gave up after %s waiting for its issuance lock: another process or node holds it", name, lock.timeout),
			fmt.Sprintf("a gateway sharing this storage is issuing %s, or retrying a failed order: its log says why (and 'tlsgate certs list --config %s' the last attempt); renew once it is done, or give --lock-timeout more", name, cfg.File())}
	}
	err = fmt.Errorf("renewing %s from %s: %w", name, directory, err)
	caHost := directory
	if u, perr := url.Parse(directory); perr == nil && u.Host != "" {
		caHost = u.Host
	}
	var hint string
	switch acme.Classify(err) {
	case acme.FailureCADNS:
		hint = fmt.Sprintf("the CA's host name %s does not resolve here: check acme.directory in %s, and this host's DNS", hostOnly(caHost), cfg.File())
	case acme.FailureCARefused:
		hint = fmt.Sprintf("nothing accepts connections at the CA's address %s: check acme.directory in %s, and that the CA (or the proxy to it) is up", caHost, cfg.File())
	case acme.FailureCATimeout:
		hint = fmt.Sprintf("the CA at %s did not answer in time: a firewall, or a proxy this host needs ($HTTPS_PROXY)?", caHost)
	case acme.FailureCATrust:
		hint = fmt.Sprintf("the CA's TLS certificate at %s is not trusted: for a private CA list its root in acme.ca_roots", caHost)
	case acme.FailureChallenge:
		hint = "the CA could not validate the name: it must reach this host on port 80 (http-01) or 443 (tls-alpn-01), and DNS must point the name here; a running gateway with the same data dir answers for us"
	case acme.FailureRateLimited:
		hint = "the CA refuses more orders for now (rate limit): wait, and renew without --force only when due"
	default:
		hint = fmt.Sprintf("the CA's error is above; 'tlsgate certs list --config %s' shows the last attempt", cfg.File())
	}
	return hintError{err, hint}
}

func hostOnly(hostPort string) string {
	if h, _, err := net.SplitHostPort(hostPort); err == nil {
		return h
	}
	return hostPort
}

// lockWatch is the storage renew runs on: it watches the wait for one
// issuance lock, says on out that it waits and for what, shows progress,
// and gives up after timeout. Other calls go to the storage unchanged.
type lockWatch struct {
	storage.Storage
	key, name string // the lock watched, and the certificate name it is for
	timeout   time.Duration
	out       io.Writer
	timedOut  atomic.Bool
}

// lockNotice is how long a lock may take before renew says it waits: a
// free lock is taken in milliseconds.
const lockNotice = time.Second

// lockProgress is how often a waiting renew says it still waits.
const lockProgress = 15 * time.Second

func (w *lockWatch) Lock(ctx context.Context, key string) error {
	if key != w.key {
		return w.Storage.Lock(ctx, key)
	}
	start := time.Now()
	done := make(chan struct{})
	waited := make(chan bool, 1)
	go func() {
		said := false
		defer func() { waited <- said }()
		t := time.NewTimer(lockNotice)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if !said {
				fmt.Fprintf(w.out, "tlsgate: waiting for the issuance lock of %s: another process or node holds it (a gateway issuing or retrying this name?); giving up in %s\n",
					w.name, w.timeout.Round(time.Second))
				said = true
			} else {
				fmt.Fprintf(w.out, "tlsgate: still waiting for the issuance lock of %s (%s of %s)\n",
					w.name, time.Since(start).Round(time.Second), w.timeout.Round(time.Second))
			}
			t.Reset(lockProgress)
		}
	}()
	lctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	err := w.Storage.Lock(lctx, key)
	close(done)
	said := <-waited
	switch {
	case err != nil && ctx.Err() == nil && lctx.Err() != nil:
		w.timedOut.Store(true)
		return fmt.Errorf("waiting %s for the issuance lock of %s: %w", w.timeout, w.name, err)
	case err == nil && said:
		fmt.Fprintf(w.out, "tlsgate: got the issuance lock of %s after %s; asking the CA\n", w.name, time.Since(start).Round(time.Second))
	}
	return err
}

// RenewLockLease passes certmagic's lease renewal on to a storage that
// has leases; for one without, renewal is a no-op, as certmagic does.
func (w *lockWatch) RenewLockLease(ctx context.Context, key string, lease time.Duration) error {
	if r, ok := w.Storage.(interface {
		RenewLockLease(context.Context, string, time.Duration) error
	}); ok {
		return r.RenewLockLease(ctx, key, lease)
	}
	return nil
}

// onDemandNames are the names of on-demand site i: its listed names, and
// those held in storage (obtained during handshakes) that its patterns
// take ("*": every name no other site lists).
func onDemandNames(ctx context.Context, cfg *config.Config, i int, store storage.Storage, directory string) []string {
	hosts := hostmap.New[int]()
	catchAll := -1
	var names []string
	for j, s := range cfg.Sites {
		for _, h := range s.Hosts {
			n := config.NormalizeHost(h)
			switch {
			case n == config.CatchAll:
				catchAll = j
			default:
				hosts.Add(n, j)
			}
			if j == i && !strings.Contains(n, "*") {
				names = append(names, n)
			}
		}
	}
	held, _ := acme.Held(ctx, store, directory)
	for _, n := range held {
		j, ok := hosts.Lookup(n)
		if ok && j == i && !slices.Contains(names, n) || !ok && catchAll == i {
			names = append(names, n)
		}
	}
	return names
}
