package zsock

import (
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/pyzmq"
)

// The quiet spell that broke libzmq peers: after a write, no traffic for
// longer than the write timeout while libzmq's heartbeats (a PING every
// 20ms, see pyzmq.Prelude) keep coming. Each PONG must get a deadline of
// its own; with the last batch's deadline left in place it failed with
// "i/o timeout", the connection was torn down, and what was published
// while the peer reconnected was lost uncounted.
const idleWriteTimeout = 100 * time.Millisecond

func TestInteropIdleLibzmqSubStaysPastWriteTimeout(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{WriteTimeout: idleWriteTimeout})
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = sock(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"ERROR")
s.connect(sys.argv[1])
for want in (b"first", b"second"):
    topic, body = s.recv_multipart()
    assert body == want, (body, want)
    say(body.decode())
sys.stdin.read()
`, pub.Endpoint())
	waitTopics(t, ctx, pub, 1, "ERROR")
	pub.Publish([][]byte{[]byte("ERROR"), []byte("first")})
	if l := py.Line(t, ctx); l != "first" {
		t.Fatalf("python said %q", l)
	}
	// The idle spell is the scenario: five write timeouts, about 25
	// heartbeats answered.
	<-time.After(5 * idleWriteTimeout)
	pub.Publish([][]byte{[]byte("ERROR"), []byte("second")})
	if l := py.Line(t, ctx); l != "second" {
		t.Fatalf("python said %q", l)
	}
	if st := pub.Stats(); st.Accepted != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v: the idle subscriber was dropped and came back", st)
	}
}

func TestInteropIdleOurPushToLibzmqPullStaysPastWriteTimeout(t *testing.T) {
	ctx := testsupport.Context(t)
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = sock(zmq.PULL)
port = s.bind_to_random_port("tcp://127.0.0.1")
say(port)
for want in (b"first", b"second"):
    topic, body = s.recv_multipart()
    assert body == want, (body, want)
    say(body.decode())
sys.stdin.read()
`)
	port := py.Line(t, ctx)
	push := dialPush(t, "tcp://127.0.0.1:"+port, Options{WriteTimeout: idleWriteTimeout})
	if err := push.Send(ctx, Plain{[]byte("INFO"), []byte("first")}); err != nil {
		t.Fatal(err)
	}
	if l := py.Line(t, ctx); l != "first" {
		t.Fatalf("python said %q", l)
	}
	<-time.After(5 * idleWriteTimeout)
	if err := push.Send(ctx, Plain{[]byte("INFO"), []byte("second")}); err != nil {
		t.Fatal(err)
	}
	if l := py.Line(t, ctx); l != "second" {
		t.Fatalf("python said %q", l)
	}
	if st := push.Stats().Endpoints[0]; st.Connects != 1 {
		t.Fatalf("endpoint %+v: the idle connection was dropped and re-dialled", st)
	}
}

// libzmq answers our heartbeat PINGs by itself, with no heartbeat options
// of its own: an idle libzmq PUSH stays connected to our PULL across many
// PING intervals, so the idle watch never drops a live libzmq peer.
func TestInteropIdleLibzmqPeerAnswersOurPings(t *testing.T) {
	ctx := testsupport.Context(t)
	const quiet = 30 * time.Millisecond
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{Heartbeat: quiet, HeartbeatTimeout: 3 * quiet})
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = ctx.socket(zmq.PUSH)   # no heartbeat options: libzmq's defaults
s.setsockopt(zmq.LINGER, 5000)
s.connect(sys.argv[1])
s.send_multipart([b"INFO", b"first"])
sys.stdin.readline()
s.send_multipart([b"INFO", b"second"])
sys.stdin.read()
`, pull.Endpoint())
	recvN(t, ctx, pull, 1)
	// Idle for 20 PING intervals: each is answered, or the watch would
	// drop the peer within 4.
	<-time.After(20 * quiet)
	py.Stdin.Write([]byte("go\n"))
	if m := recvN(t, ctx, pull, 1)[0]; string(m.Frames[1]) != "second" {
		t.Fatalf("got %q", m.Frames)
	}
	if st := pull.Stats(); st.Accepted != 1 || st.Silent != 0 {
		t.Fatalf("stats %+v: the idle libzmq peer was dropped", st)
	}
}
