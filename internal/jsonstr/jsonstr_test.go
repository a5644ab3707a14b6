package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every string reads back through encoding/json as it was (invalid bytes
// as U+FFFD), HTML characters stay as they are, and the characters that
// break JSON embedded in JavaScript are escaped.
func TestAppendReadsBackAsEncodingJSONWould(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and backslash \`, "line\nreturn\rtab\tbell\x07nul\x00del\x7f",
		"<b>&amp;</b>", "é 日本 🙂", "sep\u2028par\u2029", "bad \xff\xfe utf8", "\x1b[31mred",
		strings.Repeat("long plain text ", 100),
	} {
		out := Append(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q wrote %s, which encoding/json refuses: %v", s, out, err)
		}
		if want := eachInvalidByteReplaced(s); back != want {
			t.Errorf("%q read back as %q", s, back)
		}
		if strings.Contains(s, "<") && !strings.Contains(string(out), "<") {
			t.Errorf("%q: HTML characters escaped: %s", s, out)
		}
		if strings.ContainsAny(string(out), "\u2028\u2029\n\x00\x1b") {
			t.Errorf("%q: a character JSON must escape is written raw: %q", s, out)
		}
	}
}

// eachInvalidByteReplaced is s with each byte that is not valid UTF-8
// replaced by U+FFFD, as encoding/json writes and reads it.
func eachInvalidByteReplaced(s string) string {
	var b strings.Builder
	for _, r := range s { // ranging over a string yields U+FFFD per invalid byte
		b.WriteRune(r)
	}
	return b.String()
}
