package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/pyzmq"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// keys runs `zmqcollect keygen` for each name in dir, as a user would.
func keys(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, stderr, code := keygenRun(t, dir, "keygen", n); code != 0 {
			t.Fatalf("keygen %s: exit %d: %s", n, code, stderr)
		}
	}
}

// writer runs zap-writer or slog-writer to completion with args and
// returns what it printed.
func writer(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, bins["../../examples/"+name], args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// The end to end: zap and slog apps with their own CURVE keys ->
// zmqcollect with an allow-list -> zmqtail --level error with its key
// shows the errors. An app whose key is not on the list and an app
// without CURVE get nothing stored, and the collector counts each by
// reason.
func TestCurveEndToEndWithAllowList(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := t.TempDir()
	keys(t, dir, "collector", "zapapp", "slogapp", "tail", "probe", "stranger")
	clients := filepath.Join(dir, "clients")
	if err := os.Mkdir(clients, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"zapapp", "slogapp", "tail", "probe"} {
		data, err := os.ReadFile(filepath.Join(dir, n+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clients, n+".key"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	key := func(name string) string { return filepath.Join(dir, name) }
	col := startCollector(t, ctx, "--curve-secret", key("collector.key_secret"), "--curve-clients", clients)

	// zmqtail with its own key, errors and worse.
	tailCmd := exec.CommandContext(ctx, bins["../zmqtail"], "--level", "error", "--color", "never",
		"--curve-server", key("collector.key"), "--curve-secret", key("tail.key_secret"), col.pub)
	out, err := tailCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tailCmd.Stderr = os.Stderr
	if err := tailCmd.Start(); err != nil {
		t.Fatal(err)
	}
	printed := make(chan string, 100)
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			printed <- sc.Text()
		}
	}()
	t.Cleanup(func() { tailCmd.Process.Kill(); <-tailDone; tailCmd.Wait() })

	// An allowed client probes until the tail prints: the tail's
	// subscription is then in place at the collector.
	probe, err := zmqlog.NewShipper(col.pull, zmqlog.WithApp("probe"), zmqlog.WithCurve(key("collector.key"), key("probe.key_secret")))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	for subscribed := false; !subscribed; {
		probe.Ship("ERROR.probe", []byte(`{"level":"error","msg":"probe"}`))
		if err := probe.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-printed:
			subscribed = strings.Contains(l, "probe")
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("zmqtail printed nothing")
		}
	}

	curve := func(app string) []string {
		return []string{"--endpoint", col.pull, "--app", app, "--count", "8", "--every", "0",
			"--curve-server", key("collector.key"), "--curve-secret", key(app + ".key_secret")}
	}
	// The zap app goes through a relay that records what crosses the wire.
	relay := newRecordingRelay(t, strings.TrimPrefix(col.pull, "tcp://"))
	zapArgs := curve("zapapp")
	zapArgs[1] = "tcp://" + relay.addr()
	if got := writer(t, ctx, "zap-writer", zapArgs...); !strings.Contains(got, "shipped 8, sent 8, dropped 0") {
		t.Fatalf("zap-writer with CURVE: %s", got)
	}
	if got := writer(t, ctx, "slog-writer", curve("slogapp")...); !strings.Contains(got, "shipped 8, sent 8, dropped 0") {
		t.Fatalf("slog-writer with CURVE: %s", got)
	}
	// Each writer logs two errors; the tail shows all four.
	want := map[string]int{"zapapp step failed": 2, "slogapp request failed": 2}
	got := map[string]int{}
	for n := 0; n < 4; {
		select {
		case l := <-printed:
			if strings.Contains(l, "probe") || !strings.Contains(l, " ERROR [") {
				continue // the probe, or a stack trace's lines under an error
			}
			n++
			for w := range want {
				app, msg, _ := strings.Cut(w, " ")
				if strings.Contains(l, app) && strings.Contains(l, msg) {
					got[w]++
				}
			}
		case <-ctx.Done():
			t.Fatalf("zmqtail printed %v of the errors, want %v", got, want)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("zmqtail printed %v, want %v", got, want)
	}
	// On the wire: the CURVE greeting, and none of the entries' text.
	wire := relay.recorded()
	if !bytes.Contains(wire, []byte("CURVE")) {
		t.Fatalf("the recorded stream (%d bytes) has no CURVE greeting", len(wire))
	}
	for _, plain := range []string{"step failed", "zapapp", "timeout", `"level"`, "working"} {
		if bytes.Contains(wire, []byte(plain)) {
			t.Fatalf("%q crossed the wire in plain text", plain)
		}
	}

	// A key not on the list, and no CURVE at all: refused at the
	// handshake, nothing sent, counted by reason.
	stranger := curve("stranger")
	if got := writer(t, ctx, "zap-writer", stranger...); !strings.Contains(got, "sent 0") {
		t.Fatalf("zap-writer with a key not on the list: %s", got)
	}
	if got := writer(t, ctx, "zap-writer", "--endpoint", col.pull, "--app", "plain", "--count", "8", "--every", "0"); !strings.Contains(got, "sent 0") {
		t.Fatalf("zap-writer without CURVE: %s", got)
	}
	rejected := func(reason string) float64 {
		return col.metric(t, `zmqlog_collector_peers_rejected_total{port="pull",reason="`+reason+`"}`)
	}
	if n := rejected("unauthorized"); n < 1 {
		t.Errorf("unauthorized refusals %v, want at least 1", n)
	}
	if n := rejected("mechanism_mismatch"); n < 1 {
		t.Errorf("mechanism mismatches %v, want at least 1", n)
	}

	col.terminate(t, ctx)
	apps := map[string]int{}
	for _, l := range fileLines(t, col.file) {
		for _, app := range []string{"zapapp", "slogapp", "stranger", "plain"} {
			if strings.Contains(l, `"`+app) || strings.Contains(l, app+`"`) {
				apps[app]++
			}
		}
	}
	if apps["stranger"] != 0 || apps["plain"] != 0 {
		t.Fatalf("stored entries of refused apps: %v", apps)
	}
	if col.stopped["stored"] != col.stopped["received"] || col.stopped["received"] < 16 {
		t.Fatalf("stopped line %v: want the 16 entries of the allowed apps (and the probes) received and stored", col.stopped)
	}
}

// recordingRelay passes one TCP connection at a time on to target,
// recording the bytes its clients send: what an eavesdropper sees.
type recordingRelay struct {
	ln  net.Listener
	mu  sync.Mutex
	buf bytes.Buffer
	wg  sync.WaitGroup
}

func newRecordingRelay(t *testing.T, target string) *recordingRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingRelay{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			r.wg.Add(2)
			go func() { defer r.wg.Done(); io.Copy(up, io.TeeReader(c, r)); up.Close() }()
			go func() { defer r.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *recordingRelay) addr() string { return r.ln.Addr().String() }

// Write records bytes a client sent.
func (r *recordingRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recordingRelay) recorded() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// Key files cross between libzmq's tools and ours, in real connections:
// the collector runs on a certificate pyzmq's create_certificates wrote,
// and a pyzmq PUSH connects with a client certificate `zmqcollect keygen`
// wrote (read by pyzmq's zmq.auth.load_certificate). Its entries are
// stored; a pyzmq client whose own pyzmq-made key is not on the list is
// refused and counted.
func TestCurveKeysFromPyzmqAndKeygenInterop(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := t.TempDir()
	made := pyzmq.Start(t, ctx, pyzmq.Prelude+`
import zmq.auth
zmq.auth.create_certificates(sys.argv[1], "server")
zmq.auth.create_certificates(sys.argv[1], "outsider")
say("made")
`, dir)
	if l := made.Line(t, ctx); l != "made" {
		t.Fatalf("pyzmq said %q", l)
	}
	// pyzmq writes secret files with the process umask; we refuse those
	// others may read, as ssh does, and the user chmods them.
	for _, n := range []string{"server", "outsider"} {
		if err := os.Chmod(filepath.Join(dir, n+".key_secret"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keys(t, dir, "app")
	clients := filepath.Join(dir, "clients")
	if err := os.Mkdir(clients, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "app.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clients, "app.key"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	col := startCollector(t, ctx, "--curve-secret", filepath.Join(dir, "server.key_secret"), "--curve-clients", clients)

	push := func(client string) *pyzmq.Peer {
		return pyzmq.Start(t, ctx, pyzmq.Prelude+`
import zmq.auth
server_public, _ = zmq.auth.load_certificate(sys.argv[2])
public, secret = zmq.auth.load_certificate(sys.argv[3])
s = sock(zmq.PUSH)
s.curve_serverkey = server_public
s.curve_publickey = public
s.curve_secretkey = secret
s.connect(sys.argv[1])
for i in range(50):
    s.send_multipart([b"ERROR.pyapp", b'{"level":"error","msg":"from pyzmq %d"}' % i])
s.close()
ctx.term()
say("sent")
`, col.pull, filepath.Join(dir, "server.key"), filepath.Join(dir, client))
	}
	if l := push("app.key_secret").Line(t, ctx); l != "sent" {
		t.Fatalf("pyzmq PUSH with keygen's key said %q", l)
	}
	testsupport.WaitFor(t, ctx, "the 50 entries stored", func() bool {
		return col.metric(t, "zmqlog_collector_entries_received_total") >= 50
	})
	outsider := pyzmq.Start(t, ctx, pyzmq.Prelude+`
import zmq.auth
server_public, _ = zmq.auth.load_certificate(sys.argv[2])
public, secret = zmq.auth.load_certificate(sys.argv[3])
s = sock(zmq.PUSH)
s.curve_serverkey = server_public
s.curve_publickey = public
s.curve_secretkey = secret
s.setsockopt(zmq.LINGER, 0)
s.connect(sys.argv[1])
s.send_multipart([b"ERROR.outsider", b'{"level":"error","msg":"let me in"}'])
say("tried")
time.sleep(30)
`, col.pull, filepath.Join(dir, "server.key"), filepath.Join(dir, "outsider.key_secret"))
	if l := outsider.Line(t, ctx); l != "tried" {
		t.Fatalf("outsider said %q", l)
	}
	testsupport.WaitFor(t, ctx, "the outsider refused", func() bool {
		return col.metric(t, `zmqlog_collector_peers_rejected_total{port="pull",reason="unauthorized"}`) >= 1
	})
	col.terminate(t, ctx)
	lines := fileLines(t, col.file)
	for _, l := range lines {
		if strings.Contains(l, "let me in") {
			t.Fatalf("the outsider's entry was stored: %s", l)
		}
	}
	if len(lines) != 50 {
		t.Fatalf("stored %d lines, want pyzmq's 50", len(lines))
	}
}
