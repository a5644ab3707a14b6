// Package pyzmq runs libzmq peers for interop tests: small Python programs
// using Debian's pyzmq (python3-zmq, run as /usr/bin/python3), each a
// subprocess bounded by the test's context and killed at cleanup.
package pyzmq

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Python is the interpreter that has pyzmq on Debian.
const Python = "/usr/bin/python3"

// Prelude defines sock(kind), a socket with libzmq heartbeats on (so a
// PING that surfaced as data, or went unanswered, fails the test), and
// say(...), a print that flushes.
const Prelude = `
import sys, time, zmq
ctx = zmq.Context()
def sock(kind):
    s = ctx.socket(kind)
    s.setsockopt(zmq.HEARTBEAT_IVL, 20)
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 200)
    s.setsockopt(zmq.LINGER, 5000)
    return s
def say(*a):
    print(*a, flush=True)
`

// CurvePrelude (after Prelude) defines curve_server(s, secret) and
// curve_client(s, server_public, secret), which set libzmq's CURVE options
// from raw 32-byte keys given in hex (the tests make keys in Go).
const CurvePrelude = `
from zmq.utils import z85
def z(hexkey):
    return z85.encode(bytes.fromhex(hexkey))
def curve_server(s, secret):
    s.curve_server = True
    s.curve_secretkey = z(secret)
    s.curve_publickey = zmq.curve_public(z(secret))
def curve_client(s, server, secret):
    s.curve_serverkey = z(server)
    s.curve_secretkey = z(secret)
    s.curve_publickey = zmq.curve_public(z(secret))
`

// Require skips the test when pyzmq is missing, or fails it when
// ZMQLOG_REQUIRE_LIBZMQ is set (as CI sets it): there a skip would hide a
// missing peer.
func Require(t testing.TB) {
	t.Helper()
	if err := exec.Command(Python, "-c", "import zmq").Run(); err != nil {
		if os.Getenv("ZMQLOG_REQUIRE_LIBZMQ") != "" {
			t.Fatalf("pyzmq is required (ZMQLOG_REQUIRE_LIBZMQ is set) but %s cannot import zmq: %v", Python, err)
		}
		t.Skipf("no pyzmq for %s (apt-get install python3-zmq): %v", Python, err)
	}
}

// Peer is a running Python program: its stdout lines arrive on Lines.
type Peer struct {
	Stdin io.WriteCloser
	Lines chan string
	done  chan error
}

// Start runs script (usually Prelude + code) with args.
func Start(t testing.TB, ctx context.Context, script string, args ...string) *Peer {
	t.Helper()
	Require(t)
	cmd := exec.CommandContext(ctx, Python, append([]string{"-c", script}, args...)...)
	cmd.Stderr = &testWriter{t: t}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Peer{Stdin: stdin, Lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.Lines <- sc.Text()
		}
		close(p.Lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// Line returns the next line the program printed.
func (p *Peer) Line(t testing.TB, ctx context.Context) string {
	t.Helper()
	select {
	case l, ok := <-p.Lines:
		if !ok {
			t.Fatal("python peer exited early")
		}
		return l
	case <-ctx.Done():
		t.Fatal("no line from python peer in time")
	}
	return ""
}

type testWriter struct{ t testing.TB }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("python: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
