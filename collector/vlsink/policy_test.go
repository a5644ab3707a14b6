package vlsink

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The cursor moves only past batches whose predecessors are all
// acknowledged, whatever order the acknowledgements come in.
func TestTrackerAdvancesOnlyPastContiguousAcknowledgements(t *testing.T) {
	for _, tc := range []struct {
		name   string
		order  []uint64
		offset []int64 // the cursor after each acknowledgement; -1: unchanged
	}{
		{"in order", []uint64{0, 1, 2}, []int64{10, 20, 30}},
		{"last first", []uint64{2, 1, 0}, []int64{-1, -1, 30}},
		{"middle late", []uint64{0, 2, 1}, []int64{10, -1, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(position{Offset: 0}, true)
			for range 3 {
				tr.issue()
			}
			for i, seq := range tc.order {
				tr.acked(seq, ack{end: position{Offset: int64(seq+1) * 10}, hasEnd: true, entries: 1})
				p, changed := tr.cursor()
				if want := tc.offset[i]; (want < 0) == changed || (changed && p.Offset != want) {
					t.Fatalf("after acknowledging %d: cursor %d (changed %v), want %d", seq, p.Offset, changed, want)
				}
			}
			if !tr.settled() || tr.ackedEntries() != 3 {
				t.Fatalf("settled %v, entries %d", tr.settled(), tr.ackedEntries())
			}
		})
	}
}

// A stored line carries its producer, stays one valid JSON object, and a
// producer's own top-level "zmqlog" key is left alone.
func TestAppendLineStampsTheProducer(t *testing.T) {
	stamp := Stamp(`app "q"`, "h\u2028ost", 7)
	const want = `{"app":"app \"q\"","host":"h\u2028ost","pid":7}` // U+2028 escaped, as JavaScript needs
	for _, tc := range []struct {
		line string
		want string // the zmqlog field as JSON; "" when the line goes as it is
	}{
		{`{"level":"info","msg":"m"}`, want},
		{`{}`, want},
		{`{ }`, want},
		{`{"msg":"a \"zmqlog\" in a value"}`, want},
		{`{"zmqlog":"mine","msg":"m"}`, ""},
		{`{"zmq\u006cog":"mine, escaped"}`, ""},
		{`{"msg":"caf\u00e9"}`, want},
		{`{"a":{"zmqlog":1}}`, want},
	} {
		out := AppendLine(nil, stamp, []byte(tc.line))
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(out, &obj); err != nil {
			t.Fatalf("%s: %s is not JSON: %v", tc.line, out, err)
		}
		if tc.want == "" {
			if string(out) != tc.line {
				t.Errorf("%s: became %s, want it as it was", tc.line, out)
			}
			continue
		}
		if string(obj[ProducerKey]) != tc.want {
			t.Errorf("%s: %s = %s, want %s", tc.line, ProducerKey, obj[ProducerKey], tc.want)
		}
		if len(out) > StampedLen(stamp, []byte(tc.line)) {
			t.Errorf("%s: %d bytes, more than StampedLen", tc.line, len(out))
		}
	}
	if out := AppendLine(nil, nil, []byte(`{"a":1}`)); string(out) != `{"a":1}` {
		t.Errorf("no stamp: %s", out)
	}
}

func TestParseURLsNamesTheBadOne(t *testing.T) {
	if got, err := ParseURLs("http://a:9428/, https://b:9481"); err != nil || strings.Join(got, " ") != "http://a:9428 https://b:9481" {
		t.Fatalf("got %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"127.0.0.1:9428":                  `"127.0.0.1:9428"`,
		"ftp://a":                         "want http:// or https://",
		"http://a:9428,":                  "an empty URL",
		"http://a:9428/insert/jsonline":   "without /insert/jsonline",
		"http://a:9428/?_stream_fields=x": "without a query",
		"http://:9428":                    "no host",
		"http://a:9428, http://b:bad":     `"http://b:bad"`,
	} {
		if _, err := ParseURLs(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURLs(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

// Without a store file the memory buffer takes lines up to its limit and
// counts the rest; it hands them out in batches of whole lines.
func TestMemoryBufferDropsPastItsLimitAndCounts(t *testing.T) {
	m := &memBuffer{limit: 1000, maxChunk: 300}
	line := []byte(`{"msg":"` + strings.Repeat("x", 89) + `"}`) // 100 bytes with its newline
	for range 15 {
		m.add(nil, line)
	}
	if n, dropped := m.counts(); n != 10 || dropped != 5 {
		t.Fatalf("buffered %d, dropped %d; want 10 and 5", n, dropped)
	}
	total := 0
	for {
		data, entries, ok := m.take(true)
		if !ok {
			break
		}
		if len(data) > 300 || strings.Count(string(data), "\n") != entries || data[len(data)-1] != '\n' {
			t.Fatalf("a chunk of %d bytes, %d entries: %q", len(data), entries, data)
		}
		total += entries
	}
	if total != 10 {
		t.Fatalf("took %d entries, want 10", total)
	}
	if !m.add(nil, line) {
		t.Fatal("the buffer is empty again but refused a line")
	}
}

func TestBackoffGrowsWithJitterWithinItsCeiling(t *testing.T) {
	b := backoff{base: 100 * time.Millisecond, ceiling: 5 * time.Second}
	for n, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := b.wait(n)
			if d < want/2 || d > want {
				t.Fatalf("wait(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("wait(%d) took %d values in 50 draws: not jittered", n, len(seen))
		}
	}
	if d := b.wait(1000); d > 5*time.Second || d < 2500*time.Millisecond {
		t.Fatalf("wait(1000) = %v, want within the ceiling", d)
	}
}

// A password in a URL (basic auth, as a proxy in front of VictoriaLogs
// may want) never reaches logs or metric labels.
func TestURLPasswordStaysOutOfMetrics(t *testing.T) {
	c := newClient([]string{"https://user:secret@vl.example:9428"}, time.Second, 1, false)
	if n := c.nodes[0]; strings.Contains(n.base, "secret") || !strings.Contains(n.insert, "secret") {
		t.Fatalf("shown %q, used %q", n.base, n.insert)
	}
}
