package tail

import (
	"unicode/utf8"
)

// TerminalSafe returns s with every character that could take control of
// a terminal shown escaped, the way [strconv.Quote] writes it but without
// the quotes: "\x1b" for ESC, "\n", "\r", "\u009b" for the 8-bit CSI,
// "\u202e" for a right-to-left override, "\xff" for a byte that is not
// UTF-8. Everything else, including any printable Unicode, is kept as it
// is, so ordinary text reads unchanged.
//
// Every piece of text a peer controls goes through it before it reaches a
// person: an entry's message, keys, values, app, level and time in the
// [Printer], and peer addresses and errors in zmqtail's status lines.
// Without it a producer could forge or hide lines (\n, \r), clear the
// screen (ESC [2J), set the window title or write the user's clipboard
// (OSC 52), or reorder what the user reads (bidi overrides).
//
// What is escaped:
//   - C0 controls (U+0000–U+001F) except tab, DEL (U+007F) and C1 controls
//     (U+0080–U+009F): everything a terminal interprets as a command.
//   - Line and paragraph separators (U+2028, U+2029) and the bidi controls
//     (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069): they break
//     or reorder the displayed line.
//   - Bytes that are not valid UTF-8: a terminal in an 8-bit mode reads
//     0x9b as CSI.
//
// Tab is kept: it is zap's console field separator and a Go stack trace's
// indent, and it only moves the cursor forward over blank cells, so alone
// (every sequence that could set tab stops is escaped) it cannot hide or
// forge text.
func TerminalSafe(s string) string {
	if firstUnsafe(s) == len(s) {
		return s // the common case: no copy
	}
	return string(appendTerminalSafe(make([]byte, 0, len(s)+16), s))
}

// appendTerminalSafe appends s to dst as [TerminalSafe] returns it. Runs
// of safe text are copied whole, so text without controls costs one scan
// and one copy.
func appendTerminalSafe(dst []byte, s string) []byte {
	for {
		i := firstUnsafe(s)
		dst = append(dst, s[:i]...)
		if i == len(s) {
			return dst
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = appendHex(append(dst, `\x`...), uint32(s[i]), 2)
		} else {
			dst = appendEscapedRune(dst, r)
		}
		s = s[i+size:]
	}
}

// firstUnsafe returns the index of the first byte of s that starts a
// character to escape, or len(s) when there is none.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		if asciiSafe[s[i]] {
			i++
			continue
		}
		if s[i] < utf8.RuneSelf {
			return i
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if size == 1 || isTerminalControl(r) { // size 1 past ASCII: not UTF-8
			return i
		}
		i += size
	}
	return len(s)
}

// asciiSafe marks the ASCII bytes shown as they are: one load per byte
// on the fast path. Bytes from 0x80 start multi-byte characters, checked
// whole.
var asciiSafe = func() (t [256]bool) {
	for b := 0; b < utf8.RuneSelf; b++ {
		t[b] = !isTerminalControl(rune(b))
	}
	return t
}()

// isTerminalControl reports whether r, shown raw, could command a terminal
// or change how the rest of the line is displayed.
func isTerminalControl(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20, r >= 0x7f && r <= 0x9f: // C0, DEL, C1
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // bidi marks
		return true
	case r >= 0x2028 && r <= 0x202e: // line and paragraph separators, bidi embeddings and overrides
		return true
	case r >= 0x2066 && r <= 0x2069: // bidi isolates
		return true
	}
	return false
}

// appendEscapedRune writes r as strconv.Quote would inside its quotes.
func appendEscapedRune(dst []byte, r rune) []byte {
	switch r {
	case '\a':
		return append(dst, `\a`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\v':
		return append(dst, `\v`...)
	}
	if r < utf8.RuneSelf {
		return appendHex(append(dst, `\x`...), uint32(r), 2)
	}
	return appendHex(append(dst, `\u`...), uint32(r), 4) // every escaped rune is in the BMP
}

func appendHex(dst []byte, v uint32, digits int) []byte {
	const hex = "0123456789abcdef"
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		dst = append(dst, hex[v>>uint(shift)&0xf])
	}
	return dst
}
