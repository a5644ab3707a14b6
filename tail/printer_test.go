package tail

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zmqlog/zmqlog/topic"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// samples are entries as the collector publishes them: topic and body.
var samples = []struct{ topic, entry string }{
	// zap's production JSON encoder
	{"INFO.checkout", `{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","method":"GET","path":"/v1/orders","status":200,"took":0.0123}`},
	{"ERROR.checkout", `{"level":"error","ts":1764259201.5,"logger":"payments","caller":"pay/pay.go:88","msg":"card declined","amount":12.5,"reason":"card expired","stacktrace":"github.com/acme/pay.Charge\n\t/src/pay/pay.go:88\nmain.main\n\t/src/main.go:12"}`},
	{"DPANIC.checkout", `{"level":"dpanic","ts":1764259202,"msg":"invariant broken","order":{"id":7,"items":[1,2]}}`},
	// slog's JSONHandler, with AddSource and a group
	{"WARN.billing", `{"time":"2026-11-27T16:00:03.250Z","level":"WARN","source":{"function":"main.run","file":"/src/billing/main.go","line":31},"msg":"slow query","db":{"ms":1500,"table":"invoices"}}`},
	{"ERROR+4.billing", `{"time":"2026-11-27T16:00:04Z","level":"ERROR+4","msg":"giving up","error":"connection refused\ndial tcp 10.0.0.9:5432"}`},
	// wrapped by the collector (a pyzmq PUBHandler text line)
	{"WARNING.legacy", `{"level":"WARNING","topic":"WARNING.legacy","msg":"disk 91% full","wrapped":true}`},
	// not JSON at all (zap's console encoder, a raw pyzmq message)
	{"INFO.console", "2026-11-27T16:00:05.000Z\tINFO\tconsole line\t{\"n\": 2}"},
	{"UNKNOWN", "just some text\n"},
	{"CRITICAL", `{"msg":"no level field, level from the topic"}`},
}

func printAll(t *testing.T, opts Options) []byte {
	var out bytes.Buffer
	p := NewPrinter(&out, opts)
	for _, s := range samples {
		if err := p.Print(s.topic, []byte(s.entry)); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestPrinterGolden(t *testing.T) {
	golden(t, "plain.golden", printAll(t, Options{UTC: true}))
	golden(t, "color.golden", printAll(t, Options{UTC: true, Color: true}))
	golden(t, "fields.golden", printAll(t, Options{UTC: true, Fields: []string{"status", "amount"}, TimeLayout: "2006-01-02T15:04:05Z07:00"}))
}

func TestPrinterColorOnlyWhenAsked(t *testing.T) {
	if bytes.Contains(printAll(t, Options{}), []byte("\x1b[")) {
		t.Error("escape codes without Color")
	}
	if !bytes.Contains(printAll(t, Options{Color: true}), []byte("\x1b[31m")) {
		t.Error("no red in colored output")
	}
}

func TestJSONPassesEntriesThrough(t *testing.T) {
	got := printAll(t, Options{JSON: true})
	var want bytes.Buffer
	for _, s := range samples {
		want.WriteString(s.entry + "\n")
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("got\n%s", got)
	}
}

func TestFilter(t *testing.T) {
	cases := []struct {
		f    Filter
		keep []bool // per sample
	}{
		{Filter{}, []bool{true, true, true, true, true, true, true, true, true}},
		{Filter{Apps: []string{"billing", "legacy"}}, []bool{false, false, false, true, true, true, false, false, false}},
		{Filter{Grep: regexp.MustCompile(`card|disk`)}, []bool{false, true, false, false, false, true, false, false, false}},
		{Filter{Exclude: regexp.MustCompile(`"level":"info"|console`)}, []bool{false, true, true, true, true, true, false, true, true}},
		{Filter{Apps: []string{"checkout"}, Exclude: regexp.MustCompile(`dpanic`)}, []bool{true, true, false, false, false, false, false, false, false}},
	}
	for i, tc := range cases {
		for j, s := range samples {
			if got := tc.f.Keep(s.topic, []byte(s.entry)); got != tc.keep[j] {
				t.Errorf("case %d, sample %d (%s): Keep = %v", i, j, s.topic, got)
			}
		}
	}
}

// BenchmarkPrinter: entries formatted per second, to io.Discard, beside
// the same entries through the printer as it was before issue 18
// (decoding into a map with encoding/json): the baseline from the same run.
func BenchmarkPrinter(b *testing.B) {
	bodies := [][]byte{[]byte(samples[0].entry), []byte(samples[1].entry)}
	for _, color := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "color"}[color]
		for _, impl := range []struct {
			suffix string
			print  func(topic string, entry []byte) error
		}{
			{"", NewPrinter(io.Discard, Options{Color: color}).Print},
			{"-encoding-json", newRefPrinter(io.Discard, Options{Color: color}).Print},
		} {
			b.Run(name+impl.suffix, func(b *testing.B) {
				b.ReportAllocs()
				for i := range b.N {
					impl.print(samples[i%2].topic, bodies[i%2])
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// Control sequences a hostile producer puts in its entries.
const (
	osc52       = "\x1b]52;c;cm0gLXJmIH4=\x07" // writes "rm -rf ~" to the clipboard
	clearScreen = "\x1b[2J\x1b[H"
	crForged    = "\r16:00:00.000 INFO  [bank] transfer approved   " // overwrites the line so far
	lfForged    = "\n16:00:00.000 INFO  [bank] transfer approved"    // a line of its own
	c1CSI       = "\u009b31m"                                        // the 8-bit CSI
	bidi        = "\u202etxt.exe"                                    // reads as exe.txt
	attack      = osc52 + clearScreen + crForged + lfForged + c1CSI + bidi
)

// hostileEntries carry the attack in every part of an entry a peer sets:
// topic (level and app), message, logger, level and time fields, a key, a
// string value, a nested value, the caller, a multi-line value and a body
// that is not JSON (with a raw 8-bit CSI byte, not UTF-8).
func hostileEntries(t *testing.T) []struct{ topic, entry string } {
	mustJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return []struct{ topic, entry string }{
		{"ERROR.shop", mustJSON(map[string]any{"level": "error", "ts": 1764259200, "msg": "pay" + attack})},
		{"ERROR.shop", mustJSON(map[string]any{"ts": 1764259200, "msg": "key", "k" + attack: "v"})},
		{"ERROR.shop", mustJSON(map[string]any{"ts": 1764259200, "msg": "value", "v": "x" + attack, "plain": "y" + c1CSI + bidi})},
		{"ERROR.shop" + attack, mustJSON(map[string]any{"ts": 1764259200, "msg": "app"})},
		{"ERROR.shop", mustJSON(map[string]any{"ts": "t" + attack, "level": "warn" + attack, "logger": "l" + attack, "msg": "time, level and logger"})},
		{"ERROR.shop", mustJSON(map[string]any{"ts": 1764259200, "msg": "nested", "obj": map[string]any{"k" + c1CSI: "v" + bidi}})},
		{"ERROR.shop", mustJSON(map[string]any{"ts": 1764259200, "msg": "caller", "caller": "c" + attack, "source": nil})},
		{"ERROR.shop", mustJSON(map[string]any{"ts": 1764259200, "msg": "slog source", "source": map[string]any{"file": "f" + attack, "line": 1}})},
		{"ERROR.shop", mustJSON(map[string]any{"ts": 1764259200, "msg": "below", "err" + osc52: "first" + attack + "\nsecond\r" + clearScreen, "stacktrace": "main.main\r" + osc52 + "\n\t/src/main.go:1"})},
		{attack + ".shop" + attack, "raw " + attack + " \x9b2J \xff end\r\n"},
	}
}

// The pretty printer shows every control character from a producer
// escaped, in every mode but --json, while its own colors still work.
func TestPrinterEscapesHostileEntries(t *testing.T) {
	entries := hostileEntries(t)
	for _, opts := range []Options{
		{UTC: true},
		{UTC: true, Color: true},
		{UTC: true, Fields: []string{"k" + attack, "v", "err" + osc52}},
	} {
		var out bytes.Buffer
		p := NewPrinter(&out, opts)
		for _, e := range entries {
			if err := p.Print(e.topic, []byte(e.entry)); err != nil {
				t.Fatal(err)
			}
		}
		got := out.String()
		name := fmt.Sprintf("Color=%v Fields=%d", opts.Color, len(opts.Fields))

		// Nothing reaches the terminal raw: outside our own color codes
		// every line is terminal-safe text.
		ours := []string{}
		for _, c := range append(slices.Collect(maps.Values(p.levels)), p.app, p.logger, p.key, p.dim) {
			ours = append(ours, c.pre, c.post)
		}
		for i, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
			text := line
			for _, code := range ours {
				if code != "" {
					text = strings.ReplaceAll(text, code, "")
				}
			}
			if j := firstUnsafe(text); j != len(text) {
				t.Errorf("%s: line %d holds a raw control at %d: %q", name, i+1, j, line)
			}
		}
		// The attack shows, escaped, where the user can see it.
		for _, escaped := range []string{`\x1b]52;c;cm0gLXJmIH4=\a`, `\x1b[2J\x1b[H`, `\r16:00:00.000 INFO`, `\n16:00:00.000 INFO`, `\u009b31m`, `\u202etxt.exe`} {
			if !strings.Contains(got, escaped) {
				t.Errorf("%s: output lacks %s:\n%s", name, escaped, got)
			}
		}
		// No forged lines: one line per entry; a multi-line value (v: 2
		// lines, err: 3, stacktrace: 2) keeps its line breaks only on
		// lines of its own below the entry, each indented.
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		entryLines, wantLines := 0, len(entries)+2+3+2
		if opts.Fields != nil {
			wantLines -= 2 // stacktrace is not among the fields
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "    ") {
				entryLines++
			}
		}
		if entryLines != len(entries) || len(lines) != wantLines {
			t.Errorf("%s: %d lines, %d not indented; want %d, %d:\n%s", name, len(lines), entryLines, wantLines, len(entries), got)
		}
		if opts.Color && !strings.Contains(got, p.levels[topic.Error].pre+"ERROR") {
			t.Errorf("%s: no red ERROR:\n%s", name, got)
		}
	}
	golden(t, "hostile.golden", func() []byte {
		var out bytes.Buffer
		p := NewPrinter(&out, Options{UTC: true})
		for _, e := range entries {
			p.Print(e.topic, []byte(e.entry))
		}
		return out.Bytes()
	}())
}

// --json is for machines: hostile entries pass through byte for byte.
func TestJSONPassesHostileEntriesThrough(t *testing.T) {
	var out, want bytes.Buffer
	p := NewPrinter(&out, Options{JSON: true, Color: true})
	for _, e := range hostileEntries(t) {
		if err := p.Print(e.topic, []byte(e.entry)); err != nil {
			t.Fatal(err)
		}
		want.WriteString(e.entry + "\n")
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Errorf("--json changed the entries:\n got %q\nwant %q", out.Bytes(), want.Bytes())
	}
}

// FuzzPrinter: whatever a producer sends, the printer does not panic and
// writes only terminal-safe lines.
func FuzzPrinter(f *testing.F) {
	for _, s := range samples {
		f.Add(s.topic, s.entry)
	}
	f.Add("ERROR.a\x1b", `{"msg":"\u001b[2J\r","k\u009b":"v\u202e","x":{"y":"\u2066"},"stacktrace":"a\n\tb\r"}`)
	f.Add("\xff", "not json \x9b\xff\r\n")
	f.Fuzz(func(t *testing.T, topicName, entry string) {
		var out bytes.Buffer
		p := NewPrinter(&out, Options{UTC: true})
		if err := p.Print(topicName, []byte(entry)); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		if !strings.HasSuffix(got, "\n") {
			t.Fatalf("output %q does not end its line", got)
		}
		for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
			if i := firstUnsafe(line); i != len(line) {
				t.Fatalf("Print(%q, %q) wrote a raw control at %d of %q", topicName, entry, i, line)
			}
		}
	})
}

// BenchmarkPrinterHostile: entries full of controls cost a little more,
// never a blow-up; beside them the encoding/json baseline.
func BenchmarkPrinterHostile(b *testing.B) {
	entries := hostileEntries(&testing.T{})
	bodies := make([][]byte, len(entries))
	for i, e := range entries {
		bodies[i] = []byte(e.entry)
	}
	for _, impl := range []struct {
		name  string
		print func(topic string, entry []byte) error
	}{
		{"printer", NewPrinter(io.Discard, Options{}).Print},
		{"encoding-json", newRefPrinter(io.Discard, Options{}).Print},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				impl.print(entries[i%len(entries)].topic, bodies[i%len(entries)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
