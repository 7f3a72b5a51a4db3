package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/tlsgate/tlsgate"
	"github.com/tlsgate/tlsgate/internal/atomicfile"
	"github.com/tlsgate/tlsgate/internal/config"
	"go.yaml.in/yaml/v3"
)

const serveUsage = `Usage: tlsgate serve --config FILE [--pid-file FILE]

Runs the gateway described by a YAML config file: HTTPS on listen.https, a
redirect to HTTPS on listen.http, one site per set of hostnames.

Signals:
  SIGHUP           reload config and certificates; a bad new config is refused
                   and the running one keeps serving
  SIGTERM, SIGINT  stop accepting, let in-flight requests finish
                   (timeouts.shutdown, default 30s), exit

Certificate files are also reloaded when they change on disk. With
--pid-file, the process ID is written to FILE once the listeners are
bound, and the file removed at exit: signal this gateway, and no other
process named tlsgate, with kill -HUP "$(cat FILE)". Under systemd,
deploy/systemd/tlsgate.service reloads with systemctl reload tlsgate.

Examples:
  tlsgate serve --config /etc/tlsgate/tlsgate.yaml
  tlsgate serve --config /etc/tlsgate/tlsgate.yaml --pid-file /run/tlsgate.pid
  kill -HUP "$(cat /run/tlsgate.pid)"
  tlsgate config validate /etc/tlsgate/tlsgate.yaml && systemctl reload tlsgate

Flags:
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage, stdout, stderr)
	path := fs.String("config", "", "config `FILE` (YAML)")
	pidFile := fs.String("pid-file", "", "write the process ID to `FILE` once listening, remove it at exit")
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if *path == "" {
		return usagef("serve needs --config FILE (see examples/ for configs to start from)")
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	cfg, err := tlsgate.LoadConfig(*path)
	if err != nil {
		return err
	}
	format, level := cfg.Log()
	log, err := newLogger(stderr, format, level)
	if err != nil {
		return err
	}
	var ready func(*tlsgate.Server) error
	if *pidFile != "" {
		pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
		ready = func(*tlsgate.Server) error {
			if err := atomicfile.Write(*pidFile, pid, 0o644); err != nil {
				return fmt.Errorf("--pid-file: %w", err)
			}
			return nil
		}
		defer func() {
			// Only our own: a gateway started since with the same
			// --pid-file owns the file now.
			if data, err := os.ReadFile(*pidFile); err == nil && bytes.Equal(data, pid) {
				os.Remove(*pidFile)
			}
		}()
	}
	return runGateway(ctx, &tlsgate.Server{Config: cfg, Logger: log}, nil, ready)
}

// runGateway binds srv and serves until SIGTERM or SIGINT, reloading on
// SIGHUP: the process around the library's Server. Errors are in the
// words of vocab (nil: the config's keys). ready, if set, is called once
// the listeners are bound.
func runGateway(ctx context.Context, srv *tlsgate.Server, vocab *vocabulary, ready func(*tlsgate.Server) error) error {
	tuneGC()
	routeStdLog(srv.Logger)
	srv.Version = versionString()
	if err := srv.Listen(); err != nil {
		if !isBindError(err) {
			return vocab.rename(err)
		}
		hint := "another process may hold the port: pick other addresses under listen:, or stop it"
		if vocab != nil {
			hint = "another process may hold the port: " + vocab.listen
		}
		return hintError{vocab.rename(err), hint}
	}
	if ready != nil {
		if err := ready(srv); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	onHangup(ctx, func() {
		srv.Logger.Info("reload requested (SIGHUP)")
		if err := srv.Reload(); err != nil {
			srv.Logger.Error("reload refused", "err", err)
		}
	})
	return vocab.rename(srv.Serve(ctx))
}

// onHangup calls f on every SIGHUP until ctx ends. SIGHUP would otherwise
// end the process: serve reloads on it, probe ignores it (a "kill -HUP"
// meant for a gateway must not stop a probe).
func onHangup(ctx context.Context, f func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				f()
			}
		}
	}()
}

// isBindError reports a listener that could not be bound (address taken,
// port below 1024 without the right, address not on this machine).
func isBindError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "listen"
}

// runBuilt runs a config built in code from flags (demo, proxy): logs as
// its log: section says, through the library like a config file; errors
// name the flags of vocab.
func runBuilt(ctx context.Context, vocab *vocabulary, cfg *config.Config, stderr io.Writer, ready func(*tlsgate.Server) error) error {
	log, err := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return vocab.rename(err)
	}
	gw, err := inMemoryConfig(vocab.source, cfg)
	if err != nil {
		return vocab.rename(err)
	}
	return runGateway(ctx, &tlsgate.Server{Config: gw, Logger: log}, vocab, ready)
}

// inMemoryConfig turns a config built in code (by demo and proxy from
// their flags) into the library's Config, through its YAML form: the one
// way a gateway's config reaches the library, whatever wrote it.
func inMemoryConfig(name string, cfg *config.Config) (*tlsgate.Config, error) {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return tlsgate.ParseConfig(name, data)
}

func parseErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}

// gatewayGCPercent is the garbage collector target while serving, unless
// $GOGC says otherwise. A gateway's live heap is small (a few MB), so
// letting it grow to 3x instead of 2x before a collection costs little
// memory; measured on TLS handshakes it cut CPU per connection by 8-13%
// (docs/benchmarks.md).
const gatewayGCPercent = 200

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gatewayGCPercent)
	}
}
