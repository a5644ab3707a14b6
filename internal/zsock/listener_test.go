package zsock

import (
	"bytes"
	"context"
	"errors"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// sendSome pushes n messages through a fresh pusher and checks they all
// arrive: the listener keeps serving well-behaved peers.
func sendSome(t *testing.T, ctx context.Context, pull *Puller, n int) {
	t.Helper()
	push := dialPush(t, pull.Endpoint(), Options{})
	for i := range n {
		if err := push.Send(ctx, Plain(numbered("INFO", i, 16))); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range recvN(t, ctx, pull, n) {
		if number(m) != i {
			t.Fatalf("message %d arrived as %d", i, number(m))
		}
	}
	push.Close()
}

func TestListenerDropsHostilePeersAndServesOthers(t *testing.T) {
	longFrame := zmtpraw.LongHeader
	cases := []struct {
		name    string
		send    func(r *rawPeer)
		counter func(ListenerStats) uint64
		wantErr error
	}{
		{"silent", func(r *rawPeer) {}, func(s ListenerStats) uint64 { return s.HandshakeFailed }, nil},
		{"garbage", func(r *rawPeer) { r.write(bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 8)) }, func(s ListenerStats) uint64 { return s.HandshakeFailed }, nil},
		{"stops mid-greeting", func(r *rawPeer) { r.write(greetingBytes()[:20]) }, func(s ListenerStats) uint64 { return s.HandshakeFailed }, nil},
		{"READY announcing 2^62 bytes", func(r *rawPeer) {
			r.write(greetingBytes())
			r.write(longFrame(flagCommand, 1<<62))
		}, func(s ListenerStats) uint64 { return s.Oversized }, errHandshakeFrame},
		{"READY past the handshake budget", func(r *rawPeer) {
			r.write(greetingBytes())
			r.write(frame(flagCommand, readyBody("Socket-Type", "PUSH", "X-Pad", strings.Repeat("x", maxHandshakeBytes))))
		}, func(s ListenerStats) uint64 { return s.Oversized }, errHandshakeFrame},
		{"endless data frames with MORE before READY", func(r *rawPeer) {
			// The attack that grew zmq4's handshake by 296 MiB in 2s:
			// refused at the first frame, RFC 23 allows only commands.
			r.write(greetingBytes())
			for range 64 {
				if _, err := r.nc.Write(longFrame(flagMore, 64<<10)); err != nil {
					return
				}
				if _, err := r.nc.Write(make([]byte, 64<<10)); err != nil {
					return
				}
			}
		}, func(s ListenerStats) uint64 { return s.Malformed }, errBadCommand},
		{"command with MORE before READY", func(r *rawPeer) {
			r.write(greetingBytes())
			r.write(frame(flagCommand|flagMore, readyBody("Socket-Type", "PUSH")))
		}, func(s ListenerStats) uint64 { return s.Malformed }, errBadCommand},
		{"malformed READY metadata", func(r *rawPeer) {
			r.write(greetingBytes())
			r.write(frame(flagCommand, []byte("\x05READY\x01A")))
			// zmq4's metadata parser panics on this; the panic stays with the connection.
		}, func(s ListenerStats) uint64 { return s.Panics }, errCodecPanic},
		{"metadata length past the end", func(r *rawPeer) {
			r.write(greetingBytes())
			r.write(frame(flagCommand, []byte("\x05READY\x0bSocket-Type\xff\xff\xff\xf0PUSH")))
		}, func(s ListenerStats) uint64 { return s.HandshakeFailed }, nil},
		{"wrong socket type", func(r *rawPeer) {
			r.write(greetingBytes())
			r.write(frame(flagCommand, readyBody("Socket-Type", "PUB")))
		}, func(s ListenerStats) uint64 { return s.HandshakeFailed }, nil},
		{"message announcing 2^62 bytes", func(r *rawPeer) {
			r.handshake("PUSH")
			r.write(longFrame(0, 1<<62))
		}, func(s ListenerStats) uint64 { return s.Oversized }, ErrMessageTooLarge},
		{"endless empty frames", func(r *rawPeer) {
			r.handshake("PUSH")
			r.write(bytes.Repeat([]byte{flagMore, 0}, 1000))
		}, func(s ListenerStats) uint64 { return s.Oversized }, ErrMessageTooLarge},
		{"command with more flag", func(r *rawPeer) {
			r.handshake("PUSH")
			r.write(frame(flagCommand|flagMore, []byte("\x04PING\x00\x00")))
		}, func(s ListenerStats) uint64 { return s.Malformed }, errBadCommand},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testsupport.Context(t)
			opts, events := withEvents(Options{HandshakeTimeout: 300 * time.Millisecond, MaxMessageSize: 16 << 10})
			pull := listenPull(t, "tcp://127.0.0.1:0", opts)
			r := dialRaw(t, pull.Endpoint())
			tc.send(r)
			// A well-behaved peer is served while the hostile one is open.
			sendSome(t, ctx, pull, 100)
			ev := waitEvent(t, ctx, events, Rejected)
			if tc.wantErr != nil && !errors.Is(ev.Err, tc.wantErr) {
				t.Errorf("rejected with %v, want %v", ev.Err, tc.wantErr)
			}
			if err := r.waitClosed(); err != nil {
				t.Error(err)
			}
			if got := tc.counter(pull.Stats()); got != 1 {
				t.Errorf("counter = %d, want 1; stats %+v", got, pull.Stats())
			}
		})
	}
}

func TestListenerLimitsConnections(t *testing.T) {
	ctx := testsupport.Context(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{MaxConns: 2})
	a, b := dialRaw(t, pull.Endpoint()), dialRaw(t, pull.Endpoint())
	a.handshake("PUSH")
	b.handshake("PUSH")
	c := dialRaw(t, pull.Endpoint())
	if err := c.waitClosed(); err != nil {
		t.Fatal(err)
	}
	for pull.Stats().Active != 2 { // the server finishes its side of the handshakes
		waitTick(t, ctx)
	}
	if st := pull.Stats(); st.OverLimit != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Room again once one leaves.
	a.nc.Close()
	for pull.Stats().Active != 1 {
		waitTick(t, ctx)
	}
	sendSome(t, ctx, pull, 10)
}

func TestListenerAnswersPing(t *testing.T) {
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{})
	r := dialRaw(t, pull.Endpoint())
	r.handshake("PUSH")
	r.write(frame(flagCommand, []byte("\x04PING\x00\x64ctx-42")))
	body, flags := r.readFrame()
	if flags&flagCommand == 0 || string(body) != "\x04PONGctx-42" {
		t.Fatalf("got frame %q flags %#x, want PONG echoing the context", body, flags)
	}
}

func TestListenPortInUse(t *testing.T) {
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{})
	_, err := ListenPull(mustParse(t, pull.Endpoint(), true), Options{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("address already in use")) || !bytes.Contains([]byte(err.Error()), []byte(pull.Endpoint())) {
		t.Fatalf("second bind: %v, want it to name the endpoint and say the address is in use", err)
	}
}

func TestListenerSurvivesConnectionChurn(t *testing.T) {
	ctx := testsupport.Context(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{HandshakeTimeout: time.Second})
	for range 500 {
		r := dialRaw(t, pull.Endpoint())
		r.nc.Close()
	}
	sendSome(t, ctx, pull, 100)
	for pull.Stats().HandshakeFailed+pull.Stats().OverLimit < 500 {
		waitTick(t, ctx)
	}
}

// waitTick waits a moment between checks of a condition another goroutine
// changes, failing the test when its time is up.
func waitTick(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-time.After(2 * time.Millisecond):
	case <-ctx.Done():
		t.Fatal("condition not reached in time")
	}
}
