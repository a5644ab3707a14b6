package slogzmq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

func TestMain(m *testing.M) {
	testcollector.RunDrainIfAsked() // benchmarks' collector process
	goleak.VerifyTestMain(m)
}

func openHandler(t *testing.T, endpoint string, opts *Options) *Handler {
	t.Helper()
	h, err := NewHandler(endpoint, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// slog's conformance suite, with every record travelling through a real
// collector socket on loopback and decoded back.
func TestSlogtestThroughACollector(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	var h *Handler
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		if h != nil {
			h.Close()
		}
		h = openHandler(t, col.Endpoint(), nil)
		return h
	}, func(t *testing.T) map[string]any {
		if err := h.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		e := col.ReceiveN(ctx, 1)[0]
		var m map[string]any
		if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
			t.Fatalf("collector got %q: %v", e.Data, err)
		}
		return m
	})
}

type token string

func (t token) LogValue() slog.Value { return slog.StringValue("REDACTED") }

type lazyGroup struct{}

func (lazyGroup) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("a", 1), slog.Group("inner", slog.Bool("b", true)))
}

// For the same records the collector gets byte for byte what
// slog.JSONHandler writes, whatever the options.
func TestSameJSONAsSlogJSONHandler(t *testing.T) {
	replace := func(groups []string, a slog.Attr) slog.Attr {
		switch {
		case a.Key == slog.TimeKey && groups == nil:
			return slog.Attr{}
		case a.Key == "password":
			return slog.String("password", "***")
		case a.Key == slog.LevelKey && groups == nil:
			return slog.String("severity", a.Value.String())
		case len(groups) > 0 && a.Key == "drop":
			return slog.Attr{}
		}
		return a
	}
	optionSets := map[string]*Options{
		"defaults":     {},
		"replace attr": {ReplaceAttr: replace, Level: slog.LevelDebug},
		"add source":   {AddSource: true, ReplaceAttr: replace},
	}
	for name, opts := range optionSets {
		t.Run(name, func(t *testing.T) {
			ctx := testsupport.Context(t)
			col := testcollector.Start(t, "tcp://127.0.0.1:0")
			h := openHandler(t, col.Endpoint(), opts)
			var want bytes.Buffer
			ref := slog.NewJSONHandler(&want, &slog.HandlerOptions{Level: opts.Level, AddSource: opts.AddSource, ReplaceAttr: opts.ReplaceAttr})

			at := time.Date(2026, 11, 27, 16, 0, 0, 123456789, time.FixedZone("CET", 3600))
			records := func(l *slog.Logger) {
				l.Info("plain")
				l.Debug("debug", "n", 1)
				l.Warn("types", "s", "x\"y\n", "i", -3, "u", uint64(1<<63), "f", 1.5, "nan", 0.0, "b", true,
					"d", 90*time.Second, "t", at, "err", errors.New("boom"), "any", []int{1, 2}, "map", map[string]int{"k": 1},
					"html", "<a&b>", "nil", nil)
				l.Error("valuers", "token", token("secret"), "lazy", lazyGroup{}, "password", "hunter2")
				g := l.WithGroup("req").With("id", "r-1", "drop", "x")
				g.Info("grouped", slog.Group("user", "name", "ann", "drop", 1), slog.Group("empty"))
				g.WithGroup("deeper").Log(ctx, slog.LevelError+4, "offset level", "k", "v")
				l.With("service", "checkout").WithGroup("").Info("with attrs", "inline", slog.GroupValue(slog.String("x", "y")))
				l.LogAttrs(ctx, slog.LevelWarn+2, "attrs", slog.Any("", "empty key"), slog.Attr{}, slog.Group("", slog.Int("inlined", 1)))
			}
			records(slog.New(slog.NewMultiHandler(ref, h))) // the same records, times included
			if err := h.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(want.String(), "\n"), "\n")
			topics := map[string]string{}
			for i, e := range col.ReceiveN(ctx, len(lines)) {
				if e.Data != lines[i] {
					t.Errorf("record %d:\n got %s\nwant %s", i, e.Data, lines[i])
				}
				topics[e.Topic] = ""
			}
			for _, want := range []string{"INFO", "WARN", "ERROR", "ERROR+4", "WARN+2"} {
				if _, ok := topics[want]; !ok {
					t.Errorf("no record under topic %q; topics %v", want, topics)
				}
			}
		})
	}
}

// saveDefaults restores slog's and the log package's globals after a test.
func saveDefaults(t *testing.T) {
	l, w, flags, prefix := slog.Default(), log.Writer(), log.Flags(), log.Prefix()
	t.Cleanup(func() {
		slog.SetDefault(l)
		log.SetOutput(w)
		log.SetFlags(flags)
		log.SetPrefix(prefix)
	})
}

// A program that set its own default handler: the one line from the
// slog docs' MultiHandler keeps its output and ships too.
func TestOneLineOntoAProgramsDefaultHandler(t *testing.T) {
	saveDefaults(t)
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	var existing bytes.Buffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&existing, &slog.HandlerOptions{
		ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && g == nil {
				return slog.Attr{}
			}
			return a
		}})))

	h := openHandler(t, col.Endpoint(), &Options{App: "api"})
	slog.SetDefault(slog.New(slog.NewMultiHandler(slog.Default().Handler(), h)))

	slog.Warn("disk almost full", "pct", 91)
	if got := existing.String(); got != "level=WARN msg=\"disk almost full\" pct=91\n" {
		t.Errorf("existing output %q", got)
	}
	e := col.ReceiveN(ctx, 1)[0]
	if e.Topic != "WARN.api" || !strings.Contains(e.Data, `"msg":"disk almost full","pct":91`) {
		t.Errorf("collector got %+v", e)
	}
}

// A program that never set a default handler: AddToDefault keeps the
// built-in handler's lines exactly as they were (where the one line above
// would deadlock), and log.Print output ships too.
func TestAddToDefaultKeepsTheBuiltinOutput(t *testing.T) {
	saveDefaults(t)
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	slog.SetDefault(slog.New(builtinDefaultHandler(t)))
	var existing bytes.Buffer
	log.SetOutput(&existing)
	log.SetFlags(log.Lshortfile)
	log.SetPrefix("app: ")

	calls := func() {
		slog.Info("hello", "count", 3, "q", "needs quoting")
		slog.With("req", "r-1").WithGroup("db").Warn("slow query", "ms", 1500)
		slog.Debug("not shown at the default level")
	}
	calls()
	before := existing.String()
	existing.Reset()

	AddToDefault(openHandler(t, col.Endpoint(), nil))
	calls()
	if after := existing.String(); after != before {
		t.Errorf("output changed:\nbefore %q\nafter  %q", before, after)
	}
	if !strings.Contains(before, "app: handler_test.go:") || !strings.Contains(before, "INFO hello count=3 q=\"needs quoting\"") {
		t.Errorf("the built-in handler's output is not what this test expects: %q", before)
	}
	got := col.ReceiveN(ctx, 2)
	if !strings.Contains(got[0].Data, `"msg":"hello","count":3`) || !strings.Contains(got[1].Data, `"req":"r-1","db":{"ms":1500}`) {
		t.Errorf("collector got %+v", got)
	}

	existing.Reset()
	log.Print("from the log package")
	// (slog's bridge from the log package keeps the log prefix in the message.)
	if e := col.ReceiveN(ctx, 1)[0]; e.Topic != "INFO" || !strings.Contains(e.Data, `from the log package"`) {
		t.Errorf("collector got %+v", e)
	}
	if !strings.Contains(existing.String(), "from the log package") {
		t.Errorf("log.Print output %q", existing.String())
	}
}

// builtinDefaultHandler returns slog's own default handler, as a program
// that never called slog.SetDefault has it.
func builtinDefaultHandler(t *testing.T) slog.Handler {
	h := slog.Default().Handler()
	if !isBuiltinDefault(h) {
		t.Skip("another test left a default handler set")
	}
	return h
}

func TestLevelAndConcurrentClones(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	h := openHandler(t, col.Endpoint(), &Options{Level: level})
	base := slog.New(h).With("shared", 1)
	base.Info("hidden")
	level.Set(slog.LevelInfo)
	// Two children of one parent, used at once from many goroutines:
	// neither may see the other's attributes.
	a, b := base.With("child", "a"), base.With("child", "b")
	done := make(chan struct{})
	const n = 500
	for _, l := range []*slog.Logger{a, b} {
		go func() {
			for i := range n {
				l.Info("m", "i", i)
			}
			done <- struct{}{}
		}()
	}
	<-done
	<-done
	counts := map[string]int{}
	for _, e := range col.ReceiveN(ctx, 2*n) {
		var m map[string]any
		if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
			t.Fatal(err)
		}
		if m["shared"] != 1.0 || m["msg"] != "m" {
			t.Fatalf("record %s", e.Data)
		}
		counts[m["child"].(string)]++
		if strings.Count(e.Data, `"child"`) != 1 {
			t.Fatalf("record carries another clone's attributes: %s", e.Data)
		}
	}
	if counts["a"] != n || counts["b"] != n {
		t.Fatalf("counts %v", counts)
	}
}

func TestSharedShipperAndNoCollector(t *testing.T) {
	ship, err := zmqlog.NewShipper(testsupport.IPC(t, "absent.sock"), zmqlog.WithFlushTimeout(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer ship.Close()
	h, err := NewShipperHandler(ship, &Options{FlushTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := slog.New(h)
	for i := range 100000 {
		l.Info("nobody listens", "i", i, "pad", strings.Repeat("p", 100))
	}
	st := ship.Stats()
	if st.Shipped != 100000 || st.Dropped == 0 || st.Shipped != st.Sent+st.Dropped+uint64(st.Queued) {
		t.Fatalf("stats %+v", st)
	}
	if err := h.Close(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close of a handler over a shared shipper: %v, want a flush deadline error", err)
	}
}

func TestAllocationsMatchSlogJSONHandler(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items; run without -race")
	}
	ctx := testsupport.Context(t)
	col := drainingCollector(t, ctx)
	h := openHandler(t, col.Endpoint(), nil)
	ours := slog.New(h).With("service", "checkout")
	ref := slog.New(slog.NewJSONHandler(io.Discard, nil)).With("service", "checkout")
	base := testing.AllocsPerRun(10000, func() { ref.Info("request served", "status", 200, "path", "/v1") })
	got := testing.AllocsPerRun(10000, func() { ours.Info("request served", "status", 200, "path", "/v1") })
	if got > base {
		t.Fatalf("%v allocations per record, slog.JSONHandler to io.Discard makes %v", got, base)
	}
}

func TestNewHandlerRefusesABadEndpoint(t *testing.T) {
	_, err := NewHandler("tcp://no-port", nil)
	if err == nil || !strings.Contains(err.Error(), `"tcp://no-port"`) {
		t.Fatalf("got %v", err)
	}

}

// Shutdown with an expired context returns at once, even with records
// queued for a collector that is not there, and counts them as dropped.
func TestShutdownWithExpiredContext(t *testing.T) {
	h, err := NewHandler(testsupport.IPC(t, "absent.sock"), &Options{FlushTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Info("queued, never sent")
	expired, cancel := context.WithCancel(testsupport.Context(t))
	cancel()
	if err := h.Shutdown(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want the context's error", err)
	}
	if st := h.Shipper().Stats(); st.DroppedClosed != 1 || st.Queued != 0 {
		t.Fatalf("stats %+v: want the record counted as dropped at close", st)
	}
}

// Closing a derived handler (a per-request logger's) only flushes: the
// shipper belongs to the handler NewHandler returned, and records through
// the root still reach the collector afterwards.
func TestClosingADerivedHandlerLeavesTheRootShipping(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	h := openHandler(t, col.Endpoint(), nil)
	derived := map[string]*Handler{
		"WithAttrs": h.WithAttrs([]slog.Attr{slog.String("request", "r-1")}).(*Handler),
		"WithGroup": h.WithGroup("req").(*Handler),
	}
	for name, d := range derived {
		slog.New(d).Info("from " + name)
		if err := d.Close(); err != nil {
			t.Fatalf("%s: Close: %v", name, err)
		}
		if err := d.Shutdown(ctx); err != nil {
			t.Fatalf("%s: Shutdown: %v", name, err)
		}
		slog.New(h).Info("root after closing " + name)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatalf("root Flush after closing derived handlers: %v", err)
	}
	if st := h.Shipper().Stats(); st.DroppedClosed != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v: records dropped after closing a derived handler", st)
	}
	if got := len(col.ReceiveN(ctx, 4)); got != 4 {
		t.Fatalf("collector got %d records, want 4", got)
	}
}

// A per-request logger (a With of the request's attributes, a few
// records) allocates no more than with slog.JSONHandler, however deep the
// chain of With calls above it: With formats its attributes once, and a
// record does not rebuild its ancestors' (as a fresh pool per With did).
func TestPerRequestLoggersAllocateAsSlogJSONHandler(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items; run without -race")
	}
	ctx := testsupport.Context(t)
	col := drainingCollector(t, ctx)
	h := openHandler(t, col.Endpoint(), nil)
	perRequest := func(l *slog.Logger) func() {
		return func() {
			req := l.With("request_id", 7, "user", "ann", "route", "/v1/orders")
			req.Info("request received", "method", "POST")
			req.Info("request served", "status", 200)
		}
	}
	chain := func(h slog.Handler, depth int) *slog.Logger {
		l := slog.New(h)
		for d := range depth {
			l = l.With("layer", d).WithGroup("g")
		}
		return l
	}
	for _, depth := range []int{0, 1, 8} {
		base := testing.AllocsPerRun(2000, perRequest(chain(slog.NewJSONHandler(io.Discard, nil), depth)))
		got := testing.AllocsPerRun(2000, perRequest(chain(h, depth)))
		if got > base {
			t.Errorf("With depth %d: %v allocations per request, slog.JSONHandler to io.Discard makes %v", depth, got, base)
		}
	}
}

// A bad endpoint is reported in the user's terms: the endpoint and what
// is wrong with it, not the chain of packages it went through.
func TestBadEndpointErrorNamesTheEndpoint(t *testing.T) {
	_, err := NewHandler("tcp://nohost", nil)
	if err == nil || !strings.HasPrefix(err.Error(), `zmqlog: bad endpoint "tcp://nohost": want host:port`) || strings.Contains(err.Error(), "zsock") {
		t.Fatalf("NewHandler(tcp://nohost): %v", err)
	}
}

// Options that cannot apply are errors, not silence, with the same rule as
// zmqlog and zapzmq: shipper options for a shipper made already, and a
// negative flush timeout.
func TestOptionsThatCannotApplyAreErrors(t *testing.T) {
	ship, err := zmqlog.NewShipper("tcp://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer ship.Shutdown(context.Background())
	if _, err := NewShipperHandler(ship, &Options{Shipper: []zmqlog.Option{zmqlog.WithApp("x")}}); err == nil || !strings.Contains(err.Error(), "Options.Shipper") {
		t.Errorf("NewShipperHandler with shipper options: %v, want an error naming Options.Shipper", err)
	}
	if _, err := NewShipperHandler(ship, &Options{FlushTimeout: -time.Second}); err == nil || !strings.Contains(err.Error(), "-1s") {
		t.Errorf("negative FlushTimeout: %v, want an error naming it", err)
	}
	if h, err := NewHandler("tcp://127.0.0.1:1", &Options{FlushTimeout: -time.Second}); err == nil {
		h.Close()
		t.Errorf("NewHandler with a negative FlushTimeout: no error")
	}
}

// drainingCollector is a collector that reads and discards whatever
// arrives until the test ends, for tests that measure the sending side.
func drainingCollector(t *testing.T, ctx context.Context) *testcollector.Collector {
	t.Helper()
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	drained := make(chan struct{})
	drainCtx, stop := context.WithCancel(ctx)
	go func() {
		defer close(drained)
		for {
			if _, err := col.Pull.Recv(drainCtx); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { stop(); <-drained })
	return col
}
