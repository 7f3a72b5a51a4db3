package acme

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger hands certmagic (which logs with zap) a logger that writes
// to the gateway's slog logger under "component=acme". certmagic narrates
// every step at info and repeats a failure at error several times; the
// gateway logs one line per outcome itself (onEvent), so certmagic's own
// lines go to debug, except errors that no event reports.
func newZapLogger(log *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{h: log.Handler(), attrs: []slog.Attr{slog.String("component", "acme")}})
}

type slogCore struct {
	h     slog.Handler
	attrs []slog.Attr
}

// reported are certmagic's error messages that duplicate a line the
// gateway writes from certmagic's events.
var reported = map[string]bool{
	"could not get certificate from issuer": true,
	"will retry":                            true,
	"final attempt; giving up":              true,
	"job failed":                            true,
	"renewing certificate":                  true,
	"obtaining certificate":                 true,
	"validating authorization":              true,
	"challenge failed":                      true,
}

func level(e zapcore.Entry) slog.Level {
	if e.Level >= zapcore.ErrorLevel && !reported[e.Message] {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	if l >= zapcore.ErrorLevel {
		return c.h.Enabled(context.Background(), slog.LevelWarn)
	}
	return c.h.Enabled(context.Background(), slog.LevelDebug)
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h, attrs: append(append([]slog.Attr(nil), c.attrs...), attrs(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.h.Enabled(context.Background(), level(e)) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, level(e), e.Message, 0)
	r.AddAttrs(c.attrs...)
	r.AddAttrs(attrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

func attrs(fields []zapcore.Field) []slog.Attr {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, slog.Any(k, v))
	}
	return out
}
