package vlsink

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Whatever JSON object a producer sends, and whatever names its header
// carries, the stamped line is one JSON object whose "zmqlog" field is
// the header's producer, unless the producer had a top-level "zmqlog" of
// its own; the rest of the object is unchanged.
func FuzzAppendLineKeepsJSONValid(f *testing.F) {
	for _, seed := range []string{`{}`, `{ }`, `{"a":1}`, `{"zmqlog":2}`, `{"a":{"zmqlog":1}}`, "{\n\"msg\":\"x\"}", `{"zmq\u006cog":1}`} {
		f.Add([]byte(seed), "app", "host", uint32(1))
	}
	f.Fuzz(func(t *testing.T, line []byte, app, host string, pid uint32) {
		var orig map[string]json.RawMessage
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &orig) != nil || !json.Valid(line) {
			return // the store hands only JSON objects (validObject) to AppendLine
		}
		out := AppendLine(nil, Stamp(app, host, pid), line)
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q became %q: %v", line, out, err)
		}
		if bytes.Equal(out, line) {
			if _, own := orig[ProducerKey]; !own {
				t.Fatalf("%q was not stamped", line)
			}
			return
		}
		var p struct {
			App, Host string
			PID       uint32
		}
		if err := json.Unmarshal(got[ProducerKey], &p); err != nil {
			t.Fatalf("%q: zmqlog %s: %v", out, got[ProducerKey], err)
		}
		wantApp, _ := json.Marshal(app) // invalid UTF-8 becomes U+FFFD both ways
		wantHost, _ := json.Marshal(host)
		var a, h string
		json.Unmarshal(wantApp, &a)
		json.Unmarshal(wantHost, &h)
		if p.App != a || p.Host != h || p.PID != pid {
			t.Fatalf("producer %+v, want %q %q %d", p, a, h, pid)
		}
		delete(got, ProducerKey)
		if len(got) != len(orig) {
			t.Fatalf("%q: %d fields besides zmqlog, want %d", out, len(got), len(orig))
		}
	})
}
