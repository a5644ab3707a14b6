package zsock

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// Serve hands every message to its handler, one call at a time although
// the calls come from the connections' goroutines; once it returns the
// handler is never called again, and Recv gets every later message: none
// is lost or handled twice across the switch.
func TestPullServeThenRecv(t *testing.T) {
	ctx := testsupport.Context(t)
	p := listenPull(t, "tcp://127.0.0.1:0", Options{})
	const pushers, each = 4, 500
	var sent sync.WaitGroup
	for k := range pushers {
		push := dialPush(t, p.Endpoint(), Options{})
		sent.Add(1)
		go func() {
			defer sent.Done()
			for i := range each {
				if err := push.Send(ctx, Plain(numbered("t", k*each+i, 16))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}

	seen := make(map[int]int, pushers*each)
	var inside, after atomic.Int32
	var ended atomic.Bool
	serveCtx, stop := context.WithCancel(ctx)
	served := 0
	err := p.Serve(serveCtx, func(m Message) {
		if inside.Add(1) != 1 {
			t.Error("the handler ran twice at once")
		}
		defer inside.Add(-1)
		if ended.Load() {
			after.Add(1)
		}
		seen[number(m)]++
		if served++; served == pushers*each/2 {
			stop()
		}
	})
	ended.Store(true)
	if err != context.Canceled {
		t.Fatalf("Serve returned %v, want context.Canceled", err)
	}
	if served < pushers*each/2 {
		t.Fatalf("Serve handled %d messages before it returned, want %d", served, pushers*each/2)
	}
	for _, m := range recvN(t, ctx, p, pushers*each-served) {
		seen[number(m)]++
	}
	sent.Wait()
	if n := after.Load(); n > 0 {
		t.Errorf("the handler was called %d times after Serve returned", n)
	}
	for i := range pushers * each {
		if seen[i] != 1 {
			t.Fatalf("message %d seen %d times, want once", i, seen[i])
		}
	}
}

// Serve returns ErrClosed when the socket closes under it.
func TestPullServeEndsAtClose(t *testing.T) {
	ctx := testsupport.Context(t)
	p := listenPull(t, "tcp://127.0.0.1:0", Options{})
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, func(Message) {}) }()
	p.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("Serve returned %v after Close, want ErrClosed", err)
	}
}

// A handler that panics on a message a connection handed it is not
// contained by that connection (which would leave whatever the handler
// held, its own locks, half done while others kept calling it): Serve
// raises the panic on its caller's goroutine, as a loop around Recv
// would, and the handler is not called again.
func TestServeRaisesTheHandlersPanic(t *testing.T) {
	ctx := testsupport.Context(t)
	p := listenPull(t, "tcp://127.0.0.1:0", Options{})
	push := dialPush(t, p.Endpoint(), Options{})
	for i := range 10 {
		if err := push.Send(ctx, Plain(numbered("t", i, 16))); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	raised := func() (v any) {
		defer func() { v = recover() }()
		p.Serve(ctx, func(m Message) {
			calls++
			if number(m) == 3 {
				panic("handler bug")
			}
		})
		return nil
	}()
	if raised != "handler bug" {
		t.Fatalf("Serve raised %v, want the handler's panic", raised)
	}
	if calls != 4 {
		t.Fatalf("the handler was called %d times; want 4, none after its panic", calls)
	}
}
