package collector

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/zmqlog/zmqlog/internal/jsonstr"
	"github.com/zmqlog/zmqlog/topic"
)

// unknownLevel is the topic of an entry whose level cannot be told.
const unknownLevel = "UNKNOWN"

// entryBody is what asStoredLine found an entry's body to be.
type entryBody uint8

const (
	bodyObject  entryBody = iota // a JSON object: stored as it is (compacted if on several lines)
	bodyText                     // valid UTF-8 but no JSON object: stored wrapped
	bodyNotUTF8                  // not valid UTF-8: not stored
)

// asStoredLine returns data as the one-line JSON object the store and
// subscribers get, when data is a JSON object in valid UTF-8, and says
// what data is. An object spread over several lines (legal JSON) is
// compacted onto one. The usual entry, an object, is read once:
// validObject checks its UTF-8 too.
func asStoredLine(data []byte) ([]byte, entryBody) {
	if len(data) < 2 || data[0] != '{' || !validObject(data) {
		if !utf8.Valid(data) {
			return data, bodyNotUTF8
		}
		return data, bodyText
	}
	if bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0 {
		var buf bytes.Buffer
		json.Compact(&buf, data) // cannot fail: validObject said it is valid
		return buf.Bytes(), bodyObject
	}
	return data, bodyObject
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
	out = jsonstr.Append(out, level) // JSON's escapes, not Go's: the level comes from a peer's topic
	out = append(out, `,"topic":`...)
	out = jsonstr.Append(out, topicName)
	out = append(out, `,"msg":`...)
	out = jsonstr.Append(out, string(body))
	out = append(out, `,"wrapped":true}`...)
	return out
}
