package tail

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestTerminalSafe(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"ordinary text", "card declined amount=12.5", "card declined amount=12.5"},
		{"printable unicode", "héllo 世界 🚀 \ufffd", "héllo 世界 🚀 \ufffd"},
		{"backslash stays", `C:\logs\app.log`, `C:\logs\app.log`},
		{"tab stays", "a\tb", "a\tb"},
		{"forged line", "ok\n16:00:00.000 INFO  [bank] approved", `ok\n16:00:00.000 INFO  [bank] approved`},
		{"carriage return", "secret\rpublic", `secret\rpublic`},
		{"clear screen", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"OSC 52 clipboard", "\x1b]52;c;cm0gLXJmIH4=\x07", `\x1b]52;c;cm0gLXJmIH4=\a`},
		{"window title", "\x1b]0;pwned\x1b\\", `\x1b]0;pwned\x1b\`},
		{"short escapes", "\a\b\f\v", `\a\b\f\v`},
		{"NUL and DEL", "\x00\x7f", `\x00\x7f`},
		{"C1 CSI", "\u009b31mred", `\u009b31mred`},
		{"C1 range ends", "\u0080\u009f\u00a0", `\u0080\u009f` + "\u00a0"},
		{"bidi override", "invoice\u202efdp.exe", `invoice\u202efdp.exe`},
		{"bidi embeddings", "\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"bidi isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"bidi marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"line separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"raw 8-bit CSI byte", "\x9b2J", `\x9b2J`},
		{"invalid UTF-8", "\xff\xfeok", `\xff\xfeok`},
		{"truncated character", "caf\xc3", `caf\xc3`},
		{"surrogate half", "\xed\xa0\x80", `\xed\xa0\x80`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TerminalSafe(tc.in)
			if got != tc.want {
				t.Errorf("TerminalSafe(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if i := firstUnsafe(got); i != len(got) {
				t.Errorf("output %q still holds a control at %d", got, i)
			}
		})
	}
}

// Each escaped character is written as strconv.Quote writes it, and every
// one is a character strconv.Quote escapes too: the rule reads like Go.
func TestTerminalSafeWritesEscapesAsStrconvQuote(t *testing.T) {
	escaped := 0
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) || !isTerminalControl(r) {
			continue
		}
		escaped++
		s := string(r)
		if unicode.IsPrint(r) {
			t.Errorf("%U is printable but escaped", r)
		}
		if got, want := `"`+TerminalSafe(s)+`"`, strconv.Quote(s); got != want {
			t.Errorf("%U: got %s, strconv.Quote writes %s", r, got, want)
		}
	}
	for b := 0x80; b <= 0xff; b++ { // lone bytes that are not UTF-8
		s := string([]byte{byte(b)})
		if got, want := `"`+TerminalSafe(s)+`"`, strconv.Quote(s); got != want {
			t.Errorf("byte %#x: got %s, strconv.Quote writes %s", b, got, want)
		}
	}
	if escaped != 31+1+32+3+7+4 { // C0 but tab, DEL, C1, bidi marks, U+2028–U+202E, isolates
		t.Errorf("%d runes escaped", escaped)
	}
}

// FuzzTerminalSafe: whatever a peer sends, the output holds no control,
// is valid UTF-8, and reads back to the input as a Go string literal.
func FuzzTerminalSafe(f *testing.F) {
	for _, s := range []string{"", "plain", "a\nb\r\x1b[2J", "\x1b]52;c;aGk=\x07", "\u009b\u202e\u2066", "\xff\x9b\xc3", `quote " and \ backslash`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := TerminalSafe(s)
		if i := firstUnsafe(got); i != len(got) {
			t.Fatalf("TerminalSafe(%q) = %q: control at %d", s, got, i)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("TerminalSafe(%q) = %q: not UTF-8", s, got)
		}
		if (got == s) != (firstUnsafe(s) == len(s)) {
			t.Fatalf("TerminalSafe(%q) = %q: changed text that was safe, or kept text that was not", s, got)
		}
		if !strings.ContainsAny(s, `"\`) {
			back, err := strconv.Unquote(`"` + got + `"`)
			if err != nil || back != s {
				t.Fatalf("TerminalSafe(%q) = %q reads back as %q, %v", s, got, back, err)
			}
		}
	})
}

func ExampleTerminalSafe() {
	fmt.Println(TerminalSafe("card declined"))
	fmt.Println(TerminalSafe("ok\r\x1b[2Jforged \u202eevil"))
	// Output:
	// card declined
	// ok\r\x1b[2Jforged \u202eevil
}

// BenchmarkTerminalSafe: appending a typical message with no control, and
// one with controls, beside a plain copy of the same bytes.
func BenchmarkTerminalSafe(b *testing.B) {
	clean := "request served to 10.0.0.7 in 12ms, héllo wörld, order 4711 shipped"
	hostile := "request \x1b[2Jserved\r to 10.0.0.7\n in \u202e12ms \u009b31m, order 4711 shipped"
	for _, tc := range []struct {
		name string
		s    string
		fn   func([]byte, string) []byte
	}{
		{"clean/copy", clean, func(dst []byte, s string) []byte { return append(dst, s...) }},
		{"clean/escape", clean, appendTerminalSafe},
		{"hostile/copy", hostile, func(dst []byte, s string) []byte { return append(dst, s...) }},
		{"hostile/escape", hostile, appendTerminalSafe},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.s)))
			buf := make([]byte, 0, 4*len(tc.s))
			for b.Loop() {
				buf = tc.fn(buf[:0], tc.s)
			}
		})
	}
}
