package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/server"
)

const echUsage = `Usage:
  tlsgate ech show --config FILE [--name NAME]... [--format text|json]
  tlsgate ech rotate --config FILE

show prints the Encrypted Client Hello config clients should use: the
ECHConfigList (base64) and the DNS HTTPS record to publish for each name
(--name, else ech.publish.names, else every site host that is a DNS name).
It reads the keys the gateway uses (DATA_DIR/ech-keys.json, or etcd with
storage.etcd), making them if there are none yet. With ech.publish set the
gateway keeps the records current itself; otherwise publish them after
every rotation (ech.rotate), within ech.grace.

rotate makes a new current key now (the previous ones keep decrypting for
ech.grace): a running gateway applies it within a minute (at once with
etcd). Publish the new record afterwards if the gateway does not.

Exit status: 0 on success, 1 on failure (ECH off, keys unreadable), 2 on
usage errors.

Examples:
  tlsgate ech show --config /etc/tlsgate/tlsgate.yaml
  tlsgate ech show --config tlsgate.yaml --name api.example.com --format json

Flags:
`

func runECH(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if help, err := commandHelp(args, echUsage, stdout, stderr, "ech needs a subcommand: show or rotate"); help {
		return err
	}
	sub := args[0]
	if sub != "show" && sub != "rotate" {
		return usagef("unknown ech subcommand %q: use show or rotate", sub)
	}
	fs := newFlagSet("ech "+sub, echUsage, stdout, stderr)
	path := fs.String("config", "", "config `FILE` (YAML)")
	var names stringList
	format := fs.format("text", "json")
	if sub == "show" {
		fs.Var(&names, "name", "`NAME` of an HTTPS record to print (repeatable)")
	}
	pos, err := fs.parse(args[1:])
	if err != nil {
		return err
	}
	if *path == "" || len(pos) > 0 {
		return usagef("ech %s needs --config FILE and no arguments", sub)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if sub == "rotate" {
		if err := server.RotateECHKeys(ctx, cfg, log); err != nil {
			return echHint(err)
		}
		fmt.Fprintln(stdout, "tlsgate: rotated the ECH keys; 'tlsgate ech show' prints the new record")
		return nil
	}
	show, err := server.ShowECH(ctx, cfg, names, log)
	if err != nil {
		return echHint(err)
	}
	if format.value == "json" {
		return writeJSON(stdout, show)
	}
	fmt.Fprintf(stdout, "public name:  %s\nconfig id:    %d (made %s; %d key(s) decrypt)\nconfig list:  %s\n\nHTTPS records to publish:\n",
		show.PublicName, show.ConfigID, show.Created.Format("2006-01-02 15:04 MST"), show.Keys, show.ConfigList)
	for _, r := range show.Records {
		fmt.Fprintf(stdout, "  %s\n", r)
	}
	return nil
}

func echHint(err error) error {
	if strings.Contains(err.Error(), "ECH is off") {
		return hintError{err, "see README, section Encrypted Client Hello"}
	}
	return err
}
