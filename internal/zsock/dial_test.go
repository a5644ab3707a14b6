package zsock

import (
	"context"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	steps := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for round := range 50 {
		b.reset()
		for i, s := range steps {
			step := s * time.Millisecond
			if d := b.next(); d < step/2 || d > step {
				t.Fatalf("round %d wait %d = %v, want within [%v, %v]", round, i, d, step/2, step)
			}
		}
	}
}

func TestPushRedialsAfterCollectorRestart(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "restart.sock")
	pull := listenPull(t, ep, Options{})
	opts, events := withEvents(Options{ReconnectMax: 50 * time.Millisecond})
	push := dialPush(t, ep, opts)
	if err := push.Send(ctx, Plain(numbered("INFO", 1, 8))); err != nil {
		t.Fatal(err)
	}
	recvN(t, ctx, pull, 1)
	pull.Close()
	waitEvent(t, ctx, events, Disconnected)
	if push.Live() != 0 {
		t.Fatal("pusher reports a live connection after the collector left")
	}
	pull = listenPull(t, ep, Options{})
	waitEvent(t, ctx, events, Connected)
	if err := push.Send(ctx, Plain(numbered("INFO", 2, 8))); err != nil {
		t.Fatal(err)
	}
	if m := recvN(t, ctx, pull, 1)[0]; number(m) != 2 {
		t.Fatalf("got %d", number(m))
	}
	if st := push.Stats(); st.Endpoints[0].Connects != 2 || push.Live() != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A peer that accepts TCP but never completes the handshake (a hung
// collector, a load balancer) costs one handshake timeout, then re-dial.
func TestDialHandshakeDeadline(t *testing.T) {
	ctx := testsupport.Context(t)
	silent := listenRawTCP(t)
	opts, events := withEvents(Options{HandshakeTimeout: 100 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	push := dialPush(t, "tcp://"+silent, opts)
	ev := waitEvent(t, ctx, events, DialFailed)
	if ev.Err == nil {
		t.Fatal("no error")
	}
	waitEvent(t, ctx, events, DialFailed) // and it keeps trying
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	for range push.opts.SendQueue {
		push.Send(short, Plain(numbered("INFO", 0, 8))) // fills the queue, never waits on the peer
	}
}
