package zsock

import (
	"fmt"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"strings"
	"testing"

	"github.com/zmqlog/zmqlog/internal/pyzmq"
)

// Interop with libzmq 4.x through Debian's pyzmq; see internal/pyzmq.

func TestInteropLibzmqPushToOurPull(t *testing.T) {
	ctx := testsupport.Context(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{})
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = sock(zmq.PUSH)
s.connect(sys.argv[1])
n = int(sys.argv[2])
for i in range(n):
    s.send_multipart([b"INFO", b"%d" % i])
time.sleep(0.5)   # heartbeats flow while idle
for i in range(n, 2*n):
    s.send_multipart([b"ERROR", b"%d" % i + b"x" * 300])   # long frames too
sys.stdin.read()   # until the test has everything: exiting could drop what libzmq still queues
s.close()
ctx.term()
say("done")
`, pull.Endpoint(), "500")
	for i, m := range recvN(t, ctx, pull, 1000) {
		want := fmt.Sprint(i)
		if len(m.Frames) != 2 || !strings.HasPrefix(string(m.Frames[1]), want) {
			t.Fatalf("message %d: %q", i, m.Frames)
		}
	}
	py.Stdin.Close()
	if l := py.Line(t, ctx); l != "done" {
		t.Fatalf("python said %q", l)
	}
	if st := pull.Stats(); st.Accepted != 1 || st.Messages != 1000 {
		t.Fatalf("stats %+v: libzmq reconnected or sent extra messages", st)
	}
}

func TestInteropOurPushToLibzmqPull(t *testing.T) {
	ctx := testsupport.Context(t)
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = sock(zmq.PULL)
port = s.bind_to_random_port("tcp://127.0.0.1")
say(port)
n = int(sys.argv[1])
total = 0
for i in range(n):
    topic, body = s.recv_multipart()
    assert int(body.split(b" ")[0]) == i, (i, body)
    total += len(body)
    if i == n // 2:
        time.sleep(0.5)   # heartbeats while we hold back
say("got", n, total)
`, "2000")
	port := py.Line(t, ctx)
	push := dialPush(t, "tcp://127.0.0.1:"+port, Options{})
	want := 0
	for i := range 2000 {
		body := fmt.Sprintf("%d %s", i, strings.Repeat("y", i%700))
		want += len(body)
		if err := push.Send(ctx, Plain{[]byte("INFO"), []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if l := py.Line(t, ctx); l != fmt.Sprintf("got 2000 %d", want) {
		t.Fatalf("python said %q", l)
	}
	if st := push.Stats(); st.Endpoints[0].Connects != 1 {
		t.Fatalf("stats %+v: connection was dropped (heartbeat unanswered?)", st)
	}
}

func TestInteropOurPubToLibzmqSub(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{})
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = sock(zmq.SUB)
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
sys.stdin.read()   # stay subscribed while the test reads the publisher's counters
`, pub.Endpoint())
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
	// Filtering happened at the publisher: nothing else was sent.
	for {
		sub := pub.Stats().Subscribers[0]
		if sub.Queued == 0 && sub.Sent >= 901 {
			if sub.Sent != 901 {
				t.Fatalf("publisher sent %d messages, want 901", sub.Sent)
			}
			break
		}
		waitTick(t, ctx)
	}
}

func TestInteropLibzmqPubToOurSub(t *testing.T) {
	ctx := testsupport.Context(t)
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+`
import threading
s = sock(zmq.PUB)
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
`)
	port := py.Line(t, ctx)
	sub := dialSub(t, "tcp://127.0.0.1:"+port, []string{"ERROR"}, Options{})
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
		t.Fatalf("stats %+v: libzmq should filter for us and keep the connection", st)
	}
}
