package zsock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// scriptedConn is a net.Conn whose peer sends exactly the given bytes and
// then hangs up; what we write is discarded.
type scriptedConn struct {
	r *bytes.Reader
}

func (c *scriptedConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *scriptedConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *scriptedConn) Close() error                { return nil }
func (c *scriptedConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *scriptedConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
}
func (c *scriptedConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptedConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzHandshake: whatever bytes a peer sends to a listening socket, the
// handshake and the framing after it end in an error or in messages within
// the size limit; they never panic past the guard, never hang, and never
// take a peer of the wrong socket type. Seeds live in
// testdata/fuzz/FuzzHandshake.
func FuzzHandshake(f *testing.F) {
	ready := func(socketType string) []byte {
		return frame(flagCommand, readyBody("Socket-Type", socketType))
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	f.Add(cat(greetingBytes(), ready("PUSH"), frame(flagMore, []byte("INFO")), frame(0, []byte(`{"msg":"hi"}`))), false)
	f.Add(cat(greetingBytes(), ready("SUB"), frame(0, []byte("\x01ERROR")), frame(flagCommand, []byte("\x09SUBSCRIBE"))), true)
	f.Add(cat(greetingBytes(), ready("PUSH"), frame(flagCommand, []byte("\x04PING\x00\x0aabc"))), false)
	f.Add(cat(greetingBytes(), []byte{flagCommand | flagLong, 0x40, 0, 0, 0, 0, 0, 0, 0}), false)
	f.Add(cat(greetingBytes(), frame(flagCommand, []byte("\x05READY\x01A"))), false)
	f.Add(greetingBytes()[:20], true)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, peer []byte, pub bool) {
		typ, want := zmq4.Pull, "PUSH"
		if pub {
			typ, want = zmq4.Pub, "SUB"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := handshake(ctx, &scriptedConn{r: bytes.NewReader(peer)}, typ, true, Options{HandshakeTimeout: time.Second}.withDefaults())
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("the handshake hung on a peer that had hung up")
			}
			return
		}
		if c.peer.SocketType != want {
			t.Fatalf("a %s listener accepted a %q peer", typ, c.peer.SocketType)
		}
		const limit = 4 << 10
		for {
			frames, isCommand, err := c.readMessage(limit)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrMessageTooLarge) && !errors.Is(err, errBadCommand) {
					t.Fatalf("unexpected read error %v", err)
				}
				return
			}
			size := 0
			for _, fr := range frames {
				size += len(fr) + frameOverhead
			}
			if size > limit {
				t.Fatalf("a %d-byte message passed the %d-byte limit", size, limit)
			}
			if isCommand {
				if _, _, err := c.handleCommand(frames[0]); err != nil {
					return
				}
			}
		}
	})
}
