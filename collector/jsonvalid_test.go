package collector

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var jsonSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e+10,"b":[true,false,null,{"c":"\u00e9\n\"x\\"}],"d":{}}`,
	`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","status":200}`,
	`[]`, `"s"`, `1`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":tru}`, `{"a":"\x01"}`,
	`{"a":"\q"}`, `{"a":"\u12G4"}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":[1,]}`, `{"a":1}}`, `{"a":1} x`,
	`{"a":"unterminated}`, `{"a":[1 2]}`, `{1:2}`, "{\"a\":\"tab\there\"}", `{"a":"\/"}`, `{"a":-1.5E-3}`,
	"{\"a\":\"\xff\"}", "{\"a\":\"caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xc3\"}",
	"{\"a\":\"0123456789abcdef\xc3\"}", "{\"\xc3\xa9\":1}", "{\"a\":1}\xff", "{\"a\":1,\xc3\xa9}",
	`{"long":"0123456789abcdef0123456789abcdef","esc":"0123456\"9abcdef\\0123"}`, "{\"a\":\"0123456789abcd\x1f\"}",
	strings.Repeat("[", 20) + strings.Repeat("]", 20), `{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
}

// validObject answers as encoding/json.Valid and utf8.Valid together do,
// for every input.
func FuzzValidObjectMatchesEncodingJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validObject(b), wantValidObject(b); got != want {
			t.Fatalf("validObject(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

// wantValidObject is validObject's answer, from encoding/json and
// unicode/utf8.
func wantValidObject(b []byte) bool {
	return json.Valid(b) && utf8.Valid(b) && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
}

// Every stop a string scan must see (a quote, a backslash, a control
// character, a byte of invalid UTF-8), at every offset within the eight
// bytes validObject reads at a time, and in the tail after them.
func TestValidObjectFindsEveryStopAtEveryOffset(t *testing.T) {
	for _, stop := range []string{`"`, `\\`, `\"`, `\u00e9`, `\x`, "\x00", "\x1f", "\x7f", "\xc3\xa9", "\xc3", "\xff", "\xe2\x80", "\xed\xa0\x80", "\xf0\x9f\x98\x80"} {
		for pad := range 20 {
			for _, b := range [][]byte{
				[]byte(`{"k":"` + strings.Repeat("x", pad) + stop + `yz"}`),
				[]byte(`{"k":"` + strings.Repeat("x", pad) + stop + `"}`),
				[]byte(`{"` + strings.Repeat("x", pad) + stop + `":1}`),
			} {
				if got, want := validObject(b), wantValidObject(b); got != want {
					t.Errorf("validObject(%q) = %v, encoding/json and utf8 say %v", b, got, want)
				}
			}
		}
	}
}

func TestValidObjectSeeds(t *testing.T) {
	for _, s := range jsonSeeds {
		b := []byte(s)
		if got, want := validObject(b), wantValidObject(b); got != want {
			t.Errorf("validObject(%.60q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

func BenchmarkValidObject(b *testing.B) {
	line := []byte(`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","method":"GET","path":"/v1/orders","status":200}`)
	b.Run("encoding-json-Valid", func(b *testing.B) {
		for range b.N {
			json.Valid(line)
		}
	})
	b.Run("encoding-json-Valid+utf8-Valid", func(b *testing.B) {
		for range b.N {
			_ = json.Valid(line) && utf8.Valid(line)
		}
	})
	b.Run("validObject", func(b *testing.B) {
		for range b.N {
			validObject(line)
		}
	})
}
