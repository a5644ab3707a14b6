package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.uber.org/zap"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/cli"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/zapzmq"
)

// The zmqtail and zmqcollect binaries, built once: the tests run them as
// a user does.
// The binaries under test, built once (testcollector.BuildAndRun).
var bins = map[string]string{".": "", "../zmqcollect": ""}

func TestMain(m *testing.M) { os.Exit(testsupport.BuildAndRun(m, bins)) }

// proc is a running binary whose output lines arrive on channels.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr chan string
}

func lines(r io.Reader) chan string {
	ch := make(chan string, 10000)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

func start(t *testing.T, ctx context.Context, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=")
	out, _ := cmd.StdoutPipe()
	errOut, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: lines(out), stderr: lines(errOut)}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return p
}

// waitLine returns the first line on ch matching re: the whole line, then
// the submatches.
func waitLine(t *testing.T, ctx context.Context, ch chan string, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("output ended before a line matching %q", re)
			}
			if m := rx.FindStringSubmatch(l); m != nil {
				m[0] = l
				return m
			}
		case <-ctx.Done():
			t.Fatalf("no line matching %q in time", re)
		}
	}
}

// zmqcollect → zmqtail --level error: errors (and worse) are printed,
// filtered at the publisher, nothing else.
func TestTailThroughTheCollector(t *testing.T) {
	ctx := testsupport.Context(t)
	col := start(t, ctx, bins["../zmqcollect"], "--pull", "tcp://127.0.0.1:0", "--pub", "tcp://127.0.0.1:0", "--file", "")
	m := waitLine(t, ctx, col.stderr, `msg=collecting pull=(\S+) pub=(\S+)`)
	pull, pub := m[1], m[2]

	tl := start(t, ctx, bins["."], "--level", "error", "--color", "never", "--utc", pub)
	waitLine(t, ctx, tl.stderr, `connected to `+regexp.QuoteMeta(pub))

	core, err := zapzmq.NewCore(pull, zapzmq.WithApp("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	logger := zap.New(core)
	// The subscription reaches the collector just after the connection:
	// send errors until one is printed.
	for seen := false; !seen; {
		logger.Error("probe")
		select {
		case l := <-tl.stdout:
			seen = strings.Contains(l, "probe")
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("zmqtail printed nothing")
		}
	}
	logger.Info("not shown", zap.Int("n", 1))
	logger.Warn("not shown either")
	logger.Error("payment declined", zap.String("reason", "card expired"), zap.Int("amount", 12))
	logger.DPanic("state broken")
	core.Sync()
	l := waitLine(t, ctx, tl.stdout, `payment declined|not shown`)[0]
	if strings.Contains(l, "not shown") {
		t.Fatalf("zmqtail --level error printed %q", l)
	}
	if !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} ERROR \[shop\] payment declined amount=12 reason="card expired"$`).MatchString(l) {
		t.Errorf("line %q", l)
	}
	if l := waitLine(t, ctx, tl.stdout, `state broken|not shown`)[0]; !strings.Contains(l, "DPANIC [shop] state broken") {
		t.Errorf("line %q", l)
	}
}

// Colors on a terminal, none in a pipe, none with NO_COLOR.
func TestColorOnATerminalOnly(t *testing.T) {
	run := func(t *testing.T, terminal bool, env ...string) string {
		ctx := testsupport.Context(t)
		cmd := exec.CommandContext(ctx, bins["."], "--bind", "tcp://127.0.0.1:0")
		cmd.Env = append(os.Environ(), env...)
		errOut, _ := cmd.StderrPipe()
		var out io.Reader
		if terminal {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Skipf("no pseudo-terminal: %v", err)
			}
			defer ptmx.Close()
			cmd.Stdout = tty
			out = ptmx
			defer tty.Close()
		} else {
			out, _ = cmd.StdoutPipe()
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
		endpoint := waitLine(t, ctx, lines(errOut), `listening on (\S+)`)[1]
		s, err := zmqlog.NewShipper(endpoint, zmqlog.WithLinger(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Ship("ERROR.app", []byte(`{"level":"error","msg":"colored?"}`))
		return waitLine(t, ctx, lines(out), `colored\?`)[0]
	}
	if l := run(t, true); !strings.Contains(l, "\x1b[31m") {
		t.Errorf("on a terminal: %q, want red", l)
	}
	if l := run(t, false); strings.Contains(l, "\x1b[") {
		t.Errorf("piped: %q, want no escape codes", l)
	}
	if l := run(t, true, "NO_COLOR=1"); strings.Contains(l, "\x1b[") {
		t.Errorf("with NO_COLOR: %q, want no escape codes", l)
	}
}

func TestBadFlagsExit2(t *testing.T) {
	ctx := testsupport.Context(t)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--level", "verbose"}, "valid levels: debug, info, warn"},
		{[]string{"--color", "sometimes"}, "want auto, always or never"},
		{[]string{"--grep", "("}, "--grep"},
		{[]string{"--nope"}, "flag provided but not defined"},
		{[]string{"tcp://127.0.0.1"}, `"tcp://127.0.0.1"`},
		{[]string{"--bind", "tcp://127.0.0.1:0", "tcp://127.0.0.1:1"}, "--bind takes no endpoints"},
		{[]string{"--curve-server", "collector.key"}, "needs both --curve-server"},
		{[]string{"--curve-secret", "tail.key_secret"}, "needs both --curve-server"},
		{[]string{"--curve-server", "a.key", "--curve-secret", "b.key_secret", "--bind", "tcp://127.0.0.1:0"}, "do not go with --bind"},
		{[]string{"--curve-server", "/nonexistent/collector.key", "--curve-secret", "/nonexistent/tail.key_secret"}, "/nonexistent/collector.key"},
	} {
		cmd := exec.CommandContext(ctx, bins["."], tc.args...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), tc.says) {
			t.Errorf("zmqtail %v: exit %d, %q; want exit 2 saying %q", tc.args, code, out, tc.says)
		}
	}
}

// Several publishers merged into one stream; --app and --json; the
// connection state on stderr: connected, heartbeat missing, lost,
// connected again after the publisher restarts.
func TestMergedStreamsFiltersAndConnectionState(t *testing.T) {
	ctx := testsupport.Context(t)
	dir, err := os.MkdirTemp("", "zt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	epA, epB := "ipc://"+filepath.Join(dir, "a.sock"), "ipc://"+filepath.Join(dir, "b.sock")
	a, b := listenPub(t, epA), listenPub(t, epB)
	tl := start(t, ctx, bins["."], "--json", "--app", "keep", "--heartbeat-timeout", "300ms", epA, epB)
	waitLine(t, ctx, tl.stderr, "connected to ")
	waitLine(t, ctx, tl.stderr, "connected to ")
	waitSubscribers(t, ctx, a)
	waitSubscribers(t, ctx, b)
	a.Publish([][]byte{[]byte("INFO.other"), []byte(`{"msg":"filtered out"}`)})
	a.Publish([][]byte{[]byte("INFO.keep"), []byte(`{"msg":"from a"}`)})
	b.Publish([][]byte{[]byte("ERROR.keep"), []byte(`{"msg":"from b"}`)})
	got := map[string]bool{}
	for len(got) < 2 {
		got[waitLine(t, ctx, tl.stdout, `.`)[0]] = true
	}
	if !got[`{"msg":"from a"}`] || !got[`{"msg":"from b"}`] {
		t.Fatalf("--json --app keep printed %v", got)
	}
	// No heartbeat from these publishers: zmqtail says so.
	waitLine(t, ctx, tl.stderr, `no heartbeat from \S+ for`)
	a.Close()
	waitLine(t, ctx, tl.stderr, "lost "+regexp.QuoteMeta(epA)+", reconnecting")
	listenPub(t, epA)
	waitLine(t, ctx, tl.stderr, "connected to "+regexp.QuoteMeta(epA))
}

func listenPub(t *testing.T, endpoint string) *zsock.Publisher {
	t.Helper()
	ep, err := zsock.ParseEndpoint(endpoint, true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := zsock.ListenPub(ep, zsock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitSubscribers waits until a subscription has reached the publisher.
func waitSubscribers(t *testing.T, ctx context.Context, p *zsock.Publisher) {
	t.Helper()
	err := p.AwaitSubscriptions(ctx, func(st zsock.PublisherStats) bool {
		return len(st.Subscribers) == 1 && len(st.Subscribers[0].Topics) > 0
	})
	if err != nil {
		t.Fatalf("waiting for a subscription at %s: %v", p.Endpoint(), err)
	}
}

// runInProcess calls run as main does, with stdout and stderr as line
// channels; stop ends it (Ctrl-C) and returns its error.
func runInProcess(t *testing.T, ctx context.Context, args ...string) (stdout, stderr chan string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, nil, outW, errW)
		outW.Close()
		errW.Close()
		done <- err
	}()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			// Drain what is left so that run's last writes do not block.
			go io.Copy(io.Discard, outR)
			go io.Copy(io.Discard, errR)
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return lines(outR), lines(errR), stop
}

// --heartbeat-timeout 0 turns the heartbeat watch off: zmqtail follows
// the stream as usual (it used to panic at start).
func TestHeartbeatTimeoutZeroTurnsTheWatchOff(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := shortTempDir(t)
	ep := "ipc://" + filepath.Join(dir, "pub.sock")
	pub := listenPub(t, ep)
	stdout, stderr, stop := runInProcess(t, ctx, "--heartbeat-timeout", "0", "--color", "never", ep)
	waitLine(t, ctx, stderr, "connected to "+regexp.QuoteMeta(ep))
	waitSubscribers(t, ctx, pub)
	pub.Publish([][]byte{[]byte("ERROR.shop"), []byte(`{"msg":"still shown"}`)})
	waitLine(t, ctx, stdout, `ERROR \[shop\] still shown`)
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// A negative --heartbeat-timeout is refused at start, naming the value.
func TestNegativeHeartbeatTimeoutIsRefused(t *testing.T) {
	ctx := testsupport.Context(t)
	var stderr strings.Builder
	err := run(ctx, []string{"--heartbeat-timeout", "-1s"}, nil, io.Discard, &stderr)
	if code := cli.ExitCode(err); code != 2 || !strings.Contains(fmt.Sprint(err), "--heartbeat-timeout -1s") {
		t.Fatalf("run: exit %d, %v; want exit 2 naming --heartbeat-timeout -1s", code, err)
	}
}

// A peer's own text in the connection state on stderr is escaped: an ipc
// producer names its address (the path it bound) and the error quotes it.
func TestStatusLinesEscapePeerText(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := shortTempDir(t)
	server := filepath.Join(dir, "t.sock")
	_, stderr, stop := runInProcess(t, ctx, "--bind", "ipc://"+server)
	waitLine(t, ctx, stderr, "listening on ")

	hostile := filepath.Join(dir, "\x1b]52;c;cm0g\x07\x1b[2J\r\u009b\u202e")
	nc, err := net.DialUnix("unix", &net.UnixAddr{Name: hostile, Net: "unix"}, &net.UnixAddr{Name: server, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("not ZMTP\r\n"))
	l := waitLine(t, ctx, stderr, `dropped peer`)[0]
	if strings.ContainsAny(l, "\x1b\a\r\u009b\u202e") {
		t.Errorf("raw control characters on stderr: %q", l)
	}
	if want := `\x1b]52;c;cm0g\a\x1b[2J\r\u009b\u202e`; !strings.Contains(l, want) {
		t.Errorf("stderr line %q does not show the peer's address as %s", l, want)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// shortTempDir is a directory for ipc sockets: t.TempDir's paths can be
// too long for a Unix socket address.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
