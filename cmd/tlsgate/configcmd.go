package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/plan"
)

const configUsage = `Usage:
  tlsgate config validate FILE
  tlsgate config explain FILE

Checks a config file as 'tlsgate serve' would at start-up, without binding
any port: keys and values, certificate files (readable, key matches, not
expired, covering the site's hosts, key not readable by other users).
Every problem is listed with file:line:column. Exit status 0 when valid,
1 when not, 2 on usage errors.

explain prints every site's routing table in the order requests are
matched: the operations of its OpenAPI document (routes_from), one line
per method and path template, then its configured routes (prefixes, any
method, "*"), each with its client-auth mode and where it is written
(file:line).

Examples:
  tlsgate config validate /etc/tlsgate/tlsgate.yaml
  tlsgate config explain /etc/tlsgate/tlsgate.yaml
`

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if help, err := commandHelp(args, configUsage, stdout, stderr, "config needs a subcommand: validate or explain"); help {
		return err
	}
	if args[0] != "validate" && args[0] != "explain" {
		return usagef("unknown config subcommand %q: use validate or explain", args[0])
	}
	sub := args[0]
	fs := newFlagSet("config "+sub, configUsage, stdout, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return parseErr(err)
	}
	if fs.NArg() != 1 {
		return usagef("config %s needs exactly one FILE", sub)
	}
	path := fs.Arg(0)
	if sub == "validate" {
		return validateConfig(path, stdout, stderr)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	routes, err := plan.Explain(cfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tMETHOD\tPATH\tCLIENT AUTH\tFROM")
	for _, r := range routes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Site, r.Method, r.Path, r.ClientAuth, r.From)
	}
	return tw.Flush()
}

// validateConfig is config validate: every problem of the file, of every
// stage, in one run.
func validateConfig(path string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := plan.CheckFile(path, log)
	if err != nil {
		return err
	}
	routes := 0
	for _, s := range cfg.Sites {
		routes += len(s.Routes)
	}
	fmt.Fprintf(stdout, "%s: valid (%d sites, %d routes)\n", path, len(cfg.Sites), routes)
	switch {
	case cfg.ECHEnabled():
		fmt.Fprintf(stdout, "  Encrypted Client Hello: on, public name %s ('tlsgate ech show --config %s' prints the DNS HTTPS record)\n", cfg.ECHPublicName(), path)
		if cfg.ECHHidesNothing() {
			fmt.Fprintf(stdout, "    note: %s is the only name served, so observers learn it anyway; to hide which site a client wants, serve several names and set ech.public_name to a name of its own (such as ech.example.com) listed in a site's hosts\n", cfg.ECHPublicName())
		}
	case cfg.ECH.Enabled != nil && !*cfg.ECH.Enabled:
		fmt.Fprintln(stdout, "  Encrypted Client Hello: off (ech.enabled: false)")
	default:
		fmt.Fprintln(stdout, "  Encrypted Client Hello: off: no site host can be its public name; set ech.public_name to a host of a site that is a DNS name of two labels or more")
	}
	return nil
}
