package tail

import (
	"bytes"
	"strings"
	"testing"
)

// Entries whose decoding encoding/json defines in a corner: the printer
// shows each exactly as it did when it decoded with encoding/json.
var jsonCorners = []struct{ topic, entry string }{
	{"INFO.a", `{"msg":"first","msg":"last","k":1,"k":"two"}`},
	{"INFO.a", `{"m\u0073g":"escaped key","\u006b":"v"}`},
	{"INFO.a", `{"msg":"pair \ud83d\ude80 lone \ud800 then \udc00 end \ud800\u0041"}`},
	{"INFO.a", "{\"msg\":\"bad utf8 \xff\xfe \xed\xa0\x80 \xc3\",\"k\xff\":\"v\"}"},
	{"INFO.a", `{"msg":"slash \/ quote \" back \\ \b\f\n\r\t"}`},
	{"INFO.a", `{"msg":"trailing garbage ignored"} not json {`},
	{"INFO.a", `{"msg":"two objects"}{"msg":"second"}`},
	{"INFO.a", "{ \"msg\" :\t\"spaces\" ,\r\n \"n\" : -0.5e+10 }"},
	{"INFO.a", ` {"msg":"leading space: not an object"}`},
	{"INFO.a", `{"msg":"bad escape \'"}`},
	{"INFO.a", `{"msg":"bad number","n":01}`},
	{"INFO.a", `{"msg":"bad number","n":1.}`},
	{"INFO.a", `{"msg":"bad number","n":-}`},
	{"INFO.a", `{"msg":"bad literal","b":tru}`},
	{"INFO.a", `{"msg":"literal run-on","b":truex}`},
	{"INFO.a", `{"msg":"unterminated`},
	{"INFO.a", `{"msg":"no close"`},
	{"INFO.a", `{"msg":"trailing comma",}`},
	{"INFO.a", "{\"msg\":\"raw control \x01\"}"},
	{"INFO.a", `{}`},
	{"INFO.a", `{"n":1e400,"ts":1e400,"big":123456789012345678901234567890}`},
	{"INFO.a", `{"ts":"2026-11-27T17:00:03.25+01:00","msg":"offset time"}`},
	{"INFO.a", `{"ts":"yesterday","msg":"not a time"}`},
	{"INFO.a", `{"ts":true,"msg":"bool time"}`},
	{"INFO.a", `{"ts":{"s":1},"time":2,"msg":"object time, time stays a field"}`},
	{"INFO.a", `{"level":5,"severity":"warn","msg":"level not a string"}`},
	{"INFO.a", `{"level":"","msg":"empty level"}`},
	{"INFO.a", `{"level":"Info","msg":"mixed case"}`},
	{"INFO.a", `{"level":"ünïcode","msg":"non-ASCII level"}`},
	{"INFO.a", `{"logger":{"a":[1,{"b":null}]},"msg":{"x":"<&>\u2028"}}`},
	{"INFO.a", `{"msg":"arrays","a":[],"o":{},"n":[1,"two",[3]],"s":"\u003c"}`},
	{"INFO.a", `{"msg":"obj dup keys","o":{"b":1,"a":2,"b":3}}`},
	{"INFO.a", `{"wrapped":true,"topic":"X","msg":"wrapped"}`},
	{"INFO.a", `{"wrapped":false,"topic":"X","msg":"not wrapped"}`},
	{"INFO.a", `{"wrapped":"true","topic":"X","msg":"wrapped as a string"}`},
	{"INFO.a", `{"wrapped":true,"msg":"wrapped, no topic"}`},
	{"INFO.a", `{"msg":"source null","source":{"file":null,"line":true}}`},
	{"INFO.a", `{"msg":"source partial","source":{"line":7}}`},
	{"INFO.a", `{"msg":"source nested","source":{"file":{"a":1},"line":[2]}}`},
	{"INFO.a", `{"msg":"source dup","source":{"file":"a","file":"b","line":1}}`},
	{"INFO.a", `{"msg":"source array","source":[1,2]}`},
	{"INFO.a", `{"msg":"caller and source","caller":"c:1","source":{"file":"f","line":2}}`},
	{"INFO.a", `{"msg":"multi","a":"x\ny","stacktrace":"s\n\tt\n","b":"z\n\n","c":"\n"}`},
	{"INFO.a", `{"msg":"line\nin message","logger":"l\nl"}`},
	{"INFO.a", `{"msg":"keys","":"empty","a b":"c d","k=":"=","q\"":"\"","t\t":"\t"}`},
	{"INFO.a", `{"msg":"bidi \u202e and C1 \u009b in values","v\u2066":"\u2028"}`},
	{"INFO.a", `{"msg":"nest ok","o":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`},
	{"INFO.a", `{"msg":"nest too deep","o":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`},
}

// printBoth prints entries with Printer and with the encoding/json
// reference, returning both outputs.
func printBoth(t testing.TB, opts Options, entries []struct{ topic, entry string }) (got, want []byte) {
	var out, ref bytes.Buffer
	p, r := NewPrinter(&out, opts), newRefPrinter(&ref, opts)
	for _, e := range entries {
		if err := p.Print(e.topic, []byte(e.entry)); err != nil {
			t.Fatal(err)
		}
		if err := r.Print(e.topic, []byte(e.entry)); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes(), ref.Bytes()
}

// printerOptions are the option sets the differential tests run.
var printerOptions = []Options{
	{UTC: true},
	{UTC: true, Color: true},
	{},
	{UTC: true, TimeLayout: "2006-01-02 Mon Jan \x1b 15:04:05.000000 MST"},
	{UTC: true, Fields: []string{"k", "n", "msg", "a", "a", "stacktrace", "status", "amount", "", "caller"}},
}

// The printer decodes entries itself, without encoding/json's map: its
// output stays byte for byte what it was with the map, for every sample,
// hostile entry and JSON corner, under every option.
func TestPrinterMatchesEncodingJSONReference(t *testing.T) {
	entries := append(append(append([]struct{ topic, entry string }{}, samples...), hostileEntries(t)...), jsonCorners...)
	for _, opts := range printerOptions {
		for _, e := range entries {
			got, want := printBoth(t, opts, []struct{ topic, entry string }{e})
			if !bytes.Equal(got, want) {
				t.Errorf("opts %+v, Print(%q, %.200q):\n got %q\nwant %q", opts, e.topic, e.entry, got, want)
			}
		}
	}
}

// FuzzPrinterMatchesReference: whatever a producer sends, Printer writes
// what the encoding/json reference writes.
func FuzzPrinterMatchesReference(f *testing.F) {
	for _, e := range append(append([]struct{ topic, entry string }{}, samples...), jsonCorners[:len(jsonCorners)-2]...) {
		f.Add(e.topic, e.entry, uint8(0))
	}
	f.Fuzz(func(t *testing.T, topicName, body string, option uint8) {
		opts := printerOptions[int(option)%len(printerOptions)]
		got, want := printBoth(t, opts, []struct{ topic, entry string }{{topicName, body}})
		if !bytes.Equal(got, want) {
			t.Fatalf("Print(%q, %q):\n got %q\nwant %q", topicName, body, got, want)
		}
	})
}

// Printing a typical zap or slog entry costs at most 5 allocations: the
// printer reuses its line buffer and its decoded fields, and the entry's
// text costs one string.
func TestPrinterAllocationsPerEntry(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts; run without -race")
	}
	const most = 5
	for _, tc := range []struct {
		name  string
		opts  Options
		topic string
		entry string
	}{
		{"zap", Options{}, samples[0].topic, samples[0].entry},
		{"zap stacktrace", Options{}, samples[1].topic, samples[1].entry},
		{"zap color", Options{Color: true}, samples[1].topic, samples[1].entry},
		{"slog source", Options{UTC: true}, samples[3].topic, `{"time":"2026-11-27T16:00:03.250Z","level":"INFO","source":{"function":"main.run","file":"/src/billing/main.go","line":31},"msg":"request served","method":"GET","status":200,"took":"12.3ms"}`},
		{"slog", Options{}, "INFO.api", `{"time":"2026-11-27T16:00:03.250Z","level":"INFO","msg":"listening","addr":":8080","note":"ready to serve"}`},
		{"fields", Options{Fields: []string{"status", "path"}}, samples[0].topic, samples[0].entry},
	} {
		p := NewPrinter(discard{}, tc.opts)
		body := []byte(tc.entry)
		got := testing.AllocsPerRun(1000, func() { p.Print(tc.topic, body) })
		t.Logf("%s: %v allocations per entry", tc.name, got)
		if got > most {
			t.Errorf("%s: %v allocations per entry, want at most %d", tc.name, got, most)
		}
	}
}

// discard is io.Discard without io.Discard's ReadFrom pool.
type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
