package devserver

import (
	"context"
	"log/slog"
	"os"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// logAdapter routes the Temporal server's tagged logs into slog, dropping
// everything below level so `herald dev` is not flooded with server chatter.
type logAdapter struct {
	l     *slog.Logger
	level *slog.LevelVar
}

func newLogAdapter(l *slog.Logger, level *slog.LevelVar) log.Logger {
	return &logAdapter{l: l.With("component", "temporal"), level: level}
}

func (a *logAdapter) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < a.level.Level() || !a.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	a.l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (a *logAdapter) Debug(msg string, tags ...tag.Tag)  { a.log(slog.LevelDebug, msg, tags) }
func (a *logAdapter) Info(msg string, tags ...tag.Tag)   { a.log(slog.LevelInfo, msg, tags) }
func (a *logAdapter) Warn(msg string, tags ...tag.Tag)   { a.log(slog.LevelWarn, msg, tags) }
func (a *logAdapter) Error(msg string, tags ...tag.Tag)  { a.log(slog.LevelError, msg, tags) }
func (a *logAdapter) DPanic(msg string, tags ...tag.Tag) { a.log(slog.LevelError, msg, tags) }
func (a *logAdapter) Panic(msg string, tags ...tag.Tag) {
	a.log(slog.LevelError, msg, tags)
	panic(msg)
}
func (a *logAdapter) Fatal(msg string, tags ...tag.Tag) {
	a.log(slog.LevelError, msg, tags)
	os.Exit(1)
}

func (a *logAdapter) With(tags ...tag.Tag) log.Logger {
	args := make([]any, 0, 2*len(tags))
	for _, t := range tags {
		args = append(args, t.Key(), t.Value())
	}
	return &logAdapter{l: a.l.With(args...), level: a.level}
}
