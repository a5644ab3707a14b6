package slogzmq

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"runtime"
	"strings"
)

// AddToDefault makes h receive every record the default logger handles,
// next to the handler the program already has, whose output stays as it
// was. It is the one line for programs that log through slog's top-level
// functions or slog.Default.
//
// When the program has set a default handler of its own, this is exactly
//
//	slog.SetDefault(slog.New(slog.NewMultiHandler(slog.Default().Handler(), h)))
//
// But when it has not, that line deadlocks on the first record: slog's
// built-in default handler writes through the log package, and SetDefault
// points the log package back at slog. AddToDefault then puts in its
// place a handler that writes the same lines ("2026/11/27 17:00:00 INFO
// msg k=v") to where the log package wrote them, with its prefix and
// flags, without going through the log package's default logger.
func AddToDefault(h slog.Handler) {
	current := slog.Default().Handler()
	if isBuiltinDefault(current) {
		current = newLogPackageHandler()
	}
	slog.SetDefault(slog.New(slog.NewMultiHandler(current, h)))
}

// isBuiltinDefault reports whether h is slog's unexported defaultHandler,
// the one a program has until it calls slog.SetDefault.
func isBuiltinDefault(h slog.Handler) bool {
	return fmt.Sprintf("%T", h) == "*slog.defaultHandler"
}

// logPackageHandler formats records as slog's built-in default handler
// does, "LEVEL msg k=v ...", and writes them through its own log.Logger.
type logPackageHandler struct {
	out      *log.Logger
	source   int // log.Lshortfile, log.Llongfile or 0: added from the record's PC
	minLevel slog.Level
	attrs    *recordFormat // text, as the built-in handler formats attributes
}

func newLogPackageHandler() *logPackageHandler {
	flags := log.Flags()
	h := &logPackageHandler{
		source: flags & (log.Lshortfile | log.Llongfile),
		// The built-in handler's level is the log package's, set with
		// slog.SetLogLoggerLevel (which returns the old one).
		minLevel: slog.SetLogLoggerLevel(slog.LevelInfo),
	}
	slog.SetLogLoggerLevel(h.minLevel)
	h.out = log.New(log.Writer(), log.Prefix(), flags&^(log.Lshortfile|log.Llongfile))
	h.attrs = &recordFormat{text: true}
	return h
}

func (h *logPackageHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.minLevel }

func (h *logPackageHandler) Handle(_ context.Context, r slog.Record) error {
	head := r.Level.String() + " " + r.Message
	if h.source != 0 && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		file := f.File
		if h.source&log.Lshortfile != 0 {
			file = file[strings.LastIndexByte(file, '/')+1:]
		}
		head = fmt.Sprintf("%s:%d: %s", file, f.Line, head)
	}
	buf := recordBuffers.Get().(*[]byte)
	*buf = h.attrs.formatAttrs(append((*buf)[:0], head...), r)
	h.out.Print(string(*buf))
	if cap(*buf) <= maxPooledBuffer {
		recordBuffers.Put(buf)
	}
	return nil
}

func (h *logPackageHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(h.attrs.withAttrs(attrs))
}

func (h *logPackageHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(h.attrs.withGroup(name))
}

func (h *logPackageHandler) with(attrs *recordFormat) slog.Handler {
	if attrs == h.attrs {
		return h
	}
	clone := *h
	clone.attrs = attrs
	return &clone
}
