package zsock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// The token bucket per host: a burst, then the rate; hosts apart; hosts
// forgotten once refilled; past the table's cap, new hosts share one
// overflow bucket.
func TestHandshakeRateBuckets(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := newHandshakeRate(10, 3, 4)
	for i := range 3 {
		if !h.allow("a", t0) {
			t.Fatalf("handshake %d of a burst of 3 refused", i+1)
		}
	}
	if h.allow("a", t0) {
		t.Fatal("a fourth handshake at once passed a burst of 3")
	}
	if !h.allow("b", t0) {
		t.Fatal("another host was refused for the first host's rate")
	}
	if h.allow("a", t0.Add(50*time.Millisecond)) {
		t.Fatal("half a token (50ms at 10/s) let a handshake in")
	}
	if !h.allow("a", t0.Add(100*time.Millisecond)) {
		t.Fatal("one token (100ms at 10/s) did not let a handshake in")
	}
	// Refilled hosts are forgotten at the next sweep (one refill time,
	// 300ms, after the last).
	if h.allow("a", t0.Add(time.Second)); h.tracked() != 1 {
		t.Fatalf("%d hosts tracked after all refilled and a came back, want 1", h.tracked())
	}
	// The table holds 4; hosts past it share the overflow bucket (burst 3).
	for i := range 3 {
		h.allow(fmt.Sprint("fill", i), t0.Add(time.Second))
	}
	for i := range 3 {
		if !h.allow(fmt.Sprint("new", i), t0.Add(time.Second)) {
			t.Fatalf("overflow host %d of a burst of 3 refused", i)
		}
	}
	if h.allow("new3", t0.Add(time.Second)) || h.tracked() != 4 {
		t.Fatalf("past the table's cap: a fourth overflow host let in, or %d hosts tracked (cap 4)", h.tracked())
	}
}

func TestCryptoGateWaitsUntilTheDeadline(t *testing.T) {
	ctx := testsupport.Context(t)
	g := newCryptoGate(2)
	for range 2 {
		if err := g.enter(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.enter(ctx, time.Now().Add(20*time.Millisecond)); !errors.Is(err, ErrCryptoBusy) {
		t.Fatalf("a third step with both slots taken: %v, want ErrCryptoBusy", err)
	}
	done := make(chan error)
	go func() { done <- g.enter(ctx, time.Now().Add(time.Hour)) }()
	g.leave()
	if err := <-done; err != nil {
		t.Fatalf("a waiting step did not get the slot given back: %v", err)
	}
}

// TestReplayedHelloPastTheHandshakeRate: one HELLO, made once and replayed
// byte for byte on fresh connections (the attacker's cost: nothing; the
// server's: two X25519 operations each), earns a WELCOME only within the
// host's burst. Past it the connection is closed before any crypto and
// counted, while a real client from another host still gets in.
func TestReplayedHelloPastTheHandshakeRate(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	const burst = 5
	opts, events := withEvents(Options{Curve: keys.serverConfig(), HandshakeRate: 1e-6, HandshakeBurst: burst})
	pull := listenPull(t, "tcp://127.0.0.1:0", opts)
	first := newRawCurveClient(t, pull.Endpoint(), keys.server.public)
	first.nc.Close() // it only makes the HELLO, and takes a token
	hello := first.hello()
	welcomes := 0
	for range burst + 3 {
		c := dialRaw(t, pull.Endpoint())
		c.nc.Write(curveGreeting(false))
		c.nc.Write(frame(flagCommand, hello))
		if gotWelcome(c) {
			welcomes++
		}
		c.nc.Close()
	}
	if welcomes != burst-1 {
		t.Fatalf("%d WELCOMEs for %d replays of one HELLO with a burst of %d (one token spent by the first connection)", welcomes, burst+3, burst)
	}
	testsupport.WaitFor(t, ctx, "the replays over the rate counted", func() bool { return pull.Stats().OverHandshakeRate == 4 })
	for e := waitEvent(t, ctx, events, Rejected); !errors.Is(e.Err, ErrOverHandshakeRate); e = waitEvent(t, ctx, events, Rejected) {
	}

	// A real client from 127.0.0.2 has its own bucket.
	nc := dialFrom(t, "127.0.0.2", pull.Endpoint())
	c, err := handshake(ctx, nc, "PUSH", false, Options{Curve: keys.clientConfig(), Heartbeat: -1}.withDefaults())
	if err != nil {
		t.Fatalf("a client from another host: %v", err)
	}
	if err := c.sendMessage([][]byte{[]byte("INFO"), []byte("in")}); err != nil {
		t.Fatal(err)
	}
	if m, err := pull.Recv(ctx); err != nil || string(m.Frames[1]) != "in" {
		t.Fatalf("the other host's message: %q, %v", m.Frames, err)
	}
}

// TestCryptoCapDropsAPeerThatWouldWaitPastItsDeadline: with every crypto
// slot taken, a HELLO waits; when its handshake deadline comes first the
// peer is dropped without a WELCOME and counted.
func TestCryptoCapDropsAPeerThatWouldWaitPastItsDeadline(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{Curve: keys.serverConfig(), HandshakeTimeout: 300 * time.Millisecond})
	gate := pull.a.opts.Curve.gate
	for range cap(gate.slots) {
		if err := gate.enter(context.Background(), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	c := newRawCurveClient(t, pull.Endpoint(), keys.server.public)
	c.greet()
	c.write(frame(flagCommand, c.hello()))
	if gotWelcome(c.rawPeer) {
		t.Fatal("a WELCOME while every crypto slot was taken")
	}
	testsupport.WaitFor(t, ctx, "the busy drop counted", func() bool { return pull.Stats().CryptoBusy == 1 })
	for range cap(gate.slots) {
		gate.leave()
	}
	push := dialPush(t, pull.Endpoint(), Options{Curve: keys.clientConfig()})
	if err := push.Send(ctx, Plain{[]byte("INFO"), []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if m, err := pull.Recv(ctx); err != nil || string(m.Frames[1]) != "after" {
		t.Fatalf("after the slots came back: %q, %v", m.Frames, err)
	}
}

// gotWelcome reads the server's greeting and first frame, and reports
// whether it was a WELCOME (false if the server hung up first).
func gotWelcome(c *rawPeer) bool {
	var g [greetingSize]byte
	if _, err := io.ReadFull(c.nc, g[:]); err != nil {
		return false
	}
	var h [2]byte
	if _, err := io.ReadFull(c.nc, h[:]); err != nil || h[0] != flagCommand || int(h[1]) != curveWelcomeSize {
		return false
	}
	body := make([]byte, curveWelcomeSize)
	_, err := io.ReadFull(c.nc, body)
	return err == nil && bytes.HasPrefix(body, []byte("\x07WELCOME"))
}
