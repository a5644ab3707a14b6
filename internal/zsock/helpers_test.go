package zsock

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds raw connections' deadlines in this package's tests
// (testsupport.Context bounds each test).
const testTimeout = 60 * time.Second

// withEvents returns opts with an OnEvent that records into the channel.
func withEvents(opts Options) (Options, chan Event) {
	ch := make(chan Event, 4096)
	opts.OnEvent = func(e Event) {
		select {
		case ch <- e:
		default:
		}
	}
	return opts, ch
}

// waitEvent waits for the next event of kind (skipping others).
func waitEvent(t *testing.T, ctx context.Context, ch <-chan Event, kind EventKind) Event {
	t.Helper()
	for {
		select {
		case e := <-ch:
			if e.Kind == kind {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("no %v event: %v", kind, ctx.Err())
		}
	}
}

func mustParse(t *testing.T, s string, bind bool) Endpoint {
	t.Helper()
	ep, err := ParseEndpoint(s, bind)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func listenPull(t *testing.T, ep string, opts Options) *Puller {
	t.Helper()
	p, err := ListenPull(mustParse(t, ep, true), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dialPush(t *testing.T, eps string, opts Options) *Pusher {
	t.Helper()
	list, err := ParseEndpoints(eps)
	if err != nil {
		t.Fatal(err)
	}
	p := DialPush(list, opts)
	t.Cleanup(func() { p.Close() })
	return p
}

type receiver interface {
	Recv(context.Context) (Message, error)
}

func recvN(t *testing.T, ctx context.Context, r receiver, n int) []Message {
	t.Helper()
	out := make([]Message, 0, n)
	for len(out) < n {
		m, err := r.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// numbered is a 2-frame message: a topic and a body carrying i.
func numbered(topic string, i int, size int) [][]byte {
	body := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(body, uint64(i))
	return [][]byte{[]byte(topic), body}
}

func number(m Message) int { return int(binary.BigEndian.Uint64(m.Frames[1])) }

// rawPeer is a hand-driven ZMTP 3.0 peer for feeding a socket exact bytes.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, endpoint string) *rawPeer {
	t.Helper()
	ep := mustParse(t, endpoint, false)
	nc, err := net.DialTimeout(ep.network(), ep.Address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc}
}

// The raw peer's bytes come from zmtpraw, shared with the collector's
// hostile-peer tests.
var (
	greetingBytes = zmtpraw.Greeting
	readyBody     = zmtpraw.Ready
	frame         = zmtpraw.Frame
)

func (r *rawPeer) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

// handshake completes a NULL handshake as the given socket type.
func (r *rawPeer) handshake(socketType string) {
	r.t.Helper()
	r.write(greetingBytes())
	r.write(frame(flagCommand, readyBody("Socket-Type", socketType)))
	var g [greetingSize]byte
	if _, err := io.ReadFull(r.nc, g[:]); err != nil {
		r.t.Fatalf("raw greeting: %v", err)
	}
	if name, _ := r.readFrame(); name == nil {
		r.t.Fatal("no READY")
	}
}

// readFrame reads one frame and returns its body and flags.
func (r *rawPeer) readFrame() ([]byte, byte) {
	r.t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r.nc, h[:]); err != nil {
		r.t.Fatalf("raw read: %v", err)
	}
	size := uint64(h[1])
	if h[0]&flagLong != 0 {
		var rest [8]byte
		rest[0] = h[1]
		if _, err := io.ReadFull(r.nc, rest[1:]); err != nil {
			r.t.Fatalf("raw read: %v", err)
		}
		size = binary.BigEndian.Uint64(rest[:])
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r.nc, body); err != nil {
		r.t.Fatalf("raw read: %v", err)
	}
	return body, h[0]
}

// waitClosed waits until the socket under test closes the raw connection.
func (r *rawPeer) waitClosed() error {
	var b [512]byte
	for {
		if _, err := r.nc.Read(b[:]); err != nil {
			if err == io.EOF || isReset(err) {
				return nil
			}
			return fmt.Errorf("connection not closed by peer: %w", err)
		}
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// listenRawTCP accepts TCP connections on loopback and never speaks.
func listenRawTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}
