package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"testing"
	"unicode/utf8"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/topic"
)

// hostileText is every character that needs care in a JSON string: each
// C0 control, DEL, each C1 control, U+2028 and U+2029 (line breaks to
// JavaScript), quotes and backslashes, Go-only escapes, and invalid UTF-8.
func hostileText() []string {
	var out []string
	for r := rune(0); r < 0x20; r++ {
		out = append(out, string(r))
	}
	for r := rune(0x7f); r <= 0x9f; r++ {
		out = append(out, string(r))
	}
	return append(out, "\u2028", "\u2029", `"`, `\`, `\"`, `\x01`, `\u0000`, "'", "\xff", "\xc3", "\xed\xa0\x80")
}

// checkWrapped asserts that line is valid JSON and says what wrap was
// given: the topic's level, the topic, the body without trailing line
// endings.
func checkWrapped(t *testing.T, line []byte, topicName string, body []byte) {
	t.Helper()
	if !json.Valid(line) {
		t.Fatalf("wrap(%q, %q) = %s: not valid JSON", topicName, body, line)
	}
	if !utf8.ValidString(topicName) || !utf8.Valid(body) {
		return // stored never: the collector skips an entry that is not UTF-8 first
	}
	var got struct {
		Level, Topic, Msg string
		Wrapped           bool
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	level := topic.Level(topicName)
	if level == "" {
		level = unknownLevel
	}
	want := string(bytes.TrimRight(body, "\r\n"))
	if got.Level != level || got.Topic != topicName || got.Msg != want || !got.Wrapped {
		t.Fatalf("wrap(%q, %q) = %s, decodes to %+v", topicName, body, line, got)
	}
}

// A wrapped entry is valid JSON whatever its topic and body hold; the
// level used to be quoted Go-style ("\x01"), which JSON does not know.
func TestWrapIsValidJSONForEveryCharacter(t *testing.T) {
	for _, s := range hostileText() {
		for _, tc := range []struct{ topic, body string }{
			{s, "text"},
			{"ERR" + s + "OR", "text"},
			{"ERROR." + s, "text"},
			{s + "." + s, s},
			{"INFO", "a" + s + "b"},
			{"", s},
		} {
			checkWrapped(t, wrap(tc.topic, []byte(tc.body)), tc.topic, []byte(tc.body))
		}
	}
}

func FuzzWrapIsValidJSON(f *testing.F) {
	for _, s := range hostileText() {
		f.Add(s, []byte(s))
	}
	f.Add("WARNING.sub", []byte("disk slow\r\n"))
	f.Fuzz(func(t *testing.T, topicName string, body []byte) {
		checkWrapped(t, wrap(topicName, body), topicName, body)
	})
}

// Through a running collector: every stored line is valid JSON, whatever
// characters the topics and bodies of plain messages hold.
func TestEveryStoredLineIsValidJSON(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{NoPub: true})
	push := dialPush(t, c.PullEndpoint())
	sent := 0
	for _, s := range hostileText() {
		for _, m := range [][][]byte{
			{[]byte("ERR" + s + "OR.app"), []byte("body " + s)},
			{[]byte(s), []byte(s + "\n")},
			{[]byte("level " + s)}, // [entry]: no topic
			{[]byte(fmt.Sprintf(`{"level":"x%sy"}`, s))},
		} {
			if err := push.Send(ctx, zsock.Plain(m)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	testsupport.WaitFor(t, ctx, "every message handled", func() bool { return c.Stats().Messages == uint64(sent) })
	c.stop()
	st := c.Stats()
	lines := readLines(t, c.file)
	if uint64(len(lines)) != st.Stored || st.Stored+st.InvalidUTF8 != uint64(sent) || st.Wrapped == 0 {
		t.Fatalf("sent %d, %d lines, stats %+v", sent, len(lines), st)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("stored line is not JSON: %s", l)
		}
	}
}

// A JSON object whose strings hold invalid UTF-8 is skipped and counted,
// as any entry that is not UTF-8 is: the validator that reads the object
// checks its UTF-8 too, and the store never gets such a line. Its valid
// neighbours, non-ASCII ones included, are stored as they came.
func TestObjectWithInvalidUTF8IsSkippedAndCounted(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{NoPub: true})
	push := dialPush(t, c.PullEndpoint())
	good := []string{`{"level":"info","msg":"café ☕ 😀"}`, `{"level":"info","msg":"0123456789abcdef0123456789 é"}`}
	bad := []string{"{\"level\":\"info\",\"msg\":\"caf\xc3\"}", "{\"level\":\"info\",\"msg\":\"0123456789abcdef\xff0123\"}", "{\"lev\xed\xa0\x80el\":\"info\"}"}
	for _, e := range append(append([]string{}, bad...), good...) {
		if err := push.Send(ctx, zsock.Plain([][]byte{[]byte("INFO"), []byte(e)})); err != nil {
			t.Fatal(err)
		}
	}
	sent := len(good) + len(bad)
	testsupport.WaitFor(t, ctx, "every message handled", func() bool { return c.Stats().Messages == uint64(sent) })
	c.stop()
	st := c.Stats()
	lines := readLines(t, c.file)
	if st.InvalidUTF8 != uint64(len(bad)) || st.Stored != uint64(len(good)) || len(lines) != len(good) {
		t.Fatalf("stats %+v, lines %q", st, lines)
	}
	for i, l := range lines {
		if !utf8.ValidString(l) || l != good[i] {
			t.Errorf("stored %q, want %q", l, good[i])
		}
	}
}
