package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tlsgate/tlsgate/internal/atomicfile"
	"github.com/tlsgate/tlsgate/internal/ca"
	"github.com/tlsgate/tlsgate/internal/datadir"
)

const caUsage = `Usage: tlsgate ca COMMAND [flags]

The internal certificate authority: a root (keep it offline once the
intermediate exists) and an intermediate that signs. It is the same CA as
the local development CA of 'tlsgate demo', in DATA_DIR/ca unless --dir is
given.

Commands:
  init                        create the root and intermediate
  issue server NAME...        a server certificate for DNS names and IPs
  issue client NAME           a client certificate (service identity)
  revoke SERIAL               revoke an issued certificate
  crl                         sign a new revocation list (crl.pem)
  list                        issued certificates with expiry and status

Examples:
  tlsgate ca init --key-type ecdsa-p256
  tlsgate ca issue server api.internal 10.0.0.5 --out ./certs
  tlsgate ca issue client payments --uri spiffe://example.org/payments --p12
  tlsgate ca revoke 3f2a9c... --reason keyCompromise && tlsgate ca crl
  tlsgate ca list --format json
`

func runCA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if help, err := commandHelp(args, caUsage, stdout, stderr, "ca needs a command: init, issue, revoke, crl or list"); help {
		return err
	}
	switch args[0] {
	case "init":
		return caInit(args[1:], stdout, stderr)
	case "issue":
		return caIssue(args[1:], stdout, stderr)
	case "revoke":
		return caRevoke(args[1:], stdout, stderr)
	case "crl":
		return caCRL(args[1:], stdout, stderr)
	case "list":
		return caList(args[1:], stdout, stderr)
	}
	return usagef("unknown ca command %q: use init, issue, revoke, crl or list", args[0])
}

// caFlags are the flags every ca command has.
type caFlags struct {
	fs      *flagSet
	dir     *string
	dataDir *string
}

func newCAFlags(name, usage string, stdout, stderr io.Writer) *caFlags {
	fs := newFlagSet("ca "+name, usage, stdout, stderr)
	return &caFlags{
		fs:      fs,
		dir:     fs.String("dir", "", "CA `DIR` (default DATA_DIR/ca)"),
		dataDir: fs.String("data-dir", "", "data `DIR` (default $TLSGATE_DATA_DIR, $XDG_DATA_HOME/tlsgate or ~/.local/share/tlsgate)"),
	}
}

// parse parses flags given before, between or after positional arguments
// ("issue client payments --uri ..."), and returns the positional ones.
func (f *caFlags) parse(args []string) ([]string, error) { return f.fs.parse(args) }

func (f *caFlags) caDir() string {
	if *f.dir != "" {
		return *f.dir
	}
	return datadir.CA(datadir.Resolve(*f.dataDir))
}

func (f *caFlags) open() (*ca.Authority, error) {
	a, err := ca.Open(f.caDir())
	if errors.Is(err, ca.ErrNotInitialized) {
		return nil, hintError{err, "run 'tlsgate ca init' first (or pass --dir)"}
	}
	return a, err
}

const caInitUsage = `Usage: tlsgate ca init [--dir DIR] [--name NAME] [--key-type TYPE] [--crl-url URL]

Creates a root and an intermediate CA (private keys mode 0600, directory
0700). Refuses to touch a directory that already holds a CA. With
--crl-url, every certificate it issues names URL as its CRL distribution
point (see 'tlsgate ca crl').

Flags:
`

func caInit(args []string, stdout, stderr io.Writer) error {
	f := newCAFlags("init", caInitUsage, stdout, stderr)
	name := f.fs.String("name", "tlsgate", "`NAME` in the CA certificates' subjects")
	keyType := f.fs.String("key-type", string(ca.ECDSAP256), "key `TYPE`: ecdsa-p256, rsa-2048, rsa-3072 or ed25519")
	crlURL := f.fs.String("crl-url", "", "CRL distribution point `URL` (http://...) for the certificates it issues")
	if pos, err := f.parse(args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("ca init takes flags only, got %q", pos)
	}
	kt, err := ca.ParseKeyType(*keyType)
	if err != nil {
		return usagef("--key-type: %v", err)
	}
	if *crlURL != "" {
		if err := ca.CheckCRLURL(*crlURL); err != nil {
			return usagef("--crl-url: %v", err)
		}
	}
	a, err := ca.InitWith(f.caDir(), *name, kt)
	if err != nil {
		return err
	}
	if err := a.SetCRLURL(*crlURL); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created CA in %s (%s)\n  root (give this to clients that must trust it): %s\n", a.Dir(), kt, a.RootPath())
	return nil
}

const caIssueUsage = `Usage: tlsgate ca issue server [flags] NAME...
       tlsgate ca issue client [flags] NAME

Issues a certificate signed by the intermediate and writes, in --out:
  NAME.pem        the certificate
  NAME.key        its private key (mode 0600)
  NAME.chain.pem  certificate + intermediate, for servers and curl --cert
  NAME.p12        with --p12: a PKCS#12 bundle for browsers, Java and curl,
                  its password in NAME.p12.pass (mode 0600)

A server NAME is a DNS name in lower case (api.internal, *.api.internal,
internationalised names as xn--...) or an IP address (10.0.0.5, ::1); each
goes into the certificate. A client NAME is the subject common name:
letters, digits, '.', '-', '_' and '@', beginning with a letter or digit
(payments, alice@example.com); it is also a SAN when it is a DNS name.
Files are named after the first NAME ('*' and ':' written as '_') and are
written only inside --out, which is created (mode 0700) when missing.
Existing files, symlinks included, are not overwritten unless --force is
given; --force replaces them and never writes through a symlink.

Client certificates last 30 days by default: a service identity is
renewed by automation, and a leaked key stops working within a month even
if nobody revokes it. Server certificates last 90 days, as from a public CA.

Flags:
`

func caIssue(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		// The flags are the same for both kinds (--days defaults to 90
		// for server certificates, as the usage says).
		args = []string{"server", "--help"}
	}
	if len(args) == 0 || (args[0] != "server" && args[0] != "client") {
		fmt.Fprint(stderr, caIssueUsage)
		return usagef("ca issue needs a kind: server or client")
	}
	kind := args[0]
	f := newCAFlags("issue "+kind, caIssueUsage, stdout, stderr)
	defDays := 90
	if kind == "client" {
		defDays = 30
	}
	days := f.fs.Int("days", defDays, "validity in `DAYS`")
	out := f.fs.String("out", ".", "output `DIR`")
	p12 := f.fs.Bool("p12", false, "also write a PKCS#12 bundle (NAME.p12) and its password (NAME.p12.pass)")
	force := f.fs.Bool("force", false, "overwrite existing output files")
	keyType := f.fs.String("key-type", string(ca.ECDSAP256), "key `TYPE`: ecdsa-p256, rsa-2048, rsa-3072 or ed25519")
	var uris, dns stringList
	f.fs.Var(&uris, "uri", "URI SAN, e.g. a SPIFFE ID spiffe://example.org/payments (repeatable)")
	f.fs.Var(&dns, "dns", "extra DNS SAN for a client certificate (repeatable)")
	names, err := f.parse(args[1:])
	if err != nil {
		return err
	}
	switch {
	case len(names) == 0:
		return usagef("ca issue %s needs a NAME", kind)
	case kind == "client" && len(names) != 1:
		return usagef("ca issue client takes one NAME (use --dns and --uri for more SANs), got %q", names)
	case *days < 1:
		return usagef("--days must be at least 1")
	}
	if *out == "" {
		return usagef("--out needs a directory (the default is the current one, .)")
	}
	kt, err := ca.ParseKeyType(*keyType)
	if err != nil {
		return usagef("--key-type: %v", err)
	}
	leaf := ca.Leaf{Names: append(names, dns...), Validity: time.Duration(*days) * 24 * time.Hour, Client: kind == "client", KeyType: kt}
	if err := checkIssueNames(kind, names, dns, uris, &leaf); err != nil {
		return err
	}
	fileBase, err := ca.FileName(names[0])
	if err != nil {
		return err // checkIssueNames let through a name no file can be named for: a bug
	}
	a, err := f.open()
	if err != nil {
		return err
	}
	dir, err := ca.CreateOutDir(*out)
	if err != nil {
		return hintError{fmt.Errorf("--out: %w", err), "--out names the directory the files go to; it is created when missing"}
	}
	defer dir.Close()
	if !*force {
		if err := dir.CheckFree(ca.OutputNames(fileBase, *p12)); err != nil {
			return existsHint(err)
		}
	}
	cert, rec, err := a.IssueRecorded(leaf)
	if err != nil {
		return err
	}
	files, err := ca.Output(fileBase, cert, *p12)
	if err != nil {
		return err
	}
	if err := dir.Write(files, *force); err != nil {
		return existsHint(err)
	}
	fmt.Fprintf(stdout, "issued %s certificate %s, serial %s, valid until %s\n", kind, rec.Subject, rec.Serial, rec.NotAfter.UTC().Format(time.RFC3339))
	for _, file := range files {
		fmt.Fprintf(stdout, "  %s\n", dir.Path(file.Name))
	}
	if kind == "client" {
		// The chain works with any server that trusts the root; the leaf
		// alone (NAME.pem) only where the server holds the intermediate,
		// as the gateway does with client_auth.internal_ca.
		fmt.Fprintf(stdout, "Use it with:\n  curl --cert %s --key %s https://HOST/PATH\n",
			shellArg(dir.Path(fileBase+".chain.pem")), shellArg(dir.Path(fileBase+".key")))
	}
	return nil
}

// shellArg quotes s for a POSIX shell when it needs it, so that a
// printed command line can be pasted as it is.
func shellArg(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// existsHint says how to get past an output file that is already there.
func existsHint(err error) error {
	var ee *ca.ExistsError
	if errors.As(err, &ee) {
		return hintError{err, "choose another --out, or pass --force to overwrite"}
	}
	return err
}

// checkIssueNames checks every name 'ca issue' was given by the rules of
// its kind (see ca.CheckHost, ca.CheckClientName, ca.CheckURI), before
// anything is issued or written, and adds the parsed URIs to leaf. Bad
// names are usage errors: all of them are reported, with a hint.
func checkIssueNames(kind string, names, dns, uris []string, leaf *ca.Leaf) error {
	var errs []error
	hint := "a server NAME is a DNS name (api.internal, *.api.internal) or an IP address (10.0.0.5, ::1); the files are named after the first"
	if kind == "client" {
		errs = append(errs, ca.CheckClientName(names[0]))
		hint = "a client NAME is letters, digits, '.', '-', '_' and '@' (payments, billing.prod), also the base of the file names; give SANs with --dns and --uri"
	} else {
		for _, n := range names {
			errs = append(errs, ca.CheckHost(n, true))
		}
	}
	for _, d := range dns {
		if err := ca.CheckHost(d, false); err != nil {
			errs = append(errs, fmt.Errorf("--dns %w", err))
		}
	}
	for _, u := range uris {
		pu, err := ca.ParseURI(u)
		if err != nil {
			errs = append(errs, fmt.Errorf("--uri %w", err))
			continue
		}
		leaf.URIs = append(leaf.URIs, pu)
	}
	if err := errors.Join(errs...); err != nil {
		return exitError{hintError{err, hint}, 2}
	}
	return nil
}

const caRevokeUsage = `Usage: tlsgate ca revoke [flags] SERIAL

Marks an issued certificate revoked. Relying parties see it in the next
CRL: run 'tlsgate ca crl' afterwards. The CRL entry carries the reason
code of --reason, one of the RFC 5280 reasons:
  unspecified (the default; the entry then has no reason code),
  keyCompromise, cACompromise, affiliationChanged, superseded,
  cessationOfOperation, privilegeWithdrawn
certificateHold is not offered: a revocation here cannot be undone.

Flags:
`

func caRevoke(args []string, stdout, stderr io.Writer) error {
	f := newCAFlags("revoke", caRevokeUsage, stdout, stderr)
	reason := f.fs.String("reason", "unspecified", "RFC 5280 `REASON`, e.g. keyCompromise, superseded, cessationOfOperation")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("ca revoke needs one SERIAL (see 'tlsgate ca list')")
	}
	if _, _, err := ca.ParseReason(*reason); err != nil {
		return usagef("--reason: %v", err)
	}
	a, err := f.open()
	if err != nil {
		return err
	}
	rec, err := a.Revoke(pos[0], *reason)
	if errors.Is(err, ca.ErrUnknownSerial) {
		return hintError{err, "'tlsgate ca list' shows the serials this CA issued"}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s (%s, %s); run 'tlsgate ca crl' to publish it\n", rec.Serial, rec.Subject, rec.Reason)
	return nil
}

const caCRLUsage = `Usage: tlsgate ca crl [flags]

Signs a new certificate revocation list with the intermediate and writes
it to DIR/crl.pem (and --out FILE if given). Check it with:
  openssl crl -in crl.pem -CAfile <(cat intermediate.pem root.pem) -verify

--crl-url URL records where the CRL is published (an http:// URL):
certificates issued afterwards name it as their CRL distribution point;
--crl-url off stops that. The gateway publishes it itself with ca.crl_url
and ca.serve_crl in its config, which also set this URL.

Examples:
  tlsgate ca crl --crl-url http://gw.example.com/tlsgate.crl
  tlsgate ca crl --days 30 --out /var/www/pki/tlsgate.crl

Flags:
`

func caCRL(args []string, stdout, stderr io.Writer) error {
	f := newCAFlags("crl", caCRLUsage, stdout, stderr)
	days := f.fs.Int("days", 7, "CRL validity (nextUpdate) in `DAYS`")
	out := f.fs.String("out", "", "also write the CRL to `FILE`")
	crlURL := f.fs.String("crl-url", "", "CRL distribution point `URL` for certificates issued from now on, or off")
	if pos, err := f.parse(args); err != nil {
		return err
	} else if len(pos) != 0 || *days < 1 {
		return usagef("ca crl takes flags only, with --days of at least 1")
	}
	if *crlURL != "" && *crlURL != "off" {
		if err := ca.CheckCRLURL(*crlURL); err != nil {
			return usagef("--crl-url: %v (or off)", err)
		}
	}
	a, err := f.open()
	if err != nil {
		return err
	}
	switch *crlURL {
	case "":
	case "off":
		if err := a.SetCRLURL(""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "certificates issued from now on name no CRL distribution point\n")
	default:
		if err := a.SetCRLURL(*crlURL); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "certificates issued from now on name %s as their CRL distribution point\n", *crlURL)
	}
	crl, err := a.CRL(time.Duration(*days) * 24 * time.Hour)
	if err != nil {
		return err
	}
	path := filepath.Join(a.Dir(), ca.CRLFile)
	if *out != "" {
		if err := atomicfile.Write(*out, crl, 0o644); err != nil {
			return err
		}
		path = *out
	}
	fmt.Fprintf(stdout, "wrote %s (valid %d days)\n", path, *days)
	return nil
}

const caListUsage = `Usage: tlsgate ca list [--format text|json]

Lists the certificates this CA issued, soonest expiry first, with status
(valid, expired, revoked) and days left.

Flags:
`

func caList(args []string, stdout, stderr io.Writer) error {
	f := newCAFlags("list", caListUsage, stdout, stderr)
	format := f.fs.format("text", "json")
	if pos, err := f.parse(args); err != nil {
		return err
	} else if len(pos) != 0 {
		return usagef("ca list takes flags only, got %q", pos)
	}
	a, err := f.open()
	if err != nil {
		return err
	}
	recs, err := a.List()
	if err != nil {
		return err
	}
	now := time.Now()
	if format.value == "json" {
		type row struct {
			ca.Record
			Status   string `json:"status"`
			DaysLeft int    `json:"days_left"`
		}
		rows := make([]row, 0, len(recs))
		for _, r := range recs {
			rows = append(rows, row{r, r.Status(now), r.DaysLeft(now)})
		}
		return writeJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tKIND\tSUBJECT\tSANS\tNOT AFTER\tDAYS LEFT\tSTATUS")
	for _, r := range recs {
		sans := strings.Join(append(append(append([]string(nil), r.DNS...), r.IPs...), r.URIs...), ",")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Serial, r.Kind, r.Subject, sans,
			r.NotAfter.UTC().Format("2006-01-02"), r.DaysLeft(now), r.Status(now))
	}
	return tw.Flush()
}
