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
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
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
type Printer struct {
	w    io.Writer
	opts Options
	buf  []byte // the line being built, reused

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
	fields, ok := parseObject(entry)
	if !ok {
		p.plain(topicName, entry)
	} else {
		p.structured(topicName, fields)
	}
	_, err := p.w.Write(p.buf)
	return err
}

func parseObject(entry []byte) (map[string]any, bool) {
	if len(entry) == 0 || entry[0] != '{' {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(entry))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, false
	}
	return m, true
}

func (p *Printer) plain(topicName string, entry []byte) {
	p.writeLevel(topic.Level(topicName))
	p.writeApp(topic.App(topicName))
	p.text(strings.TrimRight(string(entry), "\r\n"))
	p.buf = append(p.buf, '\n')
}

func (p *Printer) structured(topicName string, m map[string]any) {
	if wrapped, _ := m["wrapped"].(bool); wrapped {
		delete(m, "wrapped")
		delete(m, "topic")
	}
	if t, ok := take(m, timeKeys); ok {
		p.text(p.formatTime(t))
		p.buf = append(p.buf, ' ')
	}
	level := topic.Level(topicName)
	if l, ok := take(m, levelKeys); ok {
		if s, isString := l.(string); isString && s != "" {
			level = strings.ToUpper(s)
		}
	}
	p.writeLevel(level)
	p.writeApp(topic.App(topicName))
	if l, ok := take(m, loggerKeys); ok {
		p.painted(p.logger, valueString(l))
		p.buf = append(p.buf, ": "...)
	}
	if msg, ok := take(m, messageKeys); ok {
		p.text(valueString(msg))
	}
	caller, hasCaller := take(m, callerKeys)

	var below []string // multi-line values, printed under the line
	keys := p.opts.Fields
	if keys == nil {
		keys = make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			continue
		}
		s := valueString(v)
		if strings.Contains(s, "\n") {
			below = append(below, k)
			continue
		}
		p.buf = append(p.buf, ' ')
		p.buf = append(p.buf, p.key.pre...)
		p.quoted(k)
		p.buf = append(append(p.buf, '='), p.key.post...)
		if _, isString := v.(string); isString {
			p.quoted(s)
		} else {
			p.text(s) // a number, bool, null, or an object or array as JSON
		}
	}
	if hasCaller && p.opts.Fields == nil {
		p.buf = append(p.buf, ' ')
		p.buf = append(p.buf, p.dim.pre...)
		p.buf = append(p.buf, "caller="...)
		p.text(callerString(caller))
		p.buf = append(p.buf, p.dim.post...)
	}
	p.buf = append(p.buf, '\n')
	// Multi-line values under the line, indented: a stacktrace as it is,
	// anything else after its key.
	for _, k := range below {
		for i, line := range strings.Split(strings.TrimRight(valueString(m[k]), "\n"), "\n") {
			p.buf = append(p.buf, "    "...)
			if i == 0 && k != "stacktrace" {
				p.buf = append(p.buf, p.key.pre...)
				p.text(k)
				p.buf = append(p.buf, ": "...)
				p.buf = append(p.buf, p.key.post...)
			}
			p.painted(p.dim, line)
			p.buf = append(p.buf, '\n')
		}
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

// take removes and returns the first of keys present in m.
func take(m map[string]any, keys []string) (any, bool) {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			delete(m, k)
			return v, true
		}
	}
	return nil, false
}

// formatTime reads zap's epoch seconds (a number) or an RFC 3339 string.
func (p *Printer) formatTime(v any) string {
	var t time.Time
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		sec, frac := math.Modf(f)
		t = time.Unix(int64(sec), int64(frac*1e9))
	case string:
		parsed, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return x
		}
		t = parsed
	default:
		return valueString(v)
	}
	if p.opts.UTC {
		t = t.UTC()
	} else {
		t = t.Local()
	}
	return t.Format(p.opts.TimeLayout)
}

// callerString shows zap's "file:line" as it is and slog's source object
// as file:line.
func callerString(v any) string {
	if m, ok := v.(map[string]any); ok {
		return fmt.Sprintf("%v:%v", m["file"], m["line"])
	}
	return valueString(v)
}

func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
