package tail

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
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

// BenchmarkPrinter: entries formatted per second, to io.Discard.
func BenchmarkPrinter(b *testing.B) {
	for _, color := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "color"}[color], func(b *testing.B) {
			p := NewPrinter(io.Discard, Options{Color: color})
			b.ReportAllocs()
			for i := range b.N {
				s := samples[i%2]
				p.Print(s.topic, []byte(s.entry))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
