package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/pyzmq"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/slogzmq"
	"github.com/zmqlog/zmqlog/zapzmq"
)

// bins holds zmqcollect, zmqtail and the writer examples, built once for
// these tests, which run them as subprocesses the way a user does.
var bins = map[string]string{".": "", "../zmqtail": "", "../../examples/zap-writer": "", "../../examples/slog-writer": ""}

func TestMain(m *testing.M) {
	runProducerIfAsked() // when this binary runs as a producer process
	os.Exit(testsupport.BuildAndRun(m, bins, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun")))
}

// collectorProc is a running zmqcollect.
type collectorProc struct {
	cmd                *exec.Cmd
	pull, pub, metrics string
	page               string // the --http page's URL
	file               string
	stderr             chan string
	done               chan error
	stopped            map[string]uint64 // the counts of its "stopped" line
	said               []string          // every line read from its stderr so far
}

var kv = regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`)

func fields(line string) map[string]string {
	out := map[string]string{}
	for _, m := range kv.FindAllStringSubmatch(line, -1) {
		out[m[1]] = strings.Trim(m[2], `"`)
	}
	return out
}

func startCollector(t testing.TB, ctx context.Context, args ...string) *collectorProc {
	t.Helper()
	return startCollectorIn(t, ctx, nil, args...)
}

// startCollectorIn is startCollector with the command line after wrap
// (underOpenFileLimit, say); nil runs zmqcollect itself.
func startCollectorIn(t testing.TB, ctx context.Context, wrap []string, args ...string) *collectorProc {
	t.Helper()
	file := filepath.Join(t.TempDir(), "store.jsonl")
	args = append([]string{"--pull", "tcp://127.0.0.1:0", "--pub", "tcp://127.0.0.1:0", "--file", file, "--metrics", "127.0.0.1:0"}, args...)
	argv := append(append(wrap[:len(wrap):len(wrap)], bins["."]), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &collectorProc{cmd: cmd, file: file, stderr: make(chan string, 1000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.stderr <- sc.Text()
		}
		close(p.stderr)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.done != nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	for p.pull == "" {
		line := p.line(t, ctx)
		f := fields(line)
		switch f["msg"] {
		case "serving metrics":
			p.metrics = f["url"]
		case "serving the live page":
			p.page = f["url"]
		case "collecting":
			p.pull, p.pub = f["pull"], f["pub"]
		}
	}
	return p
}

func (p *collectorProc) line(t testing.TB, ctx context.Context) string {
	t.Helper()
	select {
	case l, ok := <-p.stderr:
		if !ok {
			t.Fatal("zmqcollect exited")
		}
		t.Log("zmqcollect:", l)
		p.said = append(p.said, l)
		return l
	case <-ctx.Done():
		t.Fatal("zmqcollect said nothing in time")
	}
	return ""
}

// terminate sends SIGTERM and waits for a clean exit, keeping the counts
// of the "stopped" line.
func (p *collectorProc) terminate(t testing.TB, ctx context.Context) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	for p.stopped == nil {
		f := fields(p.line(t, ctx))
		if f["msg"] == "stopped" {
			p.stopped = map[string]uint64{}
			for k, v := range f {
				if n, err := strconv.ParseUint(v, 10, 64); err == nil {
					p.stopped[k] = n
				}
			}
		}
	}
	for range p.stderr {
	}
	if err := <-p.done; err != nil {
		t.Fatalf("zmqcollect exited with %v, want 0", err)
	}
	p.done = nil
}

func (p *collectorProc) metric(t testing.TB, name string) float64 {
	t.Helper()
	v, err := p.tryMetric(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tryMetric is metric for a scrape that may be refused.
func (p *collectorProc) tryMetric(name string) (float64, error) {
	resp, err := http.Get(p.metrics)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimPrefix(line, name+" "), 64)
			return v, nil
		}
	}
	return 0, fmt.Errorf("no metric %q in:\n%s", name, body)
}

func fileLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// zap and slog apps, a pyzmq PUSH and two subscribers (ours and pyzmq's)
// around one zmqcollect: everything is stored, errors reach both
// subscribers, metrics count it all, SIGTERM leaves it all in the file.
func TestCollectorEndToEnd(t *testing.T) {
	ctx := testsupport.Context(t)
	pyzmq.Require(t)
	c := startCollector(t, ctx)

	// Subscribers first; a probe tells when both receive.
	ours := testcollector.Subscribe(t, c.pub, zsock.Options{}, "ERROR")
	pySub := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = sock(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"ERROR")
s.connect(sys.argv[1])
load = {}
ready = False
while True:
    topic, entry = s.recv_multipart()
    if not ready:
        ready = True
        say("ready")
    if b'"load"' not in entry:
        continue
    if b'"end"' in entry:
        break
    load[topic] = load.get(topic, 0) + 1
say(" ".join("%s=%d" % (k.decode(), v) for k, v in sorted(load.items())))
`, c.pub)

	var zapCores []*zapzmq.Core
	var slogHandlers []*slogzmq.Handler
	for _, app := range []string{"zap-a", "zap-b"} {
		core, err := zapzmq.NewCore(c.pull, zapzmq.WithApp(app))
		if err != nil {
			t.Fatal(err)
		}
		defer core.Close()
		zapCores = append(zapCores, core)
	}
	for _, app := range []string{"slog-a", "slog-b"} {
		h, err := slogzmq.NewHandler(c.pull, &slogzmq.Options{App: app, Level: slog.LevelDebug})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		slogHandlers = append(slogHandlers, h)
	}
	probe := zap.New(zapCores[0])
	probes := 0
	for pyReady, oursReady := false, false; !pyReady || !oursReady; {
		probe.Error("probe")
		probes++
		select {
		case l := <-pySub.Lines:
			pyReady = l == "ready"
		case <-time.After(20 * time.Millisecond):
		}
		short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		if _, err := ours.Recv(short); err == nil {
			oursReady = true
		}
		cancel()
	}

	// The load: every level from every app, plain messages from pyzmq.
	const perApp = 2000
	var wg sync.WaitGroup
	for _, core := range zapCores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := zap.New(core)
			for i := range perApp {
				switch i % 4 {
				case 0:
					l.Debug("load", zap.Int("i", i))
				case 1:
					l.Info("load", zap.Int("i", i))
				case 2:
					l.Warn("load", zap.Int("i", i))
				case 3:
					l.Error("load", zap.Int("i", i))
				}
			}
		}()
	}
	for _, h := range slogHandlers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := slog.New(h)
			for i := range perApp {
				l.Log(ctx, []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError + 4}[i%4], "load", "i", i)
			}
		}()
	}
	pyPush := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = sock(zmq.PUSH)
s.connect(sys.argv[1])
for i in range(100):
    s.send_multipart([b"WARNING.legacy", b"plain text %d" % i])
s.close()
ctx.term()
say("sent")
`, c.pull)
	if l := pyPush.Line(t, ctx); l != "sent" {
		t.Fatalf("pyzmq PUSH said %q", l)
	}
	wg.Wait()
	for _, core := range zapCores {
		core.Sync()
	}
	for _, h := range slogHandlers {
		h.Flush(ctx)
	}
	// A flush says a batch is written to its connection, not that the
	// collector has handled it; each app has its own connection, so the
	// end marker could overtake another app's last batch. It is sent only
	// once the collector has handled the whole load (handling is one batch
	// at a time, so what it published before reaches subscribers first).
	total := 4*perApp + 100 + probes + 1
	testsupport.WaitFor(t, ctx, "the collector to receive the load", func() bool {
		return c.metric(t, "zmqlog_collector_entries_received_total") >= float64(total-1)
	})
	zap.New(zapCores[1]).Error("end", zap.Bool("load", true), zap.Bool("end", true))
	zapCores[1].Sync()

	// Our subscriber: every error of the load, nothing else.
	wantErrors := 2*perApp/4 + 2*perApp/4 // zap ERROR + slog ERROR+4
	gotErrors := 0
	for gotErrors < wantErrors+1 {
		m, err := ours.Recv(ctx)
		if err != nil {
			t.Fatalf("our subscriber got %d of %d errors: %v", gotErrors, wantErrors, err)
		}
		if !strings.HasPrefix(string(m.Frames[0]), "ERROR") {
			t.Fatalf("subscribed to ERROR, got %q", m.Frames[0])
		}
		if strings.Contains(string(m.Frames[1]), `"load"`) {
			gotErrors++
		}
	}
	if l := pySub.Line(t, ctx); l != fmt.Sprintf("ERROR+4.slog-a=%d ERROR+4.slog-b=%d ERROR.zap-a=%d ERROR.zap-b=%d", perApp/4, perApp/4, perApp/4, perApp/4) {
		t.Errorf("pyzmq SUB got %q", l)
	}

	testsupport.WaitFor(t, ctx, "the collector to receive everything", func() bool { return c.metric(t, "zmqlog_collector_entries_received_total") >= float64(total) })
	if got := c.metric(t, "zmqlog_collector_gap_entries_total"); got != 0 {
		t.Errorf("gaps %v", got)
	}
	if got := c.metric(t, "zmqlog_collector_live_producers"); got != 4 {
		t.Errorf("live producers %v, want 4", got)
	}
	if got := c.metric(t, `zmqlog_collector_messages_total{kind="plain"}`); got != 100 {
		t.Errorf("plain messages %v, want 100", got)
	}

	c.terminate(t, ctx)
	lines := fileLines(t, c.file)
	if uint64(len(lines)) != c.stopped["received"] || c.stopped["stored"] != c.stopped["received"] || len(lines) != total {
		t.Fatalf("file has %d lines; collector received %d, stored %d; %d were sent", len(lines), c.stopped["received"], c.stopped["stored"], total)
	}
	perSource := map[string]int{}
	for _, l := range lines {
		for _, src := range []string{`"wrapped":true`, `"level":"debug"`, `"level":"DEBUG"`} {
			if strings.Contains(l, src) {
				perSource[src]++
			}
		}
	}
	if perSource[`"wrapped":true`] != 100 || perSource[`"level":"debug"`] != perApp/2 || perSource[`"level":"DEBUG"`] != perApp/2 {
		t.Errorf("lines by kind %v", perSource)
	}
}

// SIGTERM while producers are sending: every entry the collector had
// received is in the file when it exits.
func TestSIGTERMUnderLoadLosesNothingReceived(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slowest slowestCall
	for p := range 4 {
		s, err := zmqlog.NewShipper(c.pull, zmqlog.WithApp(fmt.Sprintf("load-%d", p)), zmqlog.WithFlushTimeout(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			entry := []byte(`{"level":"info","msg":"steady load","pad":"` + strings.Repeat("x", 100) + `"}`)
			for {
				select {
				case <-stop:
					return
				default:
					slowest.ship(s, "INFO", entry)
				}
			}
		}()
	}
	testsupport.WaitFor(t, ctx, "the load", func() bool { return c.metric(t, "zmqlog_collector_entries_received_total") >= 200000 })
	rss := peakRSS(c.cmd.Process.Pid)
	began := time.Now()
	c.terminate(t, ctx) // under a load that never quiets: drains for --drain (2s), then stops
	took := time.Since(began)
	close(stop)
	wg.Wait()
	// The store may have rotated (100 MB by default): count every file.
	files, _ := filepath.Glob(strings.TrimSuffix(c.file, ".jsonl") + "*.jsonl")
	n := 0
	for _, f := range files {
		for _, l := range fileLines(t, f) {
			if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
				t.Fatalf("%s holds a broken line: %.80q", f, l)
			}
			n++
		}
	}
	t.Logf("SIGTERM to exit %v; received %d, stored %d, lines in %d files %d, gaps %d; slowest Ship %v; collector peak RSS %d MiB",
		took, c.stopped["received"], c.stopped["stored"], len(files), n, c.stopped["gaps"], &slowest, rss>>20)
	if uint64(n) != c.stopped["received"] || c.stopped["stored"] != c.stopped["received"] {
		t.Fatalf("%d files hold %d lines; collector received %d, stored %d", len(files), n, c.stopped["received"], c.stopped["stored"])
	}
}

func TestBadFlagsAndBusyPorts(t *testing.T) {
	ctx := testsupport.Context(t)
	runIt := func(args ...string) (int, string) {
		cmd := exec.CommandContext(ctx, bins["."], args...)
		cmd.Dir = t.TempDir()
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"--pull", "tcp://127.0.0.1"}, 2, `"tcp://127.0.0.1"`},
		{[]string{"--pub", "udp://127.0.0.1:1"}, 2, `unsupported transport "udp"`},
		{[]string{"--max-size", "-5"}, 2, "--max-size -5: must not be negative"},
		{[]string{"--max-size", "0"}, 2, "--max-size 0: a file of no size could store nothing"},
		{[]string{"extra"}, 2, "takes no arguments"},
		{[]string{"--file", "/proc/no/such/dir/x.jsonl"}, 1, "store file"},
		{[]string{"--file-mode", "0999"}, 2, "--file-mode 0999: not an octal file mode"},
		{[]string{"--file-mode", "rw-r-----"}, 2, "--file-mode rw-r-----: not an octal file mode"},
		{[]string{"--file-mode", "1777"}, 2, "--file-mode 1777: only permission bits"},
		{[]string{"--file-mode", "0440"}, 2, "--file-mode 0440: the owner must keep read and write"},
		{[]string{"--file-mode", "0"}, 2, "--file-mode 0: the owner must keep read and write"},
		{[]string{"--max-conns-per-host", "0"}, 2, "--max-conns-per-host 0: a limit of nothing would refuse every peer"},
		{[]string{"--receive-budget-mb", "-1"}, 2, "--receive-budget-mb -1: must not be negative"},
		{[]string{"--idle-ping", "-1s"}, 2, "--idle-ping -1s: must not be negative"},
		{[]string{"--http", "0.0.0.0:0"}, 2, "--http 0.0.0.0:0: other hosts can reach this address, so it needs --http-token"},
		{[]string{"--http", ":9559"}, 2, "needs --http-token"},
		{[]string{"--metrics", "0.0.0.0:0"}, 2, "--metrics 0.0.0.0:0: other hosts can reach this address, so it needs --http-token"},
		{[]string{"--metrics", ":9557"}, 2, "needs --http-token"},
		{[]string{"--metrics", "127.0.0.1"}, 2, "--metrics 127.0.0.1: not host:port (missing port in address); e.g. 127.0.0.1:9557"},
		{[]string{"--metrics", "127.0.0.1:99999"}, 2, `--metrics 127.0.0.1:99999: not host:port (port "99999" is not a port number)`},
		{[]string{"--http", "bogus"}, 2, "--http bogus: not host:port (missing port in address)"},
		{[]string{"--history-mb", "-1"}, 2, "--history-mb -1: must not be negative"},
		{[]string{"--http", "127.0.0.1:0", "--history-mb", "0"}, 2, "the page needs the history"},
		{[]string{"--curve-secret", "c.key_secret"}, 2, "--curve-secret needs --curve-clients DIR"},
		{[]string{"--curve-clients", "clients"}, 2, "need --curve-secret"},
		{[]string{"--curve-tails", "tails"}, 2, "need --curve-secret"},
		{[]string{"--curve-secret", "c.key_secret", "--curve-clients", "d", "--curve-any-client"}, 2, "contradict each other"},
		{[]string{"--forward-curve-server", "up.key"}, 2, "needs both --forward-curve-server"},
		{[]string{"--forward-curve-server", "up.key", "--forward-curve-secret", "me.key_secret"}, 2, "need --forward"},
		{[]string{"--curve-secret", "/nonexistent/c.key_secret", "--curve-any-client"}, 2, "--curve-secret: certificate /nonexistent/c.key_secret"},
		{[]string{"--handshake-rate", "-1"}, 2, "--handshake-rate -1: must not be negative"},
	} {
		code, out := runIt(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.says) {
			t.Errorf("zmqcollect %v: exit %d, output %q; want exit %d saying %q", tc.args, code, out, tc.code, tc.says)
		}
	}
	c := startCollector(t, ctx)
	code, out := runIt("--pull", c.pull, "--pub", "tcp://127.0.0.1:0", "--file", "")
	if code != 1 || !strings.Contains(out, "address already in use") || !strings.Contains(out, c.pull) {
		t.Errorf("second collector on %s: exit %d, %q", c.pull, code, out)
	}
	code, out = runIt("--help")
	for _, flag := range []string{"-pull", "-pub", "-file", "-max-size", "-max-backups", "-max-age", "-compress", "-stdout", "-forward", "-metrics", "-state", "-file-mode",
		"-max-conns", "-max-conns-per-host", "-receive-budget-mb", "-receive-budget-per-host-mb", "-idle-ping",
		"-max-subscriptions", "-subscriber-queue-mb", "-publish-budget-mb", "-max-message-mb", "-subscription-budget-mb", "-http", "-http-token", "-history-mb",
		"-curve-secret", "-curve-clients", "-curve-any-client", "-curve-tails", "-forward-curve-server", "-forward-curve-secret", "-handshake-rate", "-victorialogs"} {
		if !strings.Contains(out, flag) {
			t.Errorf("--help does not document %s", flag)
		}
	}
	if code != 0 {
		t.Errorf("--help exit %d", code)
	}
	c.terminate(t, ctx)
}

// The store file is private to its owner unless --file-mode says more.
func TestFileModeFlag(t *testing.T) {
	ctx := testsupport.Context(t)
	for _, tc := range []struct {
		args []string
		want os.FileMode
	}{{nil, 0o600}, {[]string{"--file-mode", "0640"}, 0o640}} {
		c := startCollector(t, ctx, tc.args...)
		fi, err := os.Stat(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.want {
			t.Errorf("zmqcollect %v: store file mode %#o, want %#o", tc.args, uint32(fi.Mode().Perm()), uint32(tc.want))
		}
		c.terminate(t, ctx)
	}
}
