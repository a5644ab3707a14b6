// Package jsonstr writes a string as JSON does: encoding/json's escaping
// without its HTML escaping ('<', '>' and '&' stay as they are), which is
// how log/slog's JSONHandler writes strings: '"' and '\\' escaped,
// control characters as \n, \r, \t or \u00XX, U+2028 and U+2029 as \u
// escapes, and invalid UTF-8 as U+FFFD. encoding/json reads every string
// back as it was written (but the invalid bytes).
package jsonstr

import "unicode/utf8"

// Append appends s as a JSON string, in quotes.
func Append(buf []byte, s string) []byte {
	buf = append(buf, '"')
	buf = appendEscaped(buf, s)
	return append(buf, '"')
}

// Safe reports whether the ASCII byte b stands in a JSON string as it is:
// all but the control characters, '"' and '\\'.
func Safe(b byte) bool { return b < utf8.RuneSelf && safe[b] }

// appendEscaped appends s escaped as a JSON string's contents, quotes
// not included.
func appendEscaped(buf []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe[b] {
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

// safe marks the ASCII bytes a JSON string holds unescaped: all but
// the control characters, '"' and '\\'.
var safe = func() (set [utf8.RuneSelf]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		set[b] = b != '"' && b != '\\'
	}
	return set
}()
