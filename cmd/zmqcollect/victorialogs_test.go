package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/vltest"
	"github.com/zmqlog/zmqlog/slogzmq"
	"github.com/zmqlog/zmqlog/zapzmq"
)

// errorAndWorse is the LogsQL filter the README gives for "error and
// worse" across zap (error, dpanic, panic, fatal) and slog (ERROR,
// ERROR+4 …) apps.
const errorAndWorse = `level:~"(?i)^(error|dpanic|panic|fatal)"`

// The levels each app cycles through, as the app writes them: zap's
// lower-case names and slog's upper-case ones, including levels above
// error.
var (
	zapLevels  = []zapcore.Level{zapcore.DebugLevel, zapcore.InfoLevel, zapcore.WarnLevel, zapcore.ErrorLevel, zapcore.DPanicLevel}
	slogLevels = []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelError + 4}
)

// blocking makes a shipper wait rather than drop: these tests count
// every entry.
var blocking = []zmqlog.Option{zmqlog.WithBlock(time.Minute), zmqlog.WithReconnect(10*time.Millisecond, 100*time.Millisecond)}

// shipApp logs entries from one app, zap or slog by its name's prefix,
// cycling through the levels, numbered from first for as long as more
// says; it returns once they are all sent.
func shipApp(t *testing.T, ctx context.Context, endpoint, app string, first int, more func(i int) bool) {
	t.Helper()
	if strings.HasPrefix(app, "zap") {
		core, err := zapzmq.NewCore(endpoint, zapzmq.WithApp(app), zapzmq.WithShipperOptions(blocking...), zapzmq.WithFlushTimeout(time.Minute))
		if err != nil {
			t.Error(err)
			return
		}
		l := zap.New(core)
		for i := first; more(i); i++ {
			if ce := l.Check(zapLevels[i%len(zapLevels)], "entry"); ce != nil {
				ce.Write(zap.Int("n", i))
			}
		}
		if err := core.Close(); err != nil {
			t.Error(err)
		}
		return
	}
	h, err := slogzmq.NewHandler(endpoint, &slogzmq.Options{App: app, Level: slog.LevelDebug, Shipper: blocking, FlushTimeout: time.Minute})
	if err != nil {
		t.Error(err)
		return
	}
	l := slog.New(h)
	for i := first; more(i); i++ {
		l.Log(ctx, slogLevels[i%len(slogLevels)], "entry", "n", i)
	}
	if err := h.Close(); err != nil {
		t.Error(err)
	}
}

// shipApps runs shipApp for each app at once, each with the more its
// function returns.
func shipApps(t *testing.T, ctx context.Context, endpoint string, apps []string, first int, more func() func(i int) bool) {
	t.Helper()
	var wg sync.WaitGroup
	for _, app := range apps {
		wg.Go(func() { shipApp(t, ctx, endpoint, app, first, more()) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// waitSent waits until the collector has had VictoriaLogs acknowledge
// every entry it stored.
func waitSent(t *testing.T, ctx context.Context, c *collectorProc, stored int) {
	t.Helper()
	testsupport.WaitFor(t, ctx, fmt.Sprintf("VictoriaLogs to acknowledge %d entries", stored), func() bool {
		return c.metric(t, "zmqlog_collector_entries_stored_total") >= float64(stored) &&
			c.metric(t, "zmqlog_collector_victorialogs_lag_entries") == 0
	})
}

// exactly waits until VictoriaLogs holds want entries matching filter and
// fails if it holds more (duplicates).
func exactly(t *testing.T, ctx context.Context, vl *vltest.Server, filter string, want uint64) {
	t.Helper()
	if got := vl.WaitCount(t, ctx, filter, want); got != want {
		t.Fatalf("VictoriaLogs holds %d entries matching %q, want %d: %d duplicates", got, filter, want, got-want)
	}
}

// zap and slog apps ship through the collector; LogsQL counts per app and
// per level equal what they logged, and one query finds error and worse
// in both.
func TestVictoriaLogsGetsEveryEntryPerAppAndLevel(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := vltest.Start(t)
	c := startCollector(t, ctx, "--victorialogs", vl.URL)
	apps := []string{"zap-a", "zap-b", "slog-a", "slog-b"}
	perApp := victoriaLogsLoad / len(apps)
	start := time.Now()
	shipApps(t, ctx, c.pull, apps, 0, upTo(0, perApp))
	waitSent(t, ctx, c, perApp*len(apps))
	t.Logf("%d entries from %d apps into VictoriaLogs in %v", perApp*len(apps), len(apps), time.Since(start))

	exactly(t, ctx, vl, "*", uint64(perApp*len(apps)))
	byApp, err := vl.Counts(ctx, "*", "zmqlog.app")
	if err != nil {
		t.Fatal(err)
	}
	byLevel, err := vl.Counts(ctx, "*", "level")
	if err != nil {
		t.Fatal(err)
	}
	wantApp, wantLevel := map[string]uint64{}, map[string]uint64{}
	for _, app := range apps {
		wantApp[app] = uint64(perApp)
		for i := range perApp {
			if strings.HasPrefix(app, "zap") {
				wantLevel[zapLevels[i%len(zapLevels)].String()]++
			} else {
				wantLevel[slogLevels[i%len(slogLevels)].String()]++
			}
		}
	}
	if fmt.Sprint(byApp) != fmt.Sprint(wantApp) {
		t.Errorf("entries per app: %v, want %v", byApp, wantApp)
	}
	if fmt.Sprint(byLevel) != fmt.Sprint(wantLevel) {
		t.Errorf("entries per level: %v, want %v", byLevel, wantLevel)
	}
	wantErrors := wantLevel["error"] + wantLevel["dpanic"] + wantLevel["ERROR"] + wantLevel["ERROR+4"]
	if n, err := vl.Count(ctx, errorAndWorse); err != nil || n != wantErrors {
		t.Errorf("%s: %d entries (%v), want %d", errorAndWorse, n, err, wantErrors)
	}
	hosts, err := vl.Counts(ctx, "*", "zmqlog.host")
	if err != nil || len(hosts) != 1 || hosts[""] != 0 {
		t.Errorf("entries per host: %v (%v), want every entry with this host", hosts, err)
	}
}

// upTo ships entries first to first+n-1, as fast as they go.
func upTo(first, n int) func() func(int) bool {
	return func() func(int) bool { return func(i int) bool { return i < first+n } }
}

// until ships steadily, a millisecond's pause every 200 entries, until
// stop is closed: a stream for the test to break servers under. logged
// counts the entries.
func until(stop chan struct{}, logged *atomic.Int64) func() func(int) bool {
	return func() func(int) bool {
		return func(i int) bool {
			if i%200 == 199 {
				select {
				case <-stop:
					return false
				case <-time.After(time.Millisecond):
				}
			}
			logged.Add(1)
			return true
		}
	}
}

// VictoriaLogs stops mid-stream and comes back: every entry arrives, and
// none twice (the requests that failed were not ingested). It is stopped
// (SIGTERM), as for a restart or an upgrade: killed outright it loses what
// it acknowledged but had not yet written to disk (its
// -inmemoryDataFlushInterval, 5s by default; about 8k entries here),
// which no client can see (vlsink's manual).
func TestVictoriaLogsOutageLosesNothingDuplicatesNothing(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := vltest.Start(t)
	c := startCollector(t, ctx, "--victorialogs", vl.URL)
	stop := make(chan struct{})
	shipped := make(chan struct{})
	var logged atomic.Int64
	go func() {
		defer close(shipped)
		shipApps(t, ctx, c.pull, []string{"zap-outage", "slog-outage"}, 0, until(stop, &logged))
	}()
	testsupport.WaitFor(t, ctx, "entries to reach VictoriaLogs", func() bool {
		return c.metric(t, "zmqlog_collector_victorialogs_entries_sent_total") > 5000
	})
	vl.Stop() // mid-stream: requests under way fail
	testsupport.WaitFor(t, ctx, "the collector to find VictoriaLogs gone", func() bool {
		return c.metric(t, "zmqlog_collector_victorialogs_retries_total") >= 3
	})
	vl.Restart()
	at := c.metric(t, "zmqlog_collector_victorialogs_entries_sent_total")
	testsupport.WaitFor(t, ctx, "the collector to send again", func() bool {
		return c.metric(t, "zmqlog_collector_victorialogs_entries_sent_total") > at+5000
	})
	close(stop)
	<-shipped
	n := int(logged.Load())
	waitSent(t, ctx, c, n)
	t.Logf("%d entries through a VictoriaLogs restart, %v retries", n, c.metric(t, "zmqlog_collector_victorialogs_retries_total"))
	exactly(t, ctx, vl, "*", uint64(n))
	c.terminate(t, ctx)
}

// The collector is killed outright mid-stream and started again on the
// same store: every stored entry arrives, and what arrives twice is at
// most the requests that were in flight (4 of 1 MiB): the cursor is saved
// each time it advances.
func TestCollectorKilledResendsAtMostWhatWasInFlight(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := vltest.Start(t)
	dir := t.TempDir()
	pull := "ipc://" + filepath.Join(dir, "in.sock")
	file := filepath.Join(dir, "store.jsonl")
	args := []string{"--pull", pull, "--file", file, "--victorialogs", vl.URL}
	first := startCollector(t, ctx, args...)
	stop := make(chan struct{})
	shipped := make(chan struct{})
	var logged atomic.Int64
	go func() { defer close(shipped); shipApps(t, ctx, pull, []string{"zap-kill"}, 0, until(stop, &logged)) }()
	testsupport.WaitFor(t, ctx, "entries to reach VictoriaLogs", func() bool {
		return first.metric(t, "zmqlog_collector_victorialogs_entries_sent_total") > 20000
	})
	first.cmd.Process.Kill()
	<-first.done
	first.done = nil
	second := startCollector(t, ctx, args...)
	testsupport.WaitFor(t, ctx, "the producer to come back", func() bool {
		return second.metric(t, "zmqlog_collector_victorialogs_entries_sent_total") > 20000
	})
	close(stop)
	<-shipped
	second.terminate(t, ctx) // the shippers have flushed: the drain stores the rest

	// What the store holds is what VictoriaLogs must hold: entries the
	// first collector had read but not stored when killed are lost before
	// the sink (and counted as gaps).
	// The store may hold an entry twice itself: a shipper sends again
	// what its lost connection may not have delivered.
	lines := fileLines(t, file)
	stored, shortest, distinct := uint64(len(lines)), 1<<30, map[float64]bool{}
	for _, l := range lines {
		shortest = min(shortest, len(l)+1)
		var e struct{ N float64 }
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("stored line %q: %v", l, err)
		}
		distinct[e.N] = true
	}
	got := vl.WaitCount(t, ctx, "*", stored)
	uniq, err := vl.Query(ctx, "* | stats count_uniq(n) u")
	if err != nil {
		t.Fatal(err)
	}
	dups := got - stored
	// The sink's defaults: 4 requests of at most 1 MiB in flight.
	bound := uint64(4 * (1 << 20) / shortest)
	t.Logf("collector SIGKILL: %d entries stored, %d in VictoriaLogs (%s distinct): %d duplicates; in flight at most %d", stored, got, uniq[0]["u"], dups, bound)
	if uniq[0]["u"] != fmt.Sprint(len(distinct)) {
		t.Errorf("VictoriaLogs holds %s distinct entries, want the store's %d", uniq[0]["u"], len(distinct))
	}
	if dups > bound {
		t.Errorf("%d duplicates after a SIGKILL, want at most what was in flight (%d)", dups, bound)
	}
}

// The collector is restarted while VictoriaLogs is down: what it stored
// meanwhile waits in the store and arrives, once, when VictoriaLogs is
// back.
func TestCollectorRestartedWhileVictoriaLogsDownCatchesUp(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := vltest.Start(t)
	dir := t.TempDir()
	pull := "ipc://" + filepath.Join(dir, "in.sock")
	args := []string{"--pull", pull, "--file", filepath.Join(dir, "store.jsonl"), "--victorialogs", vl.URL, "--victorialogs-drain", "200ms"}
	first := startCollector(t, ctx, args...)
	const n = 6000
	shipApps(t, ctx, pull, []string{"zap-down"}, 0, upTo(0, n))
	waitSent(t, ctx, first, n)
	vl.Stop()
	shipApps(t, ctx, pull, []string{"zap-down"}, n, upTo(n, n))
	testsupport.WaitFor(t, ctx, "the second part stored", func() bool {
		return first.metric(t, "zmqlog_collector_entries_stored_total") >= 2*n
	})
	first.terminate(t, ctx)

	second := startCollector(t, ctx, args...)
	shipApps(t, ctx, pull, []string{"slog-down"}, 0, upTo(0, n))
	testsupport.WaitFor(t, ctx, "the third part stored", func() bool {
		return second.metric(t, "zmqlog_collector_entries_stored_total") >= n
	})
	if lag := second.metric(t, "zmqlog_collector_victorialogs_lag_entries"); lag != 2*n {
		t.Errorf("lag %v entries while VictoriaLogs is down, want %d", lag, 2*n)
	}
	vl.Restart()
	waitSent(t, ctx, second, n)
	exactly(t, ctx, vl, "*", 3*n)
	second.terminate(t, ctx)
}

// Two storage nodes behind two insert nodes: the collector shares its
// requests between the insert nodes and the cluster holds every entry
// once, spread over both storage nodes.
func TestVictoriaLogsClusterGetsTheTotal(t *testing.T) {
	ctx := testsupport.Context(t)
	s1, s2 := vltest.Start(t), vltest.Start(t)
	nodes := "-storageNode=" + s1.Addr + "," + s2.Addr
	i1, i2 := vltest.Start(t, nodes, "-select.disable"), vltest.Start(t, nodes, "-select.disable")
	c := startCollector(t, ctx, "--victorialogs", i1.URL+","+i2.URL)
	const n = 40000
	shipApps(t, ctx, c.pull, []string{"zap-c1", "slog-c2"}, 0, upTo(0, n/2))
	waitSent(t, ctx, c, n)
	shares := map[string]uint64{}
	testsupport.WaitFor(t, ctx, "the cluster to hold every entry", func() bool {
		var total uint64
		for _, s := range []*vltest.Server{s1, s2} {
			got, err := s.Count(ctx, "*")
			if err != nil {
				t.Fatal(err)
			}
			shares[s.Addr] = got
			total += got
		}
		if total > n {
			t.Fatalf("the cluster holds %d entries (%v), want %d", total, shares, n)
		}
		return total == n
	})
	for addr, got := range shares {
		if got == 0 {
			t.Errorf("storage node %s holds nothing of %v: the insert nodes did not spread the load", addr, shares)
		}
	}
	requests := c.series(t, "zmqlog_collector_victorialogs_requests_total")
	if len(requests) != 2 || requests[0] == 0 || requests[1] == 0 {
		t.Errorf("requests per insert node %v: want both used", requests)
	}
	c.terminate(t, ctx)
}

// One of two insert nodes is unreachable: everything goes through the
// other, and the dead one is reported down.
func TestVictoriaLogsFailsOverToTheInsertNodeThatAnswers(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := vltest.Start(t)
	dead := "http://" + closedPort(t)
	c := startCollector(t, ctx, "--victorialogs", dead+","+vl.URL)
	const n = 20000
	shipApps(t, ctx, c.pull, []string{"zap-failover"}, 0, upTo(0, n))
	waitSent(t, ctx, c, n)
	exactly(t, ctx, vl, "*", n)
	if up := c.series(t, `zmqlog_collector_victorialogs_up{url="`+dead+`"}`); len(up) != 1 || up[0] != 0 {
		t.Errorf("the dead node's up metric is %v, want 0", up)
	}
	c.terminate(t, ctx)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// series returns the values of every series whose name and labels begin
// with prefix, in the order of the scrape.
func (p *collectorProc) series(t testing.TB, prefix string) []float64 {
	t.Helper()
	resp, err := http.Get(p.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out []float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			out = append(out, v)
		}
	}
	return out
}

// A bad --victorialogs stops zmqcollect at start, saying which URL and
// why; --help documents the flags.
func TestVictoriaLogsFlagErrors(t *testing.T) {
	ctx := testsupport.Context(t)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--victorialogs", "127.0.0.1:9428"}, `--victorialogs: VictoriaLogs URL "127.0.0.1:9428"`},
		{[]string{"--victorialogs", "http://127.0.0.1:9428,"}, "--victorialogs: VictoriaLogs URL list"},
		{[]string{"--victorialogs", "http://a:9428/insert/jsonline"}, "without /insert/jsonline"},
		{[]string{"--victorialogs", "http://a:9428", "--victorialogs-drain", "-1s"}, "--victorialogs-drain -1s: must not be negative"},
	} {
		cmd := exec.CommandContext(ctx, bins["."], append(tc.args, "--pull", "tcp://127.0.0.1:0", "--pub", "")...)
		cmd.Dir = t.TempDir()
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), tc.says) {
			t.Errorf("zmqcollect %v: exit %d, output %q; want exit 2 saying %q", tc.args, code, out, tc.says)
		}
	}
	out, _ := exec.CommandContext(ctx, bins["."], "--help").CombinedOutput()
	for _, flag := range []string{"-victorialogs ", "-victorialogs-drain", "-victorialogs-gzip"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("--help does not document %s", flag)
		}
	}
}

// With no store file the sink sends from memory: every entry arrives
// while VictoriaLogs keeps up.
func TestVictoriaLogsWithoutAStoreFile(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := vltest.Start(t)
	c := startCollector(t, ctx, "--file", "", "--victorialogs", vl.URL)
	const n = 20000
	shipApps(t, ctx, c.pull, []string{"zap-mem", "slog-mem"}, 0, upTo(0, n/2))
	testsupport.WaitFor(t, ctx, "every entry sent", func() bool {
		return c.metric(t, "zmqlog_collector_victorialogs_entries_sent_total") == n
	})
	exactly(t, ctx, vl, "zmqlog.app:in(zap-mem, slog-mem)", n)
	if d := c.series(t, `zmqlog_collector_victorialogs_entries_dropped_total{reason="buffer_full"}`); len(d) != 1 || d[0] != 0 {
		t.Errorf("dropped %v", d)
	}
	c.terminate(t, ctx)
}

// SIGTERM right after the load: the collector stores what it received,
// sends it to VictoriaLogs within --victorialogs-drain, and exits.
func TestSIGTERMSendsWhatIsLeftToVictoriaLogs(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := vltest.Start(t)
	c := startCollector(t, ctx, "--victorialogs", vl.URL)
	const n = 30000
	shipApps(t, ctx, c.pull, []string{"zap-term"}, 0, upTo(0, n))
	c.terminate(t, ctx)
	if c.stopped["received"] != n {
		t.Fatalf("received %d, want %d", c.stopped["received"], n)
	}
	exactly(t, ctx, vl, "*", n)
}

// A VictoriaLogs that accepts connections and never answers holds up
// nothing but the sink: entries are stored and published as fast as
// without it, with a store file (the sink falls behind in it) and without
// (the memory buffer fills and counts what it drops).
func TestHangingVictoriaLogsDoesNotSlowIngest(t *testing.T) {
	ctx := testsupport.Context(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held, never read or answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	for _, file := range []string{"store.jsonl", ""} {
		args := []string{"--victorialogs", "http://" + ln.Addr().String(), "--victorialogs-drain", "100ms"}
		if file == "" {
			args = append(args, "--file", "")
		}
		c := startCollector(t, ctx, args...)
		const n = 50000
		start := time.Now()
		shipApps(t, ctx, c.pull, []string{"zap-hang"}, 0, upTo(0, n))
		done := "zmqlog_collector_entries_received_total"
		if file != "" {
			done = "zmqlog_collector_entries_stored_total"
		}
		testsupport.WaitFor(t, ctx, "every entry taken in", func() bool { return c.metric(t, done) == n })
		t.Logf("file %q: %d entries in %v while VictoriaLogs hangs", file, n, time.Since(start))
		if sent := c.metric(t, "zmqlog_collector_victorialogs_entries_sent_total"); sent != 0 {
			t.Errorf("sent %v to a server that never answers", sent)
		}
		c.terminate(t, ctx)
	}
}
