// Command tlsgate is a TLS-terminating reverse proxy for APIs, secure by
// default. See `tlsgate help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
)

const usage = `tlsgate: secure HTTPS for APIs, right by default.

Usage:
  tlsgate demo                        run a demo API behind the gateway on 127.0.0.1:8443
  tlsgate proxy --from ADDR --to URL  put HTTPS in front of one upstream
  tlsgate serve --config FILE         run the gateway from a config file
  tlsgate config validate|explain FILE  check a config / print its routes, without serving
  tlsgate ca init|issue|revoke|crl|list  the internal CA for service identities
  tlsgate certs list|renew            site certificates: expiry, ACME status, renew now
  tlsgate probe [--listen ADDR]       TLS probe exporter for Prometheus (blackbox-compatible)
  tlsgate lint FILE|DIR...            check OpenAPI documents for insecure transport (CI)
  tlsgate scan HOST[:PORT]            grade a TLS endpoint like SSL Labs (A+ to F)
  tlsgate cluster status --config F   the fleet sharing etcd: members, ticket-key rotator, certificates
  tlsgate ech show|rotate --config F  Encrypted Client Hello: the DNS HTTPS record to publish
  tlsgate version                     print the version

Run 'tlsgate COMMAND -h' for a command's flags and examples.
Configuration reference: README.md and examples/ in the source tree.
`

// usageError makes main exit 2 and print the command's help hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// hintError carries a suggested fix printed after the error.
type hintError struct {
	err  error
	hint string
}

func (e hintError) Error() string { return e.err.Error() }
func (e hintError) Unwrap() error { return e.err }

func main() {
	ctx := context.Background()
	stopProfile := startProfile(os.Getenv("TLSGATE_CPUPROFILE"))
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	os.Exit(report(err, os.Stderr))
}

// startProfile writes a CPU profile to path until the returned function is
// called (at exit): for finding where a benchmark's time goes.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlsgate: warning: TLSGATE_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "tlsgate: warning: TLSGATE_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// report prints err in tlsgate's one voice and returns the exit code.
func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "tlsgate: error: %s\ntlsgate: hint: run 'tlsgate help' for usage\n", ue.msg)
		return 2
	}
	var many interface{ Unwrap() []error }
	if errors.As(err, &many) && len(many.Unwrap()) > 1 && !strings.Contains(err.Error(), "\n\n") {
		list := flatten(err)
		fmt.Fprintf(stderr, "tlsgate: error: %d problems:\n", len(list))
		for _, e := range list {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
	} else {
		fmt.Fprintf(stderr, "tlsgate: error: %s\n", err)
	}
	var he hintError
	if errors.As(err, &he) {
		fmt.Fprintf(stderr, "tlsgate: hint: %s\n", he.hint)
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// exitError makes tlsgate exit with code instead of 1, printed like any
// other error (no usage hint): 2 for input that could not be read at all,
// as CI tools distinguish "the check failed" from "the check could not
// run".
type exitError struct {
	err  error
	code int
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
func (e exitError) ExitCode() int { return e.code }

// flatten lists the leaves of joined errors, one line each.
func flatten(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if m, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range m.Unwrap() {
				walk(x)
			}
			return
		}
		// Through wrappers that add nothing to the message (hintError,
		// exitError) to the joined errors they carry.
		if inner := errors.Unwrap(e); inner != nil && inner.Error() == e.Error() {
			walk(inner)
			return
		}
		out = append(out, strings.ReplaceAll(e.Error(), "\n", "\n  "))
	}
	walk(err)
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "proxy":
		return runProxy(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "config":
		return runConfig(ctx, rest, stdout, stderr)
	case "ca":
		return runCA(ctx, rest, stdout, stderr)
	case "certs":
		return runCerts(ctx, rest, stdout, stderr)
	case "probe":
		return runProbe(ctx, rest, stdout, stderr)
	case "lint":
		return runLint(ctx, rest, stdout, stderr)
	case "scan":
		return runScan(ctx, rest, stdout, stderr)
	case "cluster":
		return runCluster(ctx, rest, stdout, stderr)
	case "ech":
		return runECH(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usagef("unknown command %q", cmd)
}
