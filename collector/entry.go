package collector

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/zmqlog/zmqlog/topic"
)

// unknownLevel is the topic of an entry whose level cannot be told.
const unknownLevel = "UNKNOWN"

// asStoredLine returns data as the one-line JSON object the store and
// subscribers get, and whether data was a JSON object at all. An object
// spread over several lines (legal JSON) is compacted onto one.
func asStoredLine(data []byte) ([]byte, bool) {
	if len(data) < 2 || data[0] != '{' || !validObject(data) {
		return data, false
	}
	if bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0 {
		var buf bytes.Buffer
		json.Compact(&buf, data) // cannot fail: validObject said it is valid
		return buf.Bytes(), true
	}
	return data, true
}

// levelOf reads the "level" field of a JSON entry, upper-cased as the
// topic scheme wants it ("info" from zap becomes "INFO"), or returns
// UNKNOWN.
func levelOf(entry []byte) string {
	const key = `"level":"`
	i := bytes.Index(entry, []byte(key))
	if i < 0 {
		return unknownLevel
	}
	v := entry[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j <= 0 || j > 16 {
		return unknownLevel
	}
	return string(bytes.ToUpper(v[:j]))
}

// wrap turns a body that is not a JSON object into one, so the store
// stays one JSON object per line and every reader can parse it:
//
//	{"level":"WARNING","topic":"WARNING.sub","msg":"disk slow","wrapped":true}
//
// The level is the topic's level part, or UNKNOWN without a topic; msg is
// the body with trailing line endings removed.
func wrap(topicName string, body []byte) []byte {
	level := topic.Level(topicName)
	if level == "" {
		level = unknownLevel
	}
	body = bytes.TrimRight(body, "\r\n")
	out := make([]byte, 0, len(body)+len(topicName)+64)
	out = append(out, `{"level":`...)
	out = appendJSONString(out, level) // JSON's escapes, not Go's: the level comes from a peer's topic
	out = append(out, `,"topic":`...)
	out = appendJSONString(out, topicName)
	out = append(out, `,"msg":`...)
	out = appendJSONString(out, string(body))
	out = append(out, `,"wrapped":true}`...)
	return out
}

// appendJSONString appends s as a JSON string: control characters,
// quotes, backslashes, U+2028 and U+2029 escaped, invalid UTF-8 (which
// validUTF8 keeps out anyway) as U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // cannot fail for a string
	return append(dst, b...)
}

// validUTF8 reports whether both parts of an entry are valid UTF-8.
func validUTF8(topicName, data []byte) bool {
	return utf8.Valid(topicName) && utf8.Valid(data)
}
