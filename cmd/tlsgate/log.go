package main

import (
	"context"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"strings"
)

// newLogger returns a JSON logger, or a text logger when format is "text"
// or "auto" on a terminal.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "auto", "":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("log format %q: use json, text or auto", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// routeStdLog sends lines written with the standard log package (by
// libraries) to log as warnings, in the gateway's format. certmagic prints
// one on every challenge to say the challenge port is taken: by us, on
// purpose, so that line goes to debug.
func routeStdLog(log *slog.Logger) {
	stdlog.SetFlags(0)
	stdlog.SetOutput(stdLogWriter{log})
}

type stdLogWriter struct{ log *slog.Logger }

func (w stdLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(msg, "assuming conflicting listener is correctly configured") {
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, msg, "component", "library")
	return len(p), nil
}
