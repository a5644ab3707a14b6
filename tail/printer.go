// Package tail turns a stream of log entries into lines a person reads:
// zmqtail's printer and filters, usable on their own.
//
// A JSON entry from zap or slog prints as one line:
//
//	17:04:05.123 ERROR [checkout] payments: card declined amount=12.5 code=51 caller=pay/pay.go:88
//	    github.com/acme/pay.Charge
//	        /src/pay/pay.go:88
//
// time (the entry's own, not when it arrived), level (colored by
// severity), app (from the topic), logger name, message, then the other
// fields as key=value sorted by key, the caller dimmed, and multi-line
// values (stacktraces, verbose errors) indented on the lines below. A body
// that is not JSON prints as it is, after the level taken from its topic.
//
// Everything in that line that came from a producer is shown through
// [TerminalSafe]: a control character in a message, key, value, app or
// level prints escaped ("\x1b[2J", "\r", "\u202e"), so an entry cannot
// forge lines, clear the screen or write to the clipboard. A string value
// holding one is quoted as [strconv.Quote] does, like a value with a
// space. With [Options.JSON] entries pass through byte for byte.
//
// Entries come from a [Source] (a collector's PUB port: what is published
// from now on) or a [History] (a collector's --http address: its recent
// past, then live, with no entry twice or missing where the two meet).
package tail

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fatih/color"

	"github.com/zmqlog/zmqlog/topic"
)

// Options configures a Printer.
type Options struct {
	// Color turns on ANSI colors.
	Color bool
	// TimeLayout formats the entry's time (default "15:04:05.000").
	TimeLayout string
	// UTC shows times in UTC instead of local time.
	UTC bool
	// Fields, if set, are the only other fields shown, in this order.
	Fields []string
	// JSON passes entries through unchanged, one per line, for jq.
	JSON bool
}

// Printer writes entries to w. It is not safe for concurrent use.
//
// It reuses its line buffer and decoded fields from entry to entry, so a
// typical zap or slog entry costs it one allocation (two with slog's
// source object); it keeps them, sized for the largest entry printed so
// far, until it is dropped.
type Printer struct {
	w    io.Writer
	opts Options
	buf  []byte // the line being built, reused

	entry  entry    // the entry being printed, reused
	source entry    // slog's source object, reused
	below  []*field // multi-line values of the entry, reused

	levels            map[topic.Severity]paint
	app, logger, key  paint
	dim, unknownLevel paint
}

// paint is a color's escape sequences, taken once from fatih/color so
// that coloring a part of the line costs two string writes, not an
// allocation per call.
type paint struct{ pre, post string }

func newPaint(enabled bool, attrs ...color.Attribute) paint {
	if !enabled {
		return paint{}
	}
	c := color.New(attrs...)
	c.EnableColor()
	pre, post, _ := strings.Cut(c.Sprint("\x00"), "\x00")
	return paint{pre, post}
}

// text writes peer-controlled text, escaped by TerminalSafe's rules. Every
// string from an entry or its topic reaches the line through text or
// quoted, never raw.
func (p *Printer) text(s string) { p.buf = appendTerminalSafe(p.buf, s) }

// quoted writes a key or string value, in Go quotes when it is empty or
// holds a space, a quote, an '=' or a character text would escape, so
// that key=value pairs stay apart and read back unambiguously (as slog's
// TextHandler does). strconv.Quote escapes every non-printable rune, a
// superset of what text escapes, so its output is terminal-safe too.
func (p *Printer) quoted(s string) {
	if s == "" || strings.ContainsAny(s, " \t\"=") || firstUnsafe(s) < len(s) {
		p.buf = strconv.AppendQuote(p.buf, s)
		return
	}
	p.buf = append(p.buf, s...)
}

// painted writes peer-controlled text s in color c.
func (p *Printer) painted(c paint, s string) {
	p.buf = append(p.buf, c.pre...)
	p.text(s)
	p.buf = append(p.buf, c.post...)
}

// NewPrinter returns a printer writing to w.
func NewPrinter(w io.Writer, opts Options) *Printer {
	if opts.TimeLayout == "" {
		opts.TimeLayout = "15:04:05.000"
	}
	p := &Printer{w: w, opts: opts}
	mk := func(attrs ...color.Attribute) paint { return newPaint(opts.Color, attrs...) }
	p.levels = map[topic.Severity]paint{
		topic.Debug:  mk(color.FgMagenta),
		topic.Info:   mk(color.FgCyan),
		topic.Warn:   mk(color.FgYellow),
		topic.Error:  mk(color.FgRed),
		topic.DPanic: mk(color.FgRed, color.Bold),
		topic.Panic:  mk(color.FgRed, color.Bold),
		topic.Fatal:  mk(color.FgRed, color.Bold, color.ReverseVideo),
	}
	p.unknownLevel = paint{}
	p.app = mk(color.FgGreen)
	p.logger = mk(color.FgBlue)
	p.key = mk(color.Faint)
	p.dim = mk(color.Faint)
	return p
}

// Keys with a place of their own in the line, in zap's and slog's names.
var (
	timeKeys    = []string{"ts", "time", "timestamp", "@timestamp"}
	levelKeys   = []string{"level", "severity", "lvl"}
	messageKeys = []string{"msg", "message"}
	loggerKeys  = []string{"logger", "name"}
	callerKeys  = []string{"caller", "source"}
)

// Print writes one entry received under topicName.
func (p *Printer) Print(topicName string, entry []byte) error {
	p.buf = p.buf[:0]
	if p.opts.JSON {
		p.buf = append(append(p.buf, entry...), '\n')
		_, err := p.w.Write(p.buf)
		return err
	}
	if p.entry.parse(entry) {
		p.structured(topicName, entry, &p.entry)
	} else {
		p.plain(topicName, entry)
	}
	_, err := p.w.Write(p.buf)
	return err
}

func (p *Printer) plain(topicName string, entry []byte) {
	p.writeLevel(topic.Level(topicName))
	p.writeApp(topic.App(topicName))
	p.text(strings.TrimRight(string(entry), "\r\n"))
	p.buf = append(p.buf, '\n')
}

func (p *Printer) structured(topicName string, body []byte, e *entry) {
	if w := e.find("wrapped"); w != nil && w.kind == kindLiteral && w.val == "true" {
		w.dropped = true
		if t := e.find("topic"); t != nil {
			t.dropped = true
		}
	}
	if t := e.take(timeKeys); t != nil {
		p.writeTime(t)
		p.buf = append(p.buf, ' ')
	}
	level := topic.Level(topicName)
	if l := e.take(levelKeys); l != nil && l.kind == kindString && l.val != "" {
		level = upperLevel(l.val)
	}
	p.writeLevel(level)
	p.writeApp(topic.App(topicName))
	if l := e.take(loggerKeys); l != nil {
		p.painted(p.logger, valueString(l))
		p.buf = append(p.buf, ": "...)
	}
	if msg := e.take(messageKeys); msg != nil {
		p.text(valueString(msg))
	}
	caller := e.take(callerKeys)

	p.below = p.below[:0] // multi-line values, printed under the line
	if p.opts.Fields == nil {
		for i := range e.fields {
			if f := &e.fields[i]; !f.dropped {
				p.writeField(f)
			}
		}
	} else {
		for _, k := range p.opts.Fields {
			if f := e.find(k); f != nil {
				p.writeField(f)
			}
		}
	}
	if caller != nil && p.opts.Fields == nil {
		p.buf = append(p.buf, ' ')
		p.buf = append(p.buf, p.dim.pre...)
		p.buf = append(p.buf, "caller="...)
		p.writeCaller(body, caller)
		p.buf = append(p.buf, p.dim.post...)
	}
	p.buf = append(p.buf, '\n')
	// Multi-line values under the line, indented: a stacktrace as it is,
	// anything else after its key.
	for _, f := range p.below {
		rest := strings.TrimRight(f.val, "\n")
		for i := 0; ; i++ {
			line, more, found := strings.Cut(rest, "\n")
			p.buf = append(p.buf, "    "...)
			if i == 0 && f.key != "stacktrace" {
				p.buf = append(p.buf, p.key.pre...)
				p.text(f.key)
				p.buf = append(p.buf, ": "...)
				p.buf = append(p.buf, p.key.post...)
			}
			p.painted(p.dim, line)
			p.buf = append(p.buf, '\n')
			if !found {
				break
			}
			rest = more
		}
	}
}

// writeField writes f as key=value, or keeps it for below the line when
// its value spans lines.
func (p *Printer) writeField(f *field) {
	s := valueString(f)
	if strings.Contains(s, "\n") { // only a string: JSON escapes a newline in a container
		p.below = append(p.below, f)
		return
	}
	p.buf = append(p.buf, ' ')
	p.buf = append(p.buf, p.key.pre...)
	p.quoted(f.key)
	p.buf = append(append(p.buf, '='), p.key.post...)
	if f.kind == kindString {
		p.quoted(s)
	} else {
		p.text(s) // a number, bool, null, or an object or array as JSON
	}
}

func (p *Printer) writeLevel(level string) {
	if level == "" {
		level = "?"
	}
	c, ok := p.levels[topic.SeverityOf(level)]
	if !ok {
		c = p.unknownLevel
	}
	p.buf = append(p.buf, c.pre...)
	start := len(p.buf)
	p.text(level)
	for n := len(p.buf) - start; n < 5; n++ {
		p.buf = append(p.buf, ' ')
	}
	p.buf = append(p.buf, c.post...)
	p.buf = append(p.buf, ' ')
}

func (p *Printer) writeApp(app string) {
	if app != "" {
		p.buf = append(p.buf, p.app.pre...)
		p.buf = append(p.buf, '[')
		p.text(app)
		p.buf = append(p.buf, ']')
		p.buf = append(p.buf, p.app.post...)
		p.buf = append(p.buf, ' ')
	}
}

// writeTime writes the entry's time: zap's epoch seconds (a number) or an
// RFC 3339 string, in the layout asked for; anything else as it is.
func (p *Printer) writeTime(f *field) {
	var t time.Time
	switch f.kind {
	case kindNumber:
		secs, err := strconv.ParseFloat(f.val, 64)
		if err != nil {
			p.text(f.val)
			return
		}
		sec, frac := math.Modf(secs)
		t = time.Unix(int64(sec), int64(frac*1e9))
	case kindString:
		parsed, err := time.Parse(time.RFC3339Nano, f.val)
		if err != nil {
			p.text(f.val)
			return
		}
		t = parsed
	default:
		p.text(valueString(f))
		return
	}
	if p.opts.UTC {
		t = t.UTC()
	} else {
		t = t.Local()
	}
	start := len(p.buf)
	p.buf = t.AppendFormat(p.buf, p.opts.TimeLayout)
	for _, b := range p.buf[start:] {
		if !asciiSafe[b] { // the layout is the user's, but shown through TerminalSafe all the same
			formatted := string(p.buf[start:])
			p.buf = appendTerminalSafe(p.buf[:start], formatted)
			return
		}
	}
}

// writeCaller shows zap's "file:line" as it is and slog's source object
// as file:line.
func (p *Printer) writeCaller(body []byte, f *field) {
	if f.kind != kindObject {
		p.text(valueString(f))
		return
	}
	// The object as written is in the body too: parse it from there, not
	// from a copy of f.val.
	p.source.parse(body[f.rawOff:f.rawEnd]) // checked with the entry
	file, fileOK := sourcePart(p.source.find("file"))
	line, lineOK := sourcePart(p.source.find("line"))
	if !fileOK || !lineOK { // a container: print what fmt prints for it
		m := decodeJSON(f.val).(map[string]any)
		p.text(fmt.Sprintf("%v:%v", m["file"], m["line"]))
		return
	}
	p.text(file)
	p.buf = append(p.buf, ':')
	p.text(line)
}

// sourcePart is a part of slog's source object as fmt's %v prints the
// value encoding/json decodes it to, unless it is a container.
func sourcePart(f *field) (string, bool) {
	switch {
	case f == nil || f.kind == kindLiteral && f.val == "null":
		return "<nil>", true
	case f.kind == kindObject || f.kind == kindArray:
		return "", false
	}
	return f.val, true
}

// upperLevel is a level field as shown: zap's lowercase levels without an
// allocation each.
func upperLevel(s string) string {
	switch s {
	case "debug":
		return "DEBUG"
	case "info":
		return "INFO"
	case "warn":
		return "WARN"
	case "error":
		return "ERROR"
	case "dpanic":
		return "DPANIC"
	case "panic":
		return "PANIC"
	case "fatal":
		return "FATAL"
	}
	return strings.ToUpper(s)
}

// valueString is a field's value as shown: a string as it is, a number,
// bool or null as written, and an object or array as compact JSON with
// keys sorted (as encoding/json writes the map it decodes it to).
func valueString(f *field) string {
	if f.kind != kindObject && f.kind != kindArray {
		return f.val
	}
	b, _ := json.Marshal(decodeJSON(f.val))
	return string(b)
}

// decodeJSON decodes a value the entry's parse already checked. It is the
// slow path, for objects and arrays in an entry.
func decodeJSON(s string) any {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	d.Decode(&v)
	return v
}
