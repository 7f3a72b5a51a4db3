package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/tlsgate/tlsgate/internal/cluster"
	"github.com/tlsgate/tlsgate/internal/config"
	"github.com/tlsgate/tlsgate/internal/plan"
)

const clusterUsage = `Usage: tlsgate cluster status --config FILE [--format text|json]

Shows the fleet sharing the config's storage.etcd: the etcd members (which
is the leader, which are unreachable), which gateway rotates the shared
session-ticket keys and when they last rotated, and the certificates in
the shared storage with their expiry.

Exit status: 0 when every member answers, 1 when some do not or the
cluster cannot be read (the report still shows what could be read), 2 on
usage errors.

Example:
  tlsgate cluster status --config /etc/tlsgate/tlsgate.yaml

Flags:
`

func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if help, err := commandHelp(args, clusterUsage, stdout, stderr, "cluster needs a subcommand: status"); help {
		return err
	}
	if args[0] != "status" {
		return usagef("unknown cluster subcommand %q: use status", args[0])
	}
	fs := newFlagSet("cluster status", clusterUsage, stdout, stderr)
	path := fs.String("config", "", "config `FILE` (YAML) with storage.etcd")
	format := fs.format("text", "json")
	pos, err := fs.parse(args[1:])
	if err != nil {
		return err
	}
	if *path == "" || len(pos) > 0 {
		return usagef("cluster status needs --config FILE and no arguments")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if cfg.Storage.Etcd == nil {
		return hintError{fmt.Errorf("%s has no storage.etcd: this gateway keeps its state in its data dir, alone", *path),
			"see README, section Cluster, to share certificates and ticket keys through etcd"}
	}
	_, c, err := plan.StorageOf(cfg).Open(cfg, "status", slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st := c.Status(ctx)

	if format.value == "json" {
		if err := writeJSON(stdout, st); err != nil {
			return err
		}
	} else {
		printClusterStatus(stdout, st)
	}
	var down int
	for _, m := range st.Members {
		if m.Error != "" {
			down++
		}
	}
	switch {
	case len(st.Errors) > 0 && down == len(st.Members):
		// Each member and why, which a refused connection or a name
		// that does not resolve says at once.
		msg := "etcd cannot be reached: every member is down or unreachable:"
		for _, m := range st.Members {
			msg += fmt.Sprintf("\n  %s: %s", m.Endpoint, m.Error)
		}
		return hintError{errors.New(msg), fmt.Sprintf("start etcd, or check storage.etcd.endpoints in %s", *path)}
	case down > 0:
		return fmt.Errorf("%d of %d etcd members do not answer", down, len(st.Members))
	case len(st.Errors) > 0:
		return fmt.Errorf("parts of the cluster state could not be read: %s", st.Errors[0])
	}
	return nil
}

func printClusterStatus(w io.Writer, st cluster.Status) {
	fmt.Fprintln(w, "etcd members:")
	for _, m := range st.Members {
		fmt.Fprintf(w, "  %s\n", m)
	}
	if len(st.Errors) > 0 && !slices.ContainsFunc(st.Members, func(m cluster.Member) bool { return m.Error == "" }) {
		// Nothing else was read: zeros would read as an empty fleet.
		for _, e := range st.Errors {
			fmt.Fprintf(w, "\nnot read: %s\n", e)
		}
		return
	}
	rot := st.Rotator
	if rot == "" {
		rot = "none (no gateway is running, or etcd has no quorum)"
	}
	fmt.Fprintf(w, "\nsession-ticket keys: %d kept, rotated by %s", st.TicketKeys, rot)
	if !st.Rotated.IsZero() {
		fmt.Fprintf(w, ", last rotation %s ago", time.Since(st.Rotated).Round(time.Second))
	}
	fmt.Fprintf(w, "\n\ncertificates in shared storage: %d\n", len(st.Certificates))
	if len(st.Certificates) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tNOT AFTER\tDAYS LEFT\tSERIAL\tCA")
		for _, c := range st.Certificates {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", c.Name, c.NotAfter.UTC().Format("2006-01-02 15:04"),
				int(time.Until(c.NotAfter).Hours()/24), c.Serial, c.Issuer)
		}
		tw.Flush()
	}
	for _, e := range st.Errors {
		fmt.Fprintf(w, "\nnot read: %s\n", e)
	}
}
