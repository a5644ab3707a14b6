package zsock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// awaitSubscriptions waits, through Publisher.AwaitSubscriptions, until
// ready holds for pub's Stats; the test fails naming what when ctx ends
// first.
func awaitSubscriptions(tb testing.TB, ctx context.Context, pub *Publisher, what string, ready func(PublisherStats) bool) {
	tb.Helper()
	if err := pub.AwaitSubscriptions(ctx, ready); err != nil {
		st := pub.Stats()
		tb.Fatalf("waiting for %s: %v (subscribers %+v, subscription bytes %d)", what, err, st.Subscribers, st.SubscriptionBytes)
	}
}

// waitTopics waits until the publisher has n subscribers whose topic sets
// are all want.
func waitTopics(t *testing.T, ctx context.Context, pub *Publisher, n int, want ...string) {
	t.Helper()
	awaitSubscriptions(t, ctx, pub, fmt.Sprintf("%d subscribers holding %q", n, want), func(st PublisherStats) bool {
		return holding(st, n, want...)
	})
}

// holding reports whether st has n subscribers whose topic sets are all
// want.
func holding(st PublisherStats, n int, want ...string) bool {
	want = slices.Sorted(slices.Values(want))
	if len(st.Subscribers) != n {
		return false
	}
	for _, s := range st.Subscribers {
		if !slices.Equal(slices.Sorted(slices.Values(s.Topics)), want) {
			return false
		}
	}
	return true
}

// AwaitSubscriptions is woken by every change a subscriber makes, without
// polling: each step below would wait out its bound if one change failed
// to wake it.
func TestAwaitSubscriptionsWakesOnEachSubscriberChange(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{})
	step := func(what string, act func(), ready func(PublisherStats) bool) {
		t.Helper()
		// Short of the test's bound, so a missed wakeup fails fast; long
		// enough for a loopback handshake on a loaded machine.
		stepCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- pub.AwaitSubscriptions(stepCtx, ready) }()
		act()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v; the publisher holds %+v", what, err, pub.Stats().Subscribers)
		}
	}

	step("nobody connected: ready at once", func() {}, func(st PublisherStats) bool { return len(st.Subscribers) == 0 })
	var peer *rawPeer
	step("a subscriber connects", func() {
		peer = dialRaw(t, pub.Endpoint())
		peer.handshake("SUB")
	}, func(st PublisherStats) bool { return len(st.Subscribers) == 1 })
	step("it subscribes", func() { peer.write(frame(0, []byte("\x01ERROR"))) },
		func(st PublisherStats) bool { return holding(st, 1, "ERROR") })
	step("it cancels", func() { peer.write(frame(0, []byte("\x00ERROR"))) },
		func(st PublisherStats) bool { return holding(st, 1) })
	step("it leaves", func() { peer.nc.Close() },
		func(st PublisherStats) bool { return len(st.Subscribers) == 0 })
}

// When ctx ends first, AwaitSubscriptions returns ctx.Err(), having
// looked once: with no change it has no reason to look again.
func TestAwaitSubscriptionsReturnsWhenContextEnds(t *testing.T) {
	testsupport.Context(t) // checks for leaks
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var looks atomic.Int32
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- pub.AwaitSubscriptions(ctx, func(PublisherStats) bool {
			if looks.Add(1) == 1 {
				close(first)
			}
			return false
		})
	}()
	<-first
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("AwaitSubscriptions after cancel: %v, want context.Canceled", err)
	}
	if n := looks.Load(); n != 1 {
		t.Fatalf("ready was called %d times with nothing changed, want 1", n)
	}

	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := pub.AwaitSubscriptions(ctx, func(PublisherStats) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AwaitSubscriptions past its deadline: %v, want context.DeadlineExceeded", err)
	}
}
