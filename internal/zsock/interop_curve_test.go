package zsock

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zmqlog/zmqlog/internal/pyzmq"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// CURVE interop with libzmq 4.3 through Debian's pyzmq, in all four
// directions, with libzmq's heartbeats on (Prelude), so PING and PONG
// travel boxed too: a connection that dropped on one would reconnect, and
// the tests check it did not.

func hexKey(k [32]byte) string { return hex.EncodeToString(k[:]) }

func TestInteropCurveLibzmqPushToOurPull(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{Curve: keys.serverConfig()})
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+pyzmq.CurvePrelude+`
s = sock(zmq.PUSH)
curve_client(s, sys.argv[2], sys.argv[3])
s.connect(sys.argv[1])
for i in range(500):
    s.send_multipart([b"INFO", b"%d " % i + b"x" * (i * 150 % 70000)])
time.sleep(0.3)   # boxed heartbeats flow while idle
for i in range(500, 600):
    s.send_multipart([b"ERROR", b"%d" % i])
sys.stdin.read()
s.close()
ctx.term()
say("done")
`, pull.Endpoint(), hexKey(keys.server.public), hexKey(keys.client.secret))
	for i, m := range recvN(t, ctx, pull, 600) {
		var n int
		fmt.Sscan(string(m.Frames[1]), &n)
		if len(m.Frames) != 2 || n != i || (i < 500 && len(m.Frames[1]) != len(fmt.Sprint(i))+1+i*150%70000) {
			t.Fatalf("message %d: %d frames, %.20q", i, len(m.Frames), m.Frames[1])
		}
	}
	py.Stdin.Close()
	if l := py.Line(t, ctx); l != "done" {
		t.Fatalf("python said %q", l)
	}
	if st := pull.Stats(); st.Accepted != 1 || st.Messages != 600 {
		t.Fatalf("stats %+v: libzmq reconnected or sent extra messages", st)
	}
}

func TestInteropCurveOurPushToLibzmqPull(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+pyzmq.CurvePrelude+`
s = sock(zmq.PULL)
curve_server(s, sys.argv[1])
port = s.bind_to_random_port("tcp://127.0.0.1")
say(port)
n = int(sys.argv[2])
total = 0
for i in range(n):
    topic, body = s.recv_multipart()
    assert int(body.split(b" ")[0]) == i, (i, body)
    total += len(body)
    if i == n // 2:
        time.sleep(0.3)   # heartbeats while we hold back
say("got", n, total)
`, hexKey(keys.server.secret), "2000")
	port := py.Line(t, ctx)
	push := dialPush(t, "tcp://127.0.0.1:"+port, Options{Curve: keys.clientConfig()})
	want := 0
	for i := range 2000 {
		body := fmt.Sprintf("%d %s", i, strings.Repeat("y", i*37%70000))
		want += len(body)
		if err := push.Send(ctx, Plain{[]byte("INFO"), []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if l := py.Line(t, ctx); l != fmt.Sprintf("got 2000 %d", want) {
		t.Fatalf("python said %q", l)
	}
	if st := push.Stats(); st.Endpoints[0].Connects != 1 {
		t.Fatalf("stats %+v: connection was dropped (a boxed heartbeat unanswered?)", st)
	}
}

func TestInteropCurveOurPubToLibzmqSub(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{Curve: keys.serverConfig()})
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+pyzmq.CurvePrelude+`
s = sock(zmq.SUB)
curve_client(s, sys.argv[2], sys.argv[3])
s.setsockopt(zmq.SUBSCRIBE, b"ERROR")
s.setsockopt(zmq.SUBSCRIBE, b"FATAL")
s.connect(sys.argv[1])
seen = {}
while True:
    topic, body = s.recv_multipart()
    if body == b"END":
        break
    seen[topic] = seen.get(topic, 0) + 1
say(" ".join("%s=%d" % (k.decode(), v) for k, v in sorted(seen.items())))
sys.stdin.read()
`, pub.Endpoint(), hexKey(keys.server.public), hexKey(keys.client.secret))
	waitTopics(t, ctx, pub, 1, "ERROR", "FATAL")
	for i := range 300 {
		for _, topic := range []string{"DEBUG", "INFO", "ERROR", "WARN", "FATAL", "ERROR+4"} {
			pub.Publish(numbered(topic, i, 64))
		}
	}
	pub.Publish([][]byte{[]byte("ERROR"), []byte("END")})
	if l := py.Line(t, ctx); l != "ERROR=300 ERROR+4=300 FATAL=300" {
		t.Fatalf("python SUB received %q", l)
	}
	testsupport.WaitFor(t, ctx, "901 messages sent", func() bool {
		sub := pub.Stats().Subscribers[0]
		return sub.Queued == 0 && sub.Sent >= 901
	})
	if sent := pub.Stats().Subscribers[0].Sent; sent != 901 {
		t.Fatalf("publisher sent %d messages, want 901: it did not filter", sent)
	}
}

func TestInteropCurveLibzmqPubToOurSub(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+pyzmq.CurvePrelude+`
import threading
s = sock(zmq.PUB)
curve_server(s, sys.argv[1])
port = s.bind_to_random_port("tcp://127.0.0.1")
say(port)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
i = 0
while not stop.is_set() and i < 200000:
    s.send_multipart([b"DEBUG", b"%d" % i])
    s.send_multipart([b"ERROR", b"%d" % i])
    i += 1
    if i % 100 == 0:
        time.sleep(0.005)
`, hexKey(keys.server.secret))
	port := py.Line(t, ctx)
	sub := dialSub(t, "tcp://127.0.0.1:"+port, []string{"ERROR"}, Options{Curve: keys.clientConfig()})
	last := -1
	for _, m := range recvN(t, ctx, sub, 500) {
		if string(m.Frames[0]) != "ERROR" {
			t.Fatalf("received topic %q, subscribed to ERROR only", m.Frames[0])
		}
		var i int
		fmt.Sscan(string(m.Frames[1]), &i)
		if i <= last {
			t.Fatalf("message %d after %d", i, last)
		}
		last = i
	}
	py.Stdin.Close()
	if st := sub.Stats(); st.Filtered != 0 || st.Endpoints[0].Connects != 1 {
		t.Fatalf("stats %+v: libzmq should filter for us (our boxed subscription) and keep the connection", st)
	}
}

// TestInteropCurveLibzmqAllowListRefusesUs: a libzmq server whose ZAP
// handler (zmq.auth) allows only the certificates in a directory refuses
// our key, and our dial reports it as unauthorized.
func TestInteropCurveLibzmqAllowListRefusesUs(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+pyzmq.CurvePrelude+`
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
auth = ThreadAuthenticator(ctx)
auth.start()
zmq.auth.create_certificates(sys.argv[2], "allowed")
auth.configure_curve(domain="*", location=sys.argv[2])
s = sock(zmq.PULL)
curve_server(s, sys.argv[1])
port = s.bind_to_random_port("tcp://127.0.0.1")
say(port)
sys.stdin.read()
auth.stop()
`, hexKey(keys.server.secret), t.TempDir())
	port := py.Line(t, ctx)
	opts, events := withEvents(Options{Curve: keys.clientConfig()})
	dialPush(t, "tcp://127.0.0.1:"+port, opts)
	if e := waitEvent(t, ctx, events, DialFailed); !errors.Is(e.Err, ErrUnauthorized) {
		t.Fatalf("dial failed with %v, want the server's ERROR as ErrUnauthorized", e.Err)
	}
	py.Stdin.Close()
}

// TestInteropCurveWeRefuseLibzmqPeers: our CURVE server refuses a libzmq
// client whose key it does not know (unauthorized), and a libzmq NULL
// client (mechanism mismatch); our NULL server refuses a libzmq CURVE
// client (mechanism mismatch). Each is counted, and nothing arrives.
func TestInteropCurveWeRefuseLibzmqPeers(t *testing.T) {
	keys := newCurvePair(t)
	stranger := newKeyPair(t)
	for _, tc := range []struct {
		name   string
		server *CurveConfig
		setup  string
		count  func(ListenerStats) uint64
		err    error
	}{
		{"unknown client key", keys.serverConfig(), "curve_client(s, sys.argv[2], sys.argv[3])", func(st ListenerStats) uint64 { return st.Unauthorized }, ErrUnauthorized},
		{"NULL client to CURVE", keys.serverConfig(), "", func(st ListenerStats) uint64 { return st.MechanismMismatch }, ErrMechanismMismatch},
		{"CURVE client to NULL", nil, "curve_client(s, sys.argv[2], sys.argv[3])", func(st ListenerStats) uint64 { return st.MechanismMismatch }, ErrMechanismMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testsupport.Context(t)
			opts, events := withEvents(Options{Curve: tc.server})
			pull := listenPull(t, "tcp://127.0.0.1:0", opts)
			py := pyzmq.Start(t, ctx, pyzmq.Prelude+pyzmq.CurvePrelude+`
s = sock(zmq.PUSH)
`+tc.setup+`
s.setsockopt(zmq.LINGER, 0)
s.connect(sys.argv[1])
s.send_multipart([b"ERROR", b"let me in"])
sys.stdin.read()
`, pull.Endpoint(), hexKey(keys.server.public), hexKey(stranger.secret))
			if e := waitEvent(t, ctx, events, Rejected); !errors.Is(e.Err, tc.err) {
				t.Fatalf("rejected with %v, want %v", e.Err, tc.err)
			}
			testsupport.WaitFor(t, ctx, "the refusal counted", func() bool { return tc.count(pull.Stats()) >= 1 })
			py.Stdin.Close()
			if st := pull.Stats(); st.Messages != 0 || st.HandshakeFailed != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
