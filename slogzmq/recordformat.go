package slogzmq

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zmqlog/zmqlog/internal/jsonstr"
)

// recordFormat writes a record as slog.JSONHandler (or, with text,
// slog.TextHandler) does, byte for byte, into a buffer the caller ships.
// It is slog's commonHandler (log/slog's handler.go, json_handler.go and
// text_handler.go, BSD licence) less the writer and its mutex: WithAttrs
// formats its attributes once into preformatted, and a record's cost is
// its own attributes, however long the chain of WithAttrs and WithGroup
// above it and whatever GOMAXPROCS is. A recordFormat is immutable once made; every clone clips the slices it
// carries, so two children of one parent never share an append target.
type recordFormat struct {
	text         bool // slog.TextHandler's k=v instead of JSON
	addSource    bool
	replace      func(groups []string, a slog.Attr) slog.Attr
	preformatted []byte   // the WithAttrs attributes, with their groups opened
	groups       []string // every WithGroup name
	nOpenGroups  int      // how many of groups preformatted has opened
	groupPrefix  string   // text: "g.h." for the groups preformatted has opened
}

func (f *recordFormat) clone() *recordFormat {
	c := *f
	c.preformatted = slices.Clip(f.preformatted)
	c.groups = slices.Clip(f.groups)
	return &c
}

// withAttrs formats as once, here, as slog's handlers' WithAttrs do.
func (f *recordFormat) withAttrs(as []slog.Attr) *recordFormat {
	if countEmptyGroups(as) == len(as) {
		return f
	}
	f2 := f.clone()
	s := f2.newState(f2.preformatted, "")
	defer s.free()
	s.prefix = append(s.prefix, f.groupPrefix...)
	if pfa := f2.preformatted; len(pfa) > 0 {
		s.sep = f.attrSep()
		if !f.text && pfa[len(pfa)-1] == '{' {
			s.sep = ""
		}
	}
	pos := len(s.buf)
	s.openGroups()
	if !s.appendAttrs(as) {
		s.buf = s.buf[:pos]
	} else {
		f2.groupPrefix = string(s.prefix)
		f2.nOpenGroups = len(f2.groups)
	}
	f2.preformatted = s.buf
	return f2
}

func (f *recordFormat) withGroup(name string) *recordFormat {
	f2 := f.clone()
	f2.groups = append(f2.groups, name)
	return f2
}

// attrSep is what separates attributes.
func (f *recordFormat) attrSep() string {
	if f.text {
		return " "
	}
	return ","
}

// format appends r, encoded as one JSON object (or text line) without a
// line ending, to buf and returns it.
func (f *recordFormat) format(buf []byte, r slog.Record) []byte {
	s := f.newState(buf, "")
	defer s.free()
	if !f.text {
		s.buf = append(s.buf, '{')
	}
	// The built-ins are in no group: ReplaceAttr sees nil groups.
	stateGroups := s.groups
	s.groups = nil
	rep := f.replace
	if !r.Time.IsZero() {
		val := r.Time.Round(0) // strip the monotonic reading, as an Attr would
		if rep == nil {
			s.appendKey(slog.TimeKey)
			s.appendTime(val)
		} else {
			s.appendAttr(slog.Time(slog.TimeKey, val))
		}
	}
	if rep == nil {
		s.appendKey(slog.LevelKey)
		s.appendString(r.Level.String())
	} else {
		s.appendAttr(slog.Any(slog.LevelKey, r.Level))
	}
	if f.addSource {
		src := r.Source()
		if src == nil {
			src = &slog.Source{}
		}
		s.appendAttr(slog.Any(slog.SourceKey, src))
	}
	if rep == nil {
		s.appendKey(slog.MessageKey)
		s.appendString(r.Message)
	} else {
		s.appendAttr(slog.String(slog.MessageKey, r.Message))
	}
	s.groups = stateGroups
	s.appendNonBuiltIns(r)
	return s.buf
}

// formatAttrs appends only r's attributes and the handler's, each after a
// space, as slog's built-in default handler does after "LEVEL msg".
func (f *recordFormat) formatAttrs(buf []byte, r slog.Record) []byte {
	s := f.newState(buf, " ")
	defer s.free()
	s.appendNonBuiltIns(r)
	return s.buf
}

func (s *formatState) appendNonBuiltIns(r slog.Record) {
	f := s.f
	if pfa := f.preformatted; len(pfa) > 0 {
		s.buf = append(s.buf, s.sep...)
		s.buf = append(s.buf, pfa...)
		s.sep = f.attrSep()
		if !f.text && pfa[len(pfa)-1] == '{' {
			s.sep = ""
		}
	}
	// A record's own attributes go into the groups WithGroup opened after
	// the last WithAttrs; a record without any (or whose attributes
	// ReplaceAttr all drops) opens none.
	nOpenGroups := f.nOpenGroups
	if r.NumAttrs() > 0 {
		s.prefix = append(s.prefix, f.groupPrefix...)
		pos := len(s.buf)
		s.openGroups()
		nOpenGroups = len(f.groups)
		empty := true
		r.Attrs(func(a slog.Attr) bool {
			if s.appendAttr(a) {
				empty = false
			}
			return true
		})
		if empty {
			s.buf = s.buf[:pos]
			nOpenGroups = f.nOpenGroups
		}
	}
	if !f.text {
		for range f.groups[:nOpenGroups] {
			s.buf = append(s.buf, '}')
		}
		s.buf = append(s.buf, '}')
	}
}

// formatState is one format or withAttrs call's state.
type formatState struct {
	f      *recordFormat
	buf    []byte
	sep    string    // written before the next key
	prefix []byte    // text: the open groups' "g.h." before each key
	groups *[]string // the open groups, for ReplaceAttr; nil without it
}

// groupsPool lends the slices of open group names ReplaceAttr is given.
// One pool for the package: per-handler pools are what made a With cost
// a pool miss per P.
var groupsPool = sync.Pool{New: func() any {
	s := make([]string, 0, 10)
	return &s
}}

func (f *recordFormat) newState(buf []byte, sep string) formatState {
	s := formatState{f: f, buf: buf, sep: sep}
	if f.replace != nil {
		s.groups = groupsPool.Get().(*[]string)
		*s.groups = append(*s.groups, f.groups[:f.nOpenGroups]...)
	}
	return s
}

func (s *formatState) free() {
	if gs := s.groups; gs != nil {
		*gs = (*gs)[:0]
		groupsPool.Put(gs)
	}
}

func (s *formatState) openGroups() {
	for _, n := range s.f.groups[s.f.nOpenGroups:] {
		s.openGroup(n)
	}
}

func (s *formatState) openGroup(name string) {
	if s.f.text {
		s.prefix = append(s.prefix, name...)
		s.prefix = append(s.prefix, '.')
	} else {
		s.appendKey(name)
		s.buf = append(s.buf, '{')
		s.sep = ""
	}
	if s.groups != nil {
		*s.groups = append(*s.groups, name)
	}
}

func (s *formatState) closeGroup(name string) {
	if s.f.text {
		s.prefix = s.prefix[:len(s.prefix)-len(name)-1]
	} else {
		s.buf = append(s.buf, '}')
	}
	s.sep = s.f.attrSep()
	if s.groups != nil {
		*s.groups = (*s.groups)[:len(*s.groups)-1]
	}
}

// appendAttrs reports whether it appended anything.
func (s *formatState) appendAttrs(as []slog.Attr) bool {
	nonEmpty := false
	for _, a := range as {
		if s.appendAttr(a) {
			nonEmpty = true
		}
	}
	return nonEmpty
}

// appendAttr applies ReplaceAttr exactly as slog documents it (resolved
// values, never for groups, an empty result dropped) and reports whether
// it appended anything.
func (s *formatState) appendAttr(a slog.Attr) bool {
	a.Value = a.Value.Resolve()
	if rep := s.f.replace; rep != nil && a.Value.Kind() != slog.KindGroup {
		var gs []string
		if s.groups != nil {
			gs = *s.groups
		}
		a = rep(gs, a)
		a.Value = a.Value.Resolve() // ReplaceAttr may return a LogValuer
	}
	if isEmptyAttr(a) {
		return false
	}
	if v := a.Value; v.Kind() == slog.KindAny {
		if src, ok := v.Any().(*slog.Source); ok {
			if src == nil || *src == (slog.Source{}) {
				return false
			}
			if s.f.text {
				a.Value = slog.StringValue(fmt.Sprintf("%s:%d", src.File, src.Line))
			} else {
				a.Value = sourceGroup(src)
			}
		}
	}
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) > 0 {
			// ReplaceAttr may drop every member: then the group goes too.
			pos := len(s.buf)
			if a.Key != "" { // an empty key inlines the group
				s.openGroup(a.Key)
			}
			if !s.appendAttrs(attrs) {
				s.buf = s.buf[:pos]
				return false
			}
			if a.Key != "" {
				s.closeGroup(a.Key)
			}
		}
	} else {
		s.appendKey(a.Key)
		s.appendValue(a.Value)
	}
	return true
}

// isEmptyAttr is slog's Attr.isEmpty: the zero Attr, which handlers drop.
func isEmptyAttr(a slog.Attr) bool {
	return a.Key == "" && a.Value.Kind() == slog.KindAny && a.Value.Any() == nil
}

func countEmptyGroups(as []slog.Attr) int {
	n := 0
	for _, a := range as {
		if a.Value.Kind() == slog.KindGroup && len(a.Value.Group()) == 0 {
			n++
		}
	}
	return n
}

// sourceGroup is slog's Source.group: the non-zero fields.
func sourceGroup(src *slog.Source) slog.Value {
	var as []slog.Attr
	if src.Function != "" {
		as = append(as, slog.String("function", src.Function))
	}
	if src.File != "" {
		as = append(as, slog.String("file", src.File))
	}
	if src.Line != 0 {
		as = append(as, slog.Int("line", src.Line))
	}
	return slog.GroupValue(as...)
}

func (s *formatState) appendKey(key string) {
	s.buf = append(s.buf, s.sep...)
	switch {
	case len(s.prefix) == 0:
		s.appendString(key)
	case !s.f.text:
		s.appendString(string(s.prefix) + key) // unreachable: JSON nests
	case !needsQuoting(string(s.prefix)) && !needsQuoting(key):
		s.buf = append(s.buf, s.prefix...)
		s.buf = append(s.buf, key...)
	default:
		s.buf = strconv.AppendQuote(s.buf, string(s.prefix)+key)
	}
	if s.f.text {
		s.buf = append(s.buf, '=')
	} else {
		s.buf = append(s.buf, ':')
	}
	s.sep = s.f.attrSep()
}

func (s *formatState) appendString(str string) {
	switch {
	case !s.f.text:
		s.buf = jsonstr.Append(s.buf, str)
	case needsQuoting(str):
		s.buf = strconv.AppendQuote(s.buf, str)
	default:
		s.buf = append(s.buf, str...)
	}
}

func (s *formatState) appendError(err error) {
	s.appendString(fmt.Sprintf("!ERROR:%v", err))
}

func (s *formatState) appendValue(v slog.Value) {
	defer func() {
		if r := recover(); r != nil {
			// A nil pointer whose error or TextMarshaler method does not
			// guard against nil prints as "<nil>", as fmt and slog do.
			if v.Kind() == slog.KindAny {
				if rv := reflect.ValueOf(v.Any()); rv.Kind() == reflect.Pointer && rv.IsNil() {
					s.appendString("<nil>")
					return
				}
			}
			s.appendString(fmt.Sprintf("!PANIC: %v", r))
		}
	}()
	var err error
	if s.f.text {
		err = s.appendTextValue(v)
	} else {
		err = s.appendJSONValue(v)
	}
	if err != nil {
		s.appendError(err)
	}
}

func (s *formatState) appendJSONValue(v slog.Value) error {
	switch v.Kind() {
	case slog.KindString:
		s.appendString(v.String())
	case slog.KindInt64:
		s.buf = strconv.AppendInt(s.buf, v.Int64(), 10)
	case slog.KindUint64:
		s.buf = strconv.AppendUint(s.buf, v.Uint64(), 10)
	case slog.KindFloat64:
		// json.Marshal is particular about floats; slog calls it, so do we.
		return s.appendJSONMarshal(v.Float64())
	case slog.KindBool:
		s.buf = strconv.AppendBool(s.buf, v.Bool())
	case slog.KindDuration:
		s.buf = strconv.AppendInt(s.buf, int64(v.Duration()), 10)
	case slog.KindTime:
		s.appendTime(v.Time())
	case slog.KindAny:
		a := v.Any()
		_, jm := a.(json.Marshaler)
		if err, ok := a.(error); ok && !jm {
			s.appendString(err.Error())
		} else {
			return s.appendJSONMarshal(a)
		}
	default:
		panic(fmt.Sprintf("bad kind: %s", v.Kind()))
	}
	return nil
}

func (s *formatState) appendTime(t time.Time) {
	if s.f.text {
		s.buf = appendRFC3339Millis(s.buf, t)
		return
	}
	if y := t.Year(); y < 0 || y >= 10000 {
		s.appendError(errors.New("time.Time year outside of range [0,9999]"))
	}
	s.buf = append(s.buf, '"')
	s.buf = t.AppendFormat(s.buf, time.RFC3339Nano)
	s.buf = append(s.buf, '"')
}

// jsonEncoder is a json.Encoder that does not escape HTML, as slog's.
type jsonEncoder struct {
	buf  bytes.Buffer
	json *json.Encoder
}

var jsonEncoders = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.json = json.NewEncoder(&e.buf)
	e.json.SetEscapeHTML(false)
	return e
}}

func (s *formatState) appendJSONMarshal(v any) error {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer func() {
		if e.buf.Cap() > maxPooledBuffer {
			return
		}
		e.buf.Reset()
		jsonEncoders.Put(e)
	}()
	if err := e.json.Encode(v); err != nil {
		return err
	}
	bs := e.buf.Bytes()
	s.buf = append(s.buf, bs[:len(bs)-1]...) // less Encode's newline
	return nil
}

// maxPooledBuffer: larger buffers are left to the collector rather than
// pooled, so one huge record does not pin its buffer for good (slog's
// bound too).
const maxPooledBuffer = 16 << 10

// recordBuffers lends the buffers records are formatted into; Ship copies
// the bytes, so a buffer goes back as soon as Handle is done with it.
var recordBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// appendTextValue is slog.TextHandler's: TextMarshalers by their text,
// byte slices quoted, anything else as %+v or slog's own formatting.
func (s *formatState) appendTextValue(v slog.Value) error {
	switch v.Kind() {
	case slog.KindString:
		s.appendString(v.String())
	case slog.KindTime:
		s.appendTime(v.Time())
	case slog.KindAny:
		if tm, ok := v.Any().(encoding.TextMarshaler); ok {
			data, err := tm.MarshalText()
			if err != nil {
				return err
			}
			s.appendString(string(data))
			return nil
		}
		if bs, ok := byteSlice(v.Any()); ok {
			s.buf = strconv.AppendQuote(s.buf, string(bs))
			return nil
		}
		s.appendString(fmt.Sprintf("%+v", v.Any()))
	case slog.KindInt64:
		s.buf = strconv.AppendInt(s.buf, v.Int64(), 10)
	case slog.KindUint64:
		s.buf = strconv.AppendUint(s.buf, v.Uint64(), 10)
	case slog.KindFloat64:
		s.buf = strconv.AppendFloat(s.buf, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		s.buf = strconv.AppendBool(s.buf, v.Bool())
	case slog.KindDuration:
		s.buf = append(s.buf, v.Duration().String()...)
	default: // a group with no attributes never gets here: appendAttr writes groups
		s.buf = fmt.Append(s.buf, v.Any())
	}
	return nil
}

// byteSlice returns a, if its underlying type is []byte (named or not).
func byteSlice(a any) ([]byte, bool) {
	if bs, ok := a.([]byte); ok {
		return bs, true
	}
	t := reflect.TypeOf(a)
	if t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return reflect.ValueOf(a).Bytes(), true
	}
	return nil, false
}

// needsQuoting is slog.TextHandler's rule: empty, a space or '=', or
// anything JSON would escape (but a backslash), or not printable.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b != '\\' && (b == ' ' || b == '=' || !jsonstr.Safe(b)) {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendRFC3339Millis is slog.TextHandler's time: RFC 3339 with exactly
// three digits of milliseconds. RFC3339Nano trims trailing zeros, so add
// a tenth of a millisecond and drop the fourth digit.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}
