package zsock

import (
	"context"
	"runtime"
	"testing"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// One peer's messages reach Serve's handler in the order it sent them,
// also when some were queued before Serve began (a collector whose
// producers connect, or reconnect, before Run): the connection must not
// hand a later message to the handler itself while earlier ones wait in
// the queue. Found in review: the store's lines came out of order and a
// producer that lost nothing was counted gaps.
func TestServeKeepsOnePeersOrderAcrossQueuedMessages(t *testing.T) {
	ctx := testsupport.Context(t)
	const queued, total = 64, 2000
	p := listenPull(t, "tcp://127.0.0.1:0", Options{RecvQueue: queued})
	push := dialPush(t, p.Endpoint(), Options{})
	go func() {
		for i := range total {
			if err := push.Send(ctx, Plain(numbered("t", i, 16))); err != nil {
				return
			}
		}
	}()
	// The queue is full (and the connection waits with one more) before Serve starts.
	testsupport.WaitFor(t, ctx, "the queue to fill", func() bool { return len(p.out) == queued })
	serveCtx, stop := context.WithCancel(ctx)
	var got []int
	stack := make([]byte, 4096)
	p.Serve(serveCtx, func(m Message) {
		got = append(got, number(m))
		if len(got) == 1 {
			// Hold the handler until the connection has read a message
			// past the queue: it now waits to hand it on.
			testsupport.WaitFor(t, ctx, "the connection to read on", func() bool { return p.a.count.messages.Load() >= queued+2 })
		}
		if len(got) < 2*queued {
			// Some work per queued message (as a collector's store
			// does), so the connection, reading on, has time to contend
			// for the handler.
			runtime.Stack(stack, false)
		}
		if len(got) == total {
			stop()
		}
	})
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Fatalf("the handler got message %d after %d (position %d of %d): one peer's order broken", got[i], got[i-1], i, len(got))
		}
	}
	if len(got) != total {
		t.Fatalf("the handler got %d messages, want %d", len(got), total)
	}
}
