package collector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/wire"
)

func TestMain(m *testing.M) {
	// lumberjack v2.2.1 starts one goroutine per Logger that Close does not
	// stop (its "mill"); a collector has one Logger for its lifetime.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
}

// running is a collector running in the test, stopped at cleanup.
type running struct {
	*Collector
	file string
	stop func() // stops it and waits for Run to return
}

func startCollector(t testing.TB, cfg Config) *running {
	t.Helper()
	if cfg.Pull == "" {
		cfg.Pull = "tcp://127.0.0.1:0"
	}
	if cfg.Pub == "" {
		cfg.Pub = "tcp://127.0.0.1:0"
	}
	if cfg.File == "" && !cfg.NoFile {
		cfg.File = filepath.Join(t.TempDir(), "store.jsonl")
	}
	cfg.FlushInterval = 10 * time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	r := &running{Collector: c, file: cfg.File}
	var stopped bool
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(r.stop)
	return r
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func ship(t testing.TB, endpoint string, opts ...zmqlog.Option) *zmqlog.Shipper {
	t.Helper()
	s, err := zmqlog.NewShipper(endpoint, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoresAndPublishesEveryEntryByLevel(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{})
	errorsOnly := testcollector.Subscribe(t, c.PubEndpoint(), zsock.Options{}, "ERROR", "FATAL")
	testsupport.WaitFor(t, ctx, "the subscription", func() bool { return c.Stats().Subscribers == 1 })
	// The subscription reaches the publisher after the connection: probe.
	probe := ship(t, c.PullEndpoint(), zmqlog.WithApp("probe"))
	for {
		probe.Ship("ERROR.probe", []byte(`{"msg":"probe"}`))
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err := errorsOnly.Recv(short)
		cancel()
		if err == nil {
			break
		}
	}
	probe.Close()
	for {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := errorsOnly.Recv(short)
		cancel()
		if err != nil {
			break
		}
	}
	before := c.Stats().Received

	s := ship(t, c.PullEndpoint(), zmqlog.WithApp("checkout"))
	levels := []string{"DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
	const n = 1000
	for i := range n {
		l := levels[i%len(levels)]
		s.Ship(l+".checkout", []byte(fmt.Sprintf(`{"level":%q,"i":%d}`, strings.ToLower(l), i)))
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		l := levels[i%len(levels)]
		if l != "ERROR" && l != "FATAL" {
			continue
		}
		m, err := errorsOnly.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`{"level":%q,"i":%d}`, strings.ToLower(l), i)
		if string(m.Frames[0]) != l+".checkout" || string(m.Frames[1]) != want {
			t.Fatalf("subscriber got %q %q, want %s", m.Frames[0], m.Frames[1], want)
		}
	}
	testsupport.WaitFor(t, ctx, "every entry stored", func() bool { return c.Stats().Stored == before+n })
	c.stop()
	lines := readLines(t, c.file)
	lines = lines[len(lines)-n:]
	for i, line := range lines {
		if !strings.Contains(line, fmt.Sprintf(`"i":%d}`, i)) {
			t.Fatalf("line %d = %s", i, line)
		}
	}
	st := c.Stats()
	if st.Gaps != 0 || st.Batches == 0 || st.Received != before+n || len(st.Producers) != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Gaps in a producer stream's sequence numbers are counted as lost
// entries, per producer; its own drop count is reported as it sent it.
func TestCountsGapsPerProducer(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{NoPub: true})
	push := dialPush(t, c.PullEndpoint())
	p := wire.Producer{Instance: 7, PID: 42, Host: "h", App: "gappy"}
	send := func(stream uint16, first uint64, count int, dropped uint64) {
		b := wire.AppendHeader(nil, p)
		for range count {
			b = wire.AppendEntry(b, "INFO", []byte(`{"m":1}`))
		}
		wire.SetCount(b, count)
		wire.Stamp(b, stream, first, dropped)
		if err := push.Send(ctx, zsock.Plain{b}); err != nil {
			t.Fatal(err)
		}
	}
	send(0, 0, 10, 0)  // 0-9
	send(0, 15, 5, 3)  // 15-19: 5 lost
	send(1, 0, 4, 3)   // another stream of the same producer
	send(0, 20, 1, 3)  // 20
	send(0, 30, 2, 11) // 30-31: 9 lost
	testsupport.WaitFor(t, ctx, "all batches", func() bool { return c.Stats().Batches == 5 })
	st := c.Stats()
	if st.Gaps != 14 || len(st.Producers) != 1 {
		t.Fatalf("stats %+v", st)
	}
	if pr := st.Producers[0]; pr.Gaps != 14 || pr.Dropped != 11 || pr.Received != 22 || pr.App != "gappy" {
		t.Fatalf("producer %+v", pr)
	}
}

func dialPush(t testing.TB, endpoint string) *zsock.Pusher {
	t.Helper()
	ep, err := zsock.ParseEndpoint(endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	p := zsock.DialPush([]zsock.Endpoint{ep}, zsock.Options{})
	t.Cleanup(func() { p.Close() })
	return p
}

// Plain messages from any ZeroMQ PUSH are stored; a body that is not a
// JSON object is wrapped in one; invalid UTF-8 and broken batches are
// counted and skipped while the peer stays connected.
func TestPlainAndBrokenMessages(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{})
	all := testcollector.Subscribe(t, c.PubEndpoint(), zsock.Options{}, "")
	testsupport.WaitFor(t, ctx, "the subscriber", func() bool { return c.Stats().Subscribers == 1 })
	push := dialPush(t, c.PullEndpoint())
	badVersion := wire.AppendHeader(nil, wire.Producer{})
	badVersion[3] = 9
	msgs := [][][]byte{
		{[]byte("WARNING.sub"), []byte("disk \"slow\"\n")}, // pyzmq PUBHandler style
		{[]byte(`{"level":"error","msg":"plain json"}`)},   // [entry], JSON
		{[]byte("just text")},                              // [entry], text
		{[]byte("INFO"), []byte("\xff\xfe not utf-8")},     // skipped
		{badVersion},      // skipped
		{[]byte(Magic())}, // skipped, truncated
		{[]byte("INFO"), []byte(`{"msg":"still served"}`), []byte("x")}, // three frames: skipped
		{[]byte("INFO"), []byte("{\"msg\":\n \"two lines\"}")},          // legal JSON: compacted
		{[]byte("INFO"), []byte(`{"msg":"last"}`)},
	}
	for _, m := range msgs {
		if err := push.Send(ctx, zsock.Plain(m)); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct{ topic, line string }{
		{"WARNING.sub", `{"level":"WARNING","topic":"WARNING.sub","msg":"disk \"slow\"","wrapped":true}`},
		{"ERROR", `{"level":"error","msg":"plain json"}`},
		{"UNKNOWN", `{"level":"UNKNOWN","topic":"UNKNOWN","msg":"just text","wrapped":true}`},
		{"INFO", `{"msg":"two lines"}`},
		{"INFO", `{"msg":"last"}`},
	}
	for _, w := range want {
		m, err := all.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Frames[0]) != w.topic || string(m.Frames[1]) != w.line {
			t.Errorf("published %q %s, want %q %s", m.Frames[0], m.Frames[1], w.topic, w.line)
		}
	}
	c.stop()
	lines := readLines(t, c.file)
	if len(lines) != len(want) {
		t.Fatalf("stored %d lines: %q", len(lines), lines)
	}
	for i, l := range lines {
		if l != want[i].line || !json.Valid([]byte(l)) {
			t.Errorf("line %d = %s, want %s", i, l, want[i].line)
		}
	}
	st := c.Stats()
	if st.InvalidUTF8 != 1 || st.UnknownVersion != 1 || st.Malformed != 2 || st.Wrapped != 2 || st.Connections != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Magic is the batch magic, for building broken batches.
func Magic() string { return wire.Magic }

func TestHeartbeatOnItsOwnTopic(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{Heartbeat: 20 * time.Millisecond})
	hb := testcollector.Subscribe(t, c.PubEndpoint(), zsock.Options{}, HeartbeatTopic)
	m, err := hb.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(m.Frames[1], &body); err != nil || body["received"] == nil || body["time"] == nil {
		t.Fatalf("heartbeat %s: %v", m.Frames[1], err)
	}
	for _, level := range []string{"DEBUG", "INFO", "WARN", "ERROR", "DPANIC", "PANIC", "FATAL", "CRITICAL"} {
		if strings.HasPrefix(HeartbeatTopic, level) {
			t.Fatalf("a %s subscription would receive the heartbeat", level)
		}
	}
}

// A store that cannot be written is never silent: the entries are counted.
func TestStoreFailuresAreCounted(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{File: "/dev/full", NoPub: true})
	s := ship(t, c.PullEndpoint())
	for i := range 100 {
		s.Ship("INFO", []byte(fmt.Sprintf(`{"i":%d}`, i)))
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, ctx, "the failure to be counted", func() bool { return c.Stats().StoreFailed == 100 })
	if st := c.Stats(); st.Stored != 0 || st.Received != 100 {
		t.Fatalf("stats %+v", st)
	}
}

// Tiers: everything a collector receives goes on to the next one, with
// producer identities intact and numbered for the next one.
func TestForwardToTheNextTier(t *testing.T) {
	ctx := testsupport.Context(t)
	central := startCollector(t, Config{NoPub: true})
	local := startCollector(t, Config{NoPub: true, Forward: central.PullEndpoint()})
	s := ship(t, local.PullEndpoint(), zmqlog.WithApp("tiered"))
	for i := range 500 {
		s.Ship("INFO", []byte(fmt.Sprintf(`{"i":%d}`, i)))
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, ctx, "the central collector", func() bool { return central.Stats().Received == 500 })
	st := central.Stats()
	if st.Gaps != 0 || len(st.Producers) != 1 || st.Producers[0].App != "tiered" {
		t.Fatalf("central stats %+v", st)
	}
	// Forwarded counts messages written to the next tier.
	testsupport.WaitFor(t, ctx, "every message counted forwarded", func() bool { return local.Stats().Forwarded == local.Stats().Messages })
	local.stop()
	if st := local.Stats(); st.ForwardAbandoned != 0 || st.ForwardDropped != 0 {
		t.Fatalf("local stats %+v", st)
	}
}

// What the next tier has not taken when the collector stops is lost; it
// used to be lost uncounted. Now Stats (and the metrics and the log) say
// how many entries, not just messages.
func TestForwardAbandonedAtShutdownIsCounted(t *testing.T) {
	ctx := testsupport.Context(t)
	var log syncBuffer
	nobody := "ipc://" + filepath.Join(t.TempDir(), "nobody.sock")
	c := startCollector(t, Config{NoPub: true, NoFile: true, Forward: nobody, Log: slog.New(slog.NewTextHandler(&log, nil))})
	push := dialPush(t, c.PullEndpoint())
	p := wire.Producer{Instance: 3, Host: "h", App: "tiered"}
	entries := 0
	for _, n := range []int{5, 7, 1} {
		b := wire.AppendHeader(nil, p)
		for range n {
			b = wire.AppendEntry(b, "INFO", []byte(`{"m":1}`))
		}
		wire.SetCount(b, n)
		wire.Stamp(b, 0, uint64(entries), 0)
		if err := push.Send(ctx, zsock.Plain{b}); err != nil {
			t.Fatal(err)
		}
		entries += n
	}
	if err := push.Send(ctx, zsock.Plain{[]byte("INFO"), []byte(`{"plain":1}`)}); err != nil {
		t.Fatal(err)
	}
	entries++
	testsupport.WaitFor(t, ctx, "every entry", func() bool { return c.Stats().Received == uint64(entries) })
	c.stop()
	st := c.Stats()
	if st.ForwardAbandoned != uint64(entries) || st.Forwarded != 0 || st.ForwardDropped != 0 {
		t.Fatalf("forward: abandoned %d of %d entries, forwarded %d messages, dropped %d", st.ForwardAbandoned, entries, st.Forwarded, st.ForwardDropped)
	}
	if want := fmt.Sprintf("stopped with %d entries not yet taken by the next tier %s: lost", entries, nobody); !strings.Contains(log.String(), want) {
		t.Fatalf("log does not say %q:\n%s", want, log.String())
	}
}

func TestBadConfigIsRefused(t *testing.T) {
	cases := []struct {
		cfg  Config
		says string
	}{
		{Config{Pull: "tcp://127.0.0.1"}, `collector: Config.Pull: bad endpoint "tcp://127.0.0.1"`},
		{Config{Pull: "tcp://127.0.0.1:0", Pub: "udp://x:1"}, `collector: Config.Pub: bad endpoint "udp://x:1"`},
		{Config{Pull: "tcp://127.0.0.1:0", NoPub: true, Forward: "tcp://*:5557"}, `collector: Config.Forward: bad endpoint "tcp://*:5557"`},
	}
	for _, tc := range cases {
		tc.cfg.NoFile = true
		_, err := New(tc.cfg)
		var ee *EndpointError
		if err == nil || !strings.Contains(err.Error(), tc.says) || !errorsAs(err, &ee) {
			t.Errorf("New(%+v): %v", tc.cfg, err)
		}
	}
}

// --stdout: every stored line is echoed too.
func TestStdoutEchoesStoredLines(t *testing.T) {
	ctx := testsupport.Context(t)
	var out syncBuffer
	c := startCollector(t, Config{NoPub: true, Stdout: &out})
	s := ship(t, c.PullEndpoint())
	s.Ship("INFO", []byte(`{"msg":"one"}`))
	s.Ship("WARN", []byte(`{"msg":"two"}`))
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, ctx, "both stored", func() bool { return c.Stats().Stored == 2 })
	c.stop()
	if got := out.String(); got != "{\"msg\":\"one\"}\n{\"msg\":\"two\"}\n" {
		t.Fatalf("stdout got %q", got)
	}
	if lines := readLines(t, c.file); len(lines) != 2 {
		t.Fatalf("file has %q", lines)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Two shippers in one process are two producers with the same host, pid
// and app: the metrics still gather, one series each.
func TestMetricsWithTwoShippersInOneProcess(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{NoPub: true, NoFile: true})
	for range 2 {
		s := ship(t, c.PullEndpoint(), zmqlog.WithApp("same"))
		s.Ship("INFO", []byte(`{"msg":"x"}`))
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	testsupport.WaitFor(t, ctx, "both producers", func() bool { return len(c.Stats().Producers) == 2 })
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() == "zmqlog_collector_producer_entries_received_total" && len(f.GetMetric()) != 2 {
			t.Fatalf("%d series for two producers", len(f.GetMetric()))
		}
	}
}

// Producer positions survive a restart through the state file: a batch
// that continues its stream after the restart shows no gap, one that
// skips shows exactly the entries skipped. Without the state, everything
// before would count as lost.
func TestStateFileKeepsPositionsAcrossRestarts(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "store.jsonl.state")
	p := wire.Producer{Instance: 99, PID: 1, Host: "h", App: "restarts"}
	// One connection per collector: batches on two connections may
	// arrive in either order.
	pushers := map[*running]*zsock.Pusher{}
	send := func(c *running, first uint64, count int) {
		push := pushers[c]
		if push == nil {
			push = dialPush(t, c.PullEndpoint())
			pushers[c] = push
		}
		b := wire.AppendHeader(nil, p)
		for range count {
			b = wire.AppendEntry(b, "INFO", []byte(`{"m":1}`))
		}
		wire.SetCount(b, count)
		wire.Stamp(b, 0, first, 0)
		if err := push.Send(ctx, zsock.Plain{b}); err != nil {
			t.Fatal(err)
		}
	}
	first := startCollector(t, Config{NoPub: true, File: filepath.Join(dir, "store.jsonl"), StateFile: state})
	send(first, 0, 100)
	testsupport.WaitFor(t, ctx, "the first batch", func() bool { return first.Stats().Stored == 100 })
	first.stop()

	second := startCollector(t, Config{NoPub: true, File: filepath.Join(dir, "store.jsonl"), StateFile: state})
	send(second, 100, 10) // continues: no gap
	send(second, 130, 5)  // skips 20
	testsupport.WaitFor(t, ctx, "both batches", func() bool { return second.Stats().Stored == 15 })
	st := second.Stats()
	if st.Gaps != 20 || len(st.Producers) != 1 || st.Producers[0].Received != 115 || st.Producers[0].Gaps != 20 {
		t.Fatalf("after restart: stats %+v", st)
	}
	second.stop()

	stateless := startCollector(t, Config{NoPub: true, NoFile: true})
	send(stateless, 135, 1)
	testsupport.WaitFor(t, ctx, "the batch", func() bool { return stateless.Stats().Received == 1 })
	if g := stateless.Stats().Gaps; g != 135 {
		t.Fatalf("without state: %d gaps, want all 135 earlier entries counted as lost", g)
	}
}

// A damaged state file does not keep the collector down.
func TestDamagedStateFileStartsAfresh(t *testing.T) {
	state := filepath.Join(t.TempDir(), "x.state")
	if err := os.WriteFile(state, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCollector(t, Config{NoPub: true, NoFile: true, StateFile: state})
	if st := c.Stats(); len(st.Producers) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A state file written before names were cleaned at decode may hold
// control characters and names cut inside a character: they are cleaned
// as they are read back, as Decode would have.
func TestStateFileNamesAreCleanedOnRestore(t *testing.T) {
	state := filepath.Join(t.TempDir(), "x.state")
	old := `{"version":1,"streams":[{"instance":1,"host":"web\u001b[2J","app":"caf\u00e9\n","pid":3,"next":5,"received":5}]}`
	if err := os.WriteFile(state, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCollector(t, Config{NoPub: true, NoFile: true, StateFile: state})
	if p := c.Stats().Producers; len(p) != 1 || p[0].Host != "web\uFFFD[2J" || p[0].App != "caf\u00e9\uFFFD" || p[0].Received != 5 {
		t.Fatalf("restored %+v", p)
	}
}

// Entries producers send just as the collector is told to stop are still
// stored: Run drains its connections before closing them. With the drain
// turned off they are lost, which is why it exists.
func TestStopDrainsWhatProducersSendMeanwhile(t *testing.T) {
	defer func(idle time.Duration) { drainIdle = idle }(drainIdle)
	drainIdle = time.Second // room for a loaded machine between stop and send
	// A literal's zero Drain means the default; a Config from Defaults
	// takes 0 as it is: no drain, as zmqcollect --drain 0 asks.
	fromDefaults := func(dir string) Config {
		cfg := Defaults()
		cfg.Pull, cfg.NoPub, cfg.File, cfg.Drain = "tcp://127.0.0.1:0", true, filepath.Join(dir, "store.jsonl"), 0
		return cfg
	}
	for _, tc := range []struct {
		name   string
		config func(dir string) Config
		drains bool
	}{
		{"literal drain=0", func(dir string) Config {
			return Config{Pull: "tcp://127.0.0.1:0", NoPub: true, File: filepath.Join(dir, "store.jsonl"), Drain: 0}
		}, true},
		{"literal drain=-1", func(dir string) Config {
			return Config{Pull: "tcp://127.0.0.1:0", NoPub: true, File: filepath.Join(dir, "store.jsonl"), Drain: -1}
		}, false},
		{"Defaults drain=0", fromDefaults, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testsupport.Context(t)
			c, err := New(tc.config(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- c.Run(runCtx) }()
			s := ship(t, c.PullEndpoint(), zmqlog.WithReconnect(time.Hour, time.Hour))
			s.Ship("INFO", []byte(`{"level":"info","msg":"connected"}`))
			testsupport.WaitFor(t, ctx, "the first entry", func() bool { return c.Stats().Received == 1 })

			stop()
			for range 10000 {
				s.Ship("INFO", []byte(`{"level":"info","msg":"sent as the collector stops"}`))
			}
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			s.Flush(short)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			s.Shutdown(short) // expired: what could not go is dropped, at once
			sent, st := s.Stats().Sent, c.Stats()
			t.Logf("sent %d, received %d, stored %d", sent, st.Received, st.Stored)
			if st.Stored != st.Received {
				t.Fatalf("received %d, stored %d", st.Received, st.Stored)
			}
			lossless := sent == 10001 && st.Received == sent
			if tc.drains && !lossless {
				t.Fatalf("sent %d of 10001, the collector received %d", sent, st.Received)
			}
			if !tc.drains && lossless {
				t.Fatal("without a drain nothing was lost: the test does not exercise the drain")
			}
		})
	}
}
