package tail

// refPrinter is the printer as it was before issue 18, decoding each entry
// into a map with encoding/json: the oracle the differential tests hold
// Printer's output to, byte for byte.

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

// refPrinter writes entries to w.
type refPrinter struct {
	w    io.Writer
	opts Options
	buf  []byte // the line being built, reused

	levels            map[topic.Severity]paint
	app, logger, key  paint
	dim, unknownLevel paint
}

// text writes peer-controlled text, escaped by TerminalSafe's rules. Every
// string from an entry or its topic reaches the line through text or
// quoted, never raw.
func (p *refPrinter) text(s string) { p.buf = appendTerminalSafe(p.buf, s) }

// quoted writes a key or string value, in Go quotes when it is empty or
// holds a space, a quote, an '=' or a character text would escape, so
// that key=value pairs stay apart and read back unambiguously (as slog's
// TextHandler does). strconv.Quote escapes every non-printable rune, a
// superset of what text escapes, so its output is terminal-safe too.
func (p *refPrinter) quoted(s string) {
	if s == "" || strings.ContainsAny(s, " \t\"=") || firstUnsafe(s) < len(s) {
		p.buf = strconv.AppendQuote(p.buf, s)
		return
	}
	p.buf = append(p.buf, s...)
}

// painted writes peer-controlled text s in color c.
func (p *refPrinter) painted(c paint, s string) {
	p.buf = append(p.buf, c.pre...)
	p.text(s)
	p.buf = append(p.buf, c.post...)
}

// newRefPrinter returns a printer writing to w.
func newRefPrinter(w io.Writer, opts Options) *refPrinter {
	if opts.TimeLayout == "" {
		opts.TimeLayout = "15:04:05.000"
	}
	p := &refPrinter{w: w, opts: opts}
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

// Print writes one entry received under topicName.
func (p *refPrinter) Print(topicName string, entry []byte) error {
	p.buf = p.buf[:0]
	if p.opts.JSON {
		p.buf = append(append(p.buf, entry...), '\n')
		_, err := p.w.Write(p.buf)
		return err
	}
	fields, ok := refParseObject(entry)
	if !ok {
		p.plain(topicName, entry)
	} else {
		p.structured(topicName, fields)
	}
	_, err := p.w.Write(p.buf)
	return err
}

func refParseObject(entry []byte) (map[string]any, bool) {
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

func (p *refPrinter) plain(topicName string, entry []byte) {
	p.writeLevel(topic.Level(topicName))
	p.writeApp(topic.App(topicName))
	p.text(strings.TrimRight(string(entry), "\r\n"))
	p.buf = append(p.buf, '\n')
}

func (p *refPrinter) structured(topicName string, m map[string]any) {
	if wrapped, _ := m["wrapped"].(bool); wrapped {
		delete(m, "wrapped")
		delete(m, "topic")
	}
	if t, ok := refTake(m, timeKeys); ok {
		p.text(p.formatTime(t))
		p.buf = append(p.buf, ' ')
	}
	level := topic.Level(topicName)
	if l, ok := refTake(m, levelKeys); ok {
		if s, isString := l.(string); isString && s != "" {
			level = strings.ToUpper(s)
		}
	}
	p.writeLevel(level)
	p.writeApp(topic.App(topicName))
	if l, ok := refTake(m, loggerKeys); ok {
		p.painted(p.logger, refValueString(l))
		p.buf = append(p.buf, ": "...)
	}
	if msg, ok := refTake(m, messageKeys); ok {
		p.text(refValueString(msg))
	}
	caller, hasCaller := refTake(m, callerKeys)

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
		s := refValueString(v)
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
		p.text(refCallerString(caller))
		p.buf = append(p.buf, p.dim.post...)
	}
	p.buf = append(p.buf, '\n')
	// Multi-line values under the line, indented: a stacktrace as it is,
	// anything else after its key.
	for _, k := range below {
		for i, line := range strings.Split(strings.TrimRight(refValueString(m[k]), "\n"), "\n") {
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

func (p *refPrinter) writeLevel(level string) {
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

func (p *refPrinter) writeApp(app string) {
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
func refTake(m map[string]any, keys []string) (any, bool) {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			delete(m, k)
			return v, true
		}
	}
	return nil, false
}

// formatTime reads zap's epoch seconds (a number) or an RFC 3339 string.
func (p *refPrinter) formatTime(v any) string {
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
		return refValueString(v)
	}
	if p.opts.UTC {
		t = t.UTC()
	} else {
		t = t.Local()
	}
	return t.Format(p.opts.TimeLayout)
}

// refCallerString shows zap's "file:line" as it is and slog's source object
// as file:line.
func refCallerString(v any) string {
	if m, ok := v.(map[string]any); ok {
		return fmt.Sprintf("%v:%v", m["file"], m["line"])
	}
	return refValueString(v)
}

func refValueString(v any) string {
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
