package slogzmq

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"runtime"
	"strings"
	"time"
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
	enc      *encoders
}

// textPrefix is what the TextHandler writes for the neutral record handle
// passes it; the rest of its line is the attributes, formatted as the
// built-in handler formats them.
const textPrefix = `level=INFO msg=""`

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
	base := func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }
	h.enc = newEncoders(base, h.write, nil)
	return h
}

func (h *logPackageHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.minLevel }

func (h *logPackageHandler) Handle(ctx context.Context, r slog.Record) error {
	head := r.Level.String() + " " + r.Message
	if h.source != 0 && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		file := f.File
		if h.source&log.Lshortfile != 0 {
			file = file[strings.LastIndexByte(file, '/')+1:]
		}
		head = fmt.Sprintf("%s:%d: %s", file, f.Line, head)
	}
	neutral := r
	neutral.Time, neutral.Level, neutral.Message = time.Time{}, slog.LevelInfo, ""
	return h.enc.handle(ctx, neutral, head)
}

func (h *logPackageHandler) write(head string, text []byte) {
	h.out.Print(head + strings.TrimPrefix(string(text), textPrefix))
}

func (h *logPackageHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(op{attrs: attrs})
}

func (h *logPackageHandler) WithGroup(name string) slog.Handler {
	return h.with(op{group: name})
}

func (h *logPackageHandler) with(o op) slog.Handler {
	enc := h.enc.with(o)
	if enc == h.enc {
		return h
	}
	clone := *h
	clone.enc = enc
	return &clone
}
