package zsock

import (
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"testing"

	"github.com/zmqlog/zmqlog/internal/pyzmq"
)

// Our SUB counts its subscriptions locally, as libzmq's does, and tells
// the publisher only of the first Subscribe of a topic and the last
// Unsubscribe. libzmq's PUB keeps one subscription per topic per peer, so
// a CANCEL on every Unsubscribe would drop a topic the subscriber still
// holds. A libzmq XPUB with XPUB_VERBOSER reports every subscription
// message it receives.
func TestInteropSubscriberSendsOneSubscribeAndOneCancelPerTopic(t *testing.T) {
	ctx := testsupport.Context(t)
	py := pyzmq.Start(t, ctx, pyzmq.Prelude+`
s = sock(zmq.XPUB)
s.setsockopt(zmq.XPUB_VERBOSER, 1)
port = s.bind_to_random_port("tcp://127.0.0.1")
say(port)
while True:
    m = s.recv()
    say(("+" if m[0] == 1 else "-") + m[1:].decode())
`)
	port := py.Line(t, ctx)
	sub := dialSub(t, "tcp://127.0.0.1:"+port, []string{"ERROR", "ERROR"}, Options{})
	next := func(want string) {
		t.Helper()
		if got := py.Line(t, ctx); got != want {
			t.Fatalf("publisher received %q, want %q", got, want)
		}
	}
	next("+ERROR")
	sub.Unsubscribe("ERROR") // one of two: nothing to tell
	sub.Subscribe("WARN")    // a marker: the next message is this one
	next("+WARN")
	sub.Unsubscribe("ERROR") // the last one
	next("-ERROR")
}
