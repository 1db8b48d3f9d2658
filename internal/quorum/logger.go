package quorum

import (
	"context"
	"fmt"
	"log/slog"
)

// raftLogger adapts a *slog.Logger to etcd raft's Logger. raft's Fatal and
// Panic mean a broken invariant inside raft: they panic, as raft expects.
// Messages are formatted only when their level is enabled: raft's debug
// logging is chatty.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) log(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !r.l.Enabled(ctx, level) {
		return
	}
	msg := fmt.Sprint(v...)
	if format != "" {
		msg = fmt.Sprintf(format, v...)
	}
	r.l.Log(ctx, level, "raft: "+msg)
}

func (r raftLogger) Debug(v ...any)                   { r.log(slog.LevelDebug, "", v) }
func (r raftLogger) Debugf(format string, v ...any)   { r.log(slog.LevelDebug, format, v) }
func (r raftLogger) Info(v ...any)                    { r.log(slog.LevelInfo, "", v) }
func (r raftLogger) Infof(format string, v ...any)    { r.log(slog.LevelInfo, format, v) }
func (r raftLogger) Warning(v ...any)                 { r.log(slog.LevelWarn, "", v) }
func (r raftLogger) Warningf(format string, v ...any) { r.log(slog.LevelWarn, format, v) }
func (r raftLogger) Error(v ...any)                   { r.log(slog.LevelError, "", v) }
func (r raftLogger) Errorf(format string, v ...any)   { r.log(slog.LevelError, format, v) }
func (r raftLogger) Fatal(v ...any)                   { r.Panic(v...) }
func (r raftLogger) Fatalf(format string, v ...any)   { r.Panicf(format, v...) }

func (r raftLogger) Panic(v ...any) {
	s := fmt.Sprint(v...)
	r.l.Error("raft: " + s)
	panic("raft: " + s)
}

func (r raftLogger) Panicf(format string, v ...any) {
	s := fmt.Sprintf(format, v...)
	r.l.Error("raft: " + s)
	panic("raft: " + s)
}
