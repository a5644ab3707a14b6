package collector

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unicode/utf8"

	"github.com/zmqlog/zmqlog/internal/jsonstr"
)

// validObject reports whether b is exactly one JSON object, surrounded by
// optional white space, and valid UTF-8: the same answer as
// encoding/json.Valid(b) && utf8.Valid(b) for such input (a differential
// fuzz test holds it to that). It is one pass instead of two, several
// times faster than encoding/json on log lines: strings, which are most of
// a log entry, are skipped eight bytes at a time (stringStops), and only
// their non-ASCII characters are decoded. Outside strings JSON allows
// ASCII only, so checking UTF-8 inside them checks all of b.
func validObject(b []byte) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i, ok := scanObject(b, i, 1)
	if i == tooDeep {
		// A peer's deep nesting would grow the stack of the connection
		// goroutine that handles it (Serve): encoding/json keeps its
		// nesting on the heap.
		return json.Valid(b) && utf8.Valid(b)
	}
	return ok && skipSpace(b, i) == len(b)
}

// scanShortString returns the index after the string at b[i] if it is
// one of at most shortString plain ASCII bytes, and 0 for anything else
// (no string there, or one scanString must read).
func scanShortString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return 0
	}
	end := min(len(b), i+1+shortString)
	for j := i + 1; j < end; j++ {
		if !plainASCII[b[j]] {
			if b[j] == '"' {
				return j + 1
			}
			return 0
		}
	}
	return 0
}

// shortString is how long a string scanShortString reads at most: longer
// ones are left to scanString, which reads them eight bytes at a time.
const shortString = 24

// maxDepth is how deep validObject recurses; deeper input is left to
// encoding/json (tooDeep is the index the scan then returns).
const maxDepth, tooDeep = 64, -1

func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanValue checks the value starting at b[i] and returns the index after it.
func scanValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{':
		return scanObject(b, i, depth+1)
	case c == '[':
		return scanArray(b, i, depth+1)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return i, false
}

func scanObject(b []byte, i, depth int) (int, bool) {
	if depth > maxDepth {
		return tooDeep, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		// Keys and string values, what a log line is mostly made of, are
		// read inline when short and plain (scanShortString), rather than
		// in a call per token.
		var ok bool
		if j := scanShortString(b, i); j > 0 {
			i = j
		} else if i, ok = scanString(b, i); !ok {
			return i, false
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		i = skipSpace(b, i+1)
		if j := scanShortString(b, i); j > 0 {
			i = j
		} else if i, ok = scanValue(b, i, depth); !ok {
			return i, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func scanArray(b []byte, i, depth int) (int, bool) {
	if depth > maxDepth {
		return tooDeep, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = scanValue(b, i, depth); !ok {
			return i, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// plainASCII marks the bytes a JSON string may hold as they are and that
// are whole characters: ASCII but '"', '\\' and control characters.
var plainASCII = func() (t [256]bool) {
	for c := range t {
		t[c] = jsonstr.Safe(byte(c)) // one definition of JSON's plain bytes, with the writer's
	}
	return t
}()

// The words stringStops reads: a byte repeated in each of eight lanes,
// and each lane's top bit.
const (
	lanes   = 0x0101010101010101
	topBits = 0x8080808080808080
)

// stringStops marks, with its top bit, each byte of the eight in x that a
// string scan must look at: '"', '\\', a control character, or a byte of a
// multi-byte UTF-8 sequence. Only the lowest mark is exact (a borrow can
// mark a byte above a marked one), which is all scanString uses.
func stringStops(x uint64) uint64 {
	quote := x ^ (lanes * '"')
	backslash := x ^ (lanes * '\\')
	return ((quote-lanes)&^quote | (backslash-lanes)&^backslash | (x-lanes*0x20)&^x | x) & topBits
}

func scanString(b []byte, i int) (int, bool) {
	i++ // the opening quote
	for {
		// Most keys and values are short: a table lookup a byte finds
		// their end soonest. Past eight plain bytes, eight at a time.
		for end := min(len(b), i+8); i < end && plainASCII[b[i]]; {
			i++
		}
		if i < len(b) && plainASCII[b[i]] {
			for i+8 <= len(b) {
				if stops := stringStops(binary.LittleEndian.Uint64(b[i:])); stops != 0 {
					i += bits.TrailingZeros64(stops) >> 3
					break
				}
				i += 8
			}
			for i < len(b) && plainASCII[b[i]] {
				i++ // the last few bytes
			}
		}
		if i >= len(b) {
			return i, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, false
				}
				for _, h := range b[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return i, false
					}
				}
				i += 6
			default:
				return i, false
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, false // not UTF-8
			}
			i += size
		default: // a control character
			return i, false
		}
	}
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// scanNumber follows JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return i, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
