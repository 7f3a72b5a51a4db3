package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/server"
)

const configUsage = `Usage: tlsgate config validate FILE

Checks a config file as 'tlsgate serve' would at start-up, without binding
any port: keys and values, certificate files (readable, key matches, not
expired, covering the site's hosts, key not readable by other users).
Every problem is listed with file:line:column. Exit status 0 when valid,
1 when not, 2 on usage errors.

Example:
  tlsgate config validate /etc/tlsgate/tlsgate.yaml
`

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, configUsage)
		if len(args) == 0 {
			return usagef("config needs a subcommand: validate")
		}
		return flag.ErrHelp
	}
	if args[0] != "validate" {
		return usagef("unknown config subcommand %q: use validate", args[0])
	}
	fs := flag.NewFlagSet("config validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, configUsage) }
	if err := fs.Parse(args[1:]); err != nil {
		return parseErr(err)
	}
	if fs.NArg() != 1 {
		return usagef("config validate needs exactly one FILE")
	}
	path := fs.Arg(0)
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := server.Check(cfg, log); err != nil {
		return err
	}
	routes := 0
	for _, s := range cfg.Sites {
		routes += len(s.Routes)
	}
	fmt.Fprintf(stdout, "%s: valid (%d sites, %d routes)\n", path, len(cfg.Sites), routes)
	return nil
}
