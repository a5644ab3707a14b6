package vlsink

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/zmqlog/zmqlog/internal/jsonstr"
)

// ProducerKey is the key under which the store writes, into each line,
// the producer that sent it: {"zmqlog":{"app":…,"host":…,"pid":…},…}.
// VictoriaLogs flattens it into the fields zmqlog.app, zmqlog.host and
// zmqlog.pid; the first two are the stream fields.
const ProducerKey = "zmqlog"

// StreamFields are the fields that name a VictoriaLogs log stream.
const StreamFields = ProducerKey + ".app," + ProducerKey + ".host"

// Stamp returns the prefix that gives a line its producer: it replaces
// the line's opening brace (see AppendLine).
func Stamp(app, host string, pid uint32) []byte {
	b := make([]byte, 0, 48+len(app)+len(host))
	b = append(b, `{"`+ProducerKey+`":{"app":`...)
	b = jsonstr.Append(b, app)
	b = append(b, `,"host":`...)
	b = jsonstr.Append(b, host)
	b = append(b, `,"pid":`...)
	b = strconv.AppendUint(b, uint64(pid), 10)
	return append(b, "},"...)
}

// AppendLine appends line, a JSON object, with stamp in place of its
// opening brace. With no stamp, or a line that is not an object or has a
// top-level key of its own named ProducerKey (a producer's own field
// wins: it says no more than the batch header, which the producer writes
// too), the line goes as it is.
func AppendLine(dst, stamp, line []byte) []byte {
	if len(stamp) == 0 || len(line) < 2 || line[0] != '{' || hasProducerKey(line) {
		return append(dst, line...)
	}
	rest := line[1:]
	if t := bytes.TrimLeft(rest, " \t\r\n"); len(t) > 0 && t[0] == '}' {
		stamp = stamp[:len(stamp)-1] // an empty object: no comma after ours
	}
	return append(append(dst, stamp...), rest...)
}

// StampedLen is the length of AppendLine's result at most.
func StampedLen(stamp, line []byte) int { return len(stamp) + len(line) }

var producerKeyQuoted = []byte(`"` + ProducerKey + `"`)

// hasProducerKey reports whether the object line has ProducerKey at its
// top level. The quick test almost always says no: the key is neither
// there as it is nor possibly written with a \u escape; otherwise the
// line's top-level keys are decoded.
func hasProducerKey(line []byte) bool {
	if !bytes.Contains(line, producerKeyQuoted) && !bytes.Contains(line, []byte(`\u`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return false
		}
		if k == ProducerKey {
			return true
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}
