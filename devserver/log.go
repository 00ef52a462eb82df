package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// logAdapter routes the Temporal server's tagged logs into slog, dropping
// everything below level so `herald dev` is not flooded with server chatter.
//
// Every line says component=temporal, or temporal/<the server's component>
// (temporal/matching-engine) when the server names one: one component key,
// not two. The server repeats tags (a logger's With and the call both give
// the shard, say); a key is written once, with its last value.
type logAdapter struct {
	l     *slog.Logger
	level *slog.LevelVar
	tags  []tag.Tag // from With, before the call's own
}

func newLogAdapter(l *slog.Logger, level *slog.LevelVar) log.Logger {
	return &logAdapter{l: l, level: level}
}

func (a *logAdapter) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < a.level.Level() || !a.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 1, 1+len(a.tags)+len(tags))
	attrs[0] = slog.String("component", "temporal")
	at := map[string]int{"component": 0}
	for _, t := range slices.Concat(a.tags, tags) {
		k, v := t.Key(), slog.AnyValue(t.Value())
		if k == "component" {
			v = slog.StringValue(fmt.Sprintf("temporal/%v", t.Value()))
		}
		if i, ok := at[k]; ok {
			attrs[i].Value = v
			continue
		}
		at[k] = len(attrs)
		attrs = append(attrs, slog.Attr{Key: k, Value: v})
	}
	a.l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (a *logAdapter) Debug(msg string, tags ...tag.Tag)  { a.log(slog.LevelDebug, msg, tags) }
func (a *logAdapter) Info(msg string, tags ...tag.Tag)   { a.log(slog.LevelInfo, msg, tags) }
func (a *logAdapter) Warn(msg string, tags ...tag.Tag)   { a.log(slog.LevelWarn, msg, tags) }
func (a *logAdapter) Error(msg string, tags ...tag.Tag)  { a.log(errorLevel(tags), msg, tags) }
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
	return &logAdapter{l: a.l, level: a.level, tags: slices.Concat(a.tags, tags)}
}

// errorLevel is the level of the server's error log: a warning when the
// error is a request its caller gave up on (context canceled, as when a
// worker's poll or a client's call ends first), which the server handled
// as it should and the caller retries; an error otherwise. The server's
// tags hold an error as its text.
func errorLevel(tags []tag.Tag) slog.Level {
	for _, t := range tags {
		if t.Key() == "error" && strings.HasSuffix(fmt.Sprint(t.Value()), context.Canceled.Error()) {
			return slog.LevelWarn
		}
	}
	return slog.LevelError
}
