package tail

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// entry is a JSON entry's top-level fields, decoded as encoding/json
// decodes the entry into a map[string]any with UseNumber, without the
// map: the printer used to pay ~40 allocations per entry for that map,
// its boxed values and the decoder. An entry costs one allocation here,
// the string all its keys and values are cut from; the fields slice and
// the text buffer are reused from entry to entry.
//
// What "as encoding/json decodes" means, since the printer's output must
// not change: the entry is the first JSON value of the body and must be
// an object (what follows it is ignored, as json.Decoder does); strings
// are unescaped with a lone surrogate and every byte that is not UTF-8
// turned into U+FFFD; a key given twice keeps its last value; numbers
// keep their literal; containers nest at most maxDepth deep.
type entry struct {
	fields []field // sorted by key, one per key, after parse
	spans  []span  // the fields as parsed, in order, reused
	text   []byte  // decoded keys and values, back to back
}

// field is one top-level key and its value. key and val are slices of
// the entry's one string.
type field struct {
	key, val string
	// dropped marks a field printed in a place of its own (time, level,
	// message...) or hidden (a wrapped entry's topic), so it is not shown
	// again among the key=value pairs.
	dropped bool
	span
}

// span is where a field's parts are: it holds no pointers, so sorting
// spans moves them without write barriers.
type span struct {
	kind                           valueKind
	keyOff, keyEnd, valOff, valEnd int // into text
	rawOff, rawEnd                 int // the value as written, in the body
}

// valueKind is what a field's val holds.
type valueKind uint8

const (
	kindString  valueKind = iota // the decoded string
	kindNumber                   // the number as written
	kindLiteral                  // true, false or null
	kindObject                   // the object as written, whitespace and all
	kindArray                    // the array as written
)

// maxDepth is encoding/json's nesting limit: an entry nested deeper is
// not JSON to it, so it is not JSON here either.
const maxDepth = 10000

// parse decodes body into e, reporting whether body starts with a JSON
// object.
func (e *entry) parse(body []byte) bool {
	e.fields, e.spans, e.text = e.fields[:0], e.spans[:0], e.text[:0]
	if len(body) == 0 || body[0] != '{' {
		return false
	}
	d := decoder{in: body, i: 1, text: e.text}
	if !d.topObject(e) {
		e.text = d.text
		return false
	}
	e.text = d.text
	// A map keeps a key's last value: sort stably, then keep the last
	// field of each run of equal keys. Fields hold no pointers until
	// they are sorted: moving them costs no write barriers.
	text := e.text
	slices.SortStableFunc(e.spans, func(a, b span) int {
		return bytes.Compare(text[a.keyOff:a.keyEnd], text[b.keyOff:b.keyEnd])
	})
	all := string(text) // the one allocation: every key and value is a slice of it
	for i, s := range e.spans {
		if i+1 < len(e.spans) && bytes.Equal(text[s.keyOff:s.keyEnd], text[e.spans[i+1].keyOff:e.spans[i+1].keyEnd]) {
			continue
		}
		e.fields = append(e.fields, field{key: all[s.keyOff:s.keyEnd], val: all[s.valOff:s.valEnd], span: s})
	}
	return true
}

// find returns the field named key unless it was dropped, or nil.
func (e *entry) find(key string) *field {
	i, ok := slices.BinarySearchFunc(e.fields, key, func(f field, k string) int { return strings.Compare(f.key, k) })
	if !ok || e.fields[i].dropped {
		return nil
	}
	return &e.fields[i]
}

// take drops and returns the first of keys present, or nil.
func (e *entry) take(keys []string) *field {
	for _, k := range keys {
		if f := e.find(k); f != nil {
			f.dropped = true
			return f
		}
	}
	return nil
}

// decoder reads JSON from in at i, checking it as encoding/json's scanner
// does, and appends decoded top-level keys and values to text.
type decoder struct {
	in   []byte
	i    int
	text []byte
}

func (d *decoder) peek() byte {
	if d.i < len(d.in) {
		return d.in[d.i]
	}
	return 0
}

func (d *decoder) space() {
	for d.i < len(d.in) {
		switch d.in[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// topObject reads the entry's object, its opening brace already read,
// into e.fields.
func (d *decoder) topObject(e *entry) bool {
	d.space()
	if d.peek() == '}' {
		return true
	}
	for {
		if d.peek() != '"' {
			return false
		}
		var f span
		f.keyOff = len(d.text)
		if !d.str(true) {
			return false
		}
		f.keyEnd = len(d.text)
		d.space()
		if d.peek() != ':' {
			return false
		}
		d.i++
		d.space()
		f.valOff = len(d.text)
		start := d.i
		switch c := d.peek(); {
		case c == '"':
			f.kind = kindString
			if !d.str(true) {
				return false
			}
		case c == '{' || c == '[':
			f.kind = kindObject
			if c == '[' {
				f.kind = kindArray
			}
			if !d.value(2) {
				return false
			}
			d.text = append(d.text, d.in[start:d.i]...)
		case c == 't' || c == 'f' || c == 'n':
			f.kind = kindLiteral
			if !d.value(2) {
				return false
			}
			d.text = append(d.text, d.in[start:d.i]...)
		default:
			f.kind = kindNumber
			if !d.number() {
				return false
			}
			d.text = append(d.text, d.in[start:d.i]...)
		}
		f.valEnd, f.rawOff, f.rawEnd = len(d.text), start, d.i
		e.spans = append(e.spans, f)
		d.space()
		switch d.peek() {
		case ',':
			d.i++
			d.space()
		case '}':
			return true
		default:
			return false
		}
	}
}

// value checks one JSON value at nesting depth depth (the top object is
// 1) and moves past it.
func (d *decoder) value(depth int) bool {
	switch c := d.peek(); c {
	case '"':
		return d.str(false)
	case '{', '[':
		if depth > maxDepth {
			return false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		d.space()
		if d.peek() == end {
			d.i++
			return true
		}
		for {
			if c == '{' {
				if d.peek() != '"' || !d.str(false) {
					return false
				}
				d.space()
				if d.peek() != ':' {
					return false
				}
				d.i++
				d.space()
			}
			if !d.value(depth + 1) {
				return false
			}
			d.space()
			switch d.peek() {
			case ',':
				d.i++
				d.space()
			case end:
				d.i++
				return true
			default:
				return false
			}
		}
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	return d.number()
}

func (d *decoder) literal(word string) bool {
	if len(d.in)-d.i < len(word) {
		return false
	}
	for j := range len(word) {
		if d.in[d.i+j] != word[j] {
			return false
		}
	}
	d.i += len(word)
	return true
}

// number checks a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() bool {
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case '1' <= c && c <= '9':
		d.digits()
	default:
		return false
	}
	if d.peek() == '.' {
		d.i++
		if !d.digits() {
			return false
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if !d.digits() {
			return false
		}
	}
	return true
}

// digits moves past one or more digits, reporting whether there was one.
func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.in) && '0' <= d.in[d.i] && d.in[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// str checks the string at i and, if decode, appends it unescaped to
// text as encoding/json's unquote does.
func (d *decoder) str(decode bool) bool {
	d.i++ // the opening quote
	for d.i < len(d.in) {
		c := d.in[d.i]
		switch {
		case c == '"':
			d.i++
			return true
		case c < ' ':
			return false
		case c == '\\':
			if d.i+1 >= len(d.in) {
				return false
			}
			if !d.escape(decode) {
				return false
			}
		case c < utf8.RuneSelf:
			// A run of plain ASCII is copied whole.
			start := d.i
			for d.i < len(d.in) && plainASCII[d.in[d.i]] {
				d.i++
			}
			if decode {
				d.text = append(d.text, d.in[start:d.i]...)
			}
		default:
			r, size := utf8.DecodeRune(d.in[d.i:])
			if decode {
				if r == utf8.RuneError && size == 1 { // a byte that is not UTF-8
					d.text = utf8.AppendRune(d.text, r)
				} else {
					d.text = append(d.text, d.in[d.i:d.i+size]...)
				}
			}
			d.i += size
		}
	}
	return false
}

// escape reads the escape sequence at i.
func (d *decoder) escape(decode bool) bool {
	var b byte
	switch d.in[d.i+1] {
	case '"', '\\', '/':
		b = d.in[d.i+1]
	case 'b':
		b = '\b'
	case 'f':
		b = '\f'
	case 'n':
		b = '\n'
	case 'r':
		b = '\r'
	case 't':
		b = '\t'
	case 'u':
		r := hex4(d.in[d.i:])
		if r < 0 {
			return false
		}
		d.i += 6
		if utf16.IsSurrogate(r) {
			// A pair decodes whole; a lone half is U+FFFD and what
			// follows it is read on its own.
			if dec := utf16.DecodeRune(r, hex4(d.in[d.i:])); dec != utf8.RuneError {
				d.i += 6
				r = dec
			} else {
				r = utf8.RuneError
			}
		}
		if decode {
			d.text = utf8.AppendRune(d.text, r)
		}
		return true
	default:
		return false
	}
	if decode {
		d.text = append(d.text, b)
	}
	d.i += 2
	return true
}

// plainASCII marks the bytes a JSON string holds as they are.
var plainASCII = func() (t [256]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// hex4 reads \uXXXX at the start of s, or returns -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
