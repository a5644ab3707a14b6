package slogzmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// jsonFormat writes a record as slog.JSONHandler does, byte for byte, into
// a buffer the caller ships. It is slog's commonHandler (log/slog's
// handler.go and json_handler.go, JSON half, BSD licence) less the writer
// and its mutex: WithAttrs formats its attributes once into preformatted,
// and a record's cost is its own attributes, however long the chain of
// WithAttrs and WithGroup above it and whatever GOMAXPROCS is. A
// jsonFormat is immutable once made; every clone clips the slices it
// carries, so two children of one parent never share an append target.
type jsonFormat struct {
	addSource   bool
	replace     func(groups []string, a slog.Attr) slog.Attr
	preformated []byte   // the WithAttrs attributes, with their groups opened
	groups      []string // every WithGroup name
	nOpenGroups int      // how many of groups preformated has opened
}

func (f *jsonFormat) clone() *jsonFormat {
	c := *f
	c.preformated = slices.Clip(f.preformated)
	c.groups = slices.Clip(f.groups)
	return &c
}

// withAttrs formats as once, here, as slog.JSONHandler's WithAttrs does.
func (f *jsonFormat) withAttrs(as []slog.Attr) *jsonFormat {
	if countEmptyGroups(as) == len(as) {
		return f
	}
	f2 := f.clone()
	s := f2.newState(f2.preformated, "")
	defer s.free()
	if pfa := f2.preformated; len(pfa) > 0 && pfa[len(pfa)-1] != '{' {
		s.sep = ","
	}
	pos := len(s.buf)
	s.openGroups()
	if !s.appendAttrs(as) {
		s.buf = s.buf[:pos]
	} else {
		f2.nOpenGroups = len(f2.groups)
	}
	f2.preformated = s.buf
	return f2
}

func (f *jsonFormat) withGroup(name string) *jsonFormat {
	f2 := f.clone()
	f2.groups = append(f2.groups, name)
	return f2
}

// format appends r, encoded as one JSON object without a line ending, to
// buf and returns it.
func (f *jsonFormat) format(buf []byte, r slog.Record) []byte {
	s := f.newState(buf, "")
	defer s.free()
	s.buf = append(s.buf, '{')
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

func (s *formatState) appendNonBuiltIns(r slog.Record) {
	f := s.f
	if pfa := f.preformated; len(pfa) > 0 {
		s.buf = append(s.buf, s.sep...)
		s.buf = append(s.buf, pfa...)
		s.sep = ","
		if pfa[len(pfa)-1] == '{' {
			s.sep = ""
		}
	}
	// A record's own attributes go into the groups WithGroup opened after
	// the last WithAttrs; a record without any (or whose attributes
	// ReplaceAttr all drops) opens none.
	nOpenGroups := f.nOpenGroups
	if r.NumAttrs() > 0 {
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
	for range f.groups[:nOpenGroups] {
		s.buf = append(s.buf, '}')
	}
	s.buf = append(s.buf, '}')
}

// formatState is one format or withAttrs call's state.
type formatState struct {
	f      *jsonFormat
	buf    []byte
	sep    string    // written before the next key
	groups *[]string // the open groups, for ReplaceAttr; nil without it
}

// groupsPool lends the slices of open group names ReplaceAttr is given.
// One pool for the package: per-handler pools are what made a With cost
// a pool miss per P.
var groupsPool = sync.Pool{New: func() any {
	s := make([]string, 0, 10)
	return &s
}}

func (f *jsonFormat) newState(buf []byte, sep string) formatState {
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
	s.appendKey(name)
	s.buf = append(s.buf, '{')
	s.sep = ""
	if s.groups != nil {
		*s.groups = append(*s.groups, name)
	}
}

func (s *formatState) closeGroup() {
	s.buf = append(s.buf, '}')
	s.sep = ","
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
			a.Value = sourceGroup(src)
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
				s.closeGroup()
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
	s.appendString(key)
	s.buf = append(s.buf, ':')
	s.sep = ","
}

func (s *formatState) appendString(str string) {
	s.buf = append(s.buf, '"')
	s.buf = appendEscapedJSONString(s.buf, str)
	s.buf = append(s.buf, '"')
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
	if err := s.appendJSONValue(v); err != nil {
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

// appendEscapedJSONString is slog's: encoding/json's string escaping
// without HTML escaping, quotes not included.
func appendEscapedJSONString(buf []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safeSet[b] {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\')
			switch b {
			case '\\', '"':
				buf = append(buf, b)
			case '\n':
				buf = append(buf, 'n')
			case '\r':
				buf = append(buf, 'r')
			case '\t':
				buf = append(buf, 't')
			default: // bytes < 0x20 but \t, \n and \r
				buf = append(buf, 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JSONP; slog escapes
		// them unconditionally.
		if c == '\u2028' || c == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\u202`...)
			buf = append(buf, hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(buf, s[start:]...)
}

const hex = "0123456789abcdef"

// safeSet marks the ASCII bytes a JSON string holds unescaped: all but
// the control characters, '"' and '\\'.
var safeSet = func() (set [utf8.RuneSelf]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		set[b] = b != '"' && b != '\\'
	}
	return set
}()
