package zsock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"golang.org/x/crypto/nacl/box"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
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

// Fixed keys for the CURVE fuzz targets, so that their seeds (valid
// HELLOs and MESSAGE boxes) stay valid from run to run.
var (
	fuzzServerSecret = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	fuzzClientShort  = [32]byte{0: 0x42, 31: 0x24}
	fuzzShared       = [32]byte{0: 7, 31: 9}
)

// fuzzHello is a valid HELLO to the fuzz server from the fixed client
// short-term key.
func fuzzHello() []byte {
	serverPublic := CurvePublicKey(fuzzServerSecret)
	clientPublic := CurvePublicKey(fuzzClientShort)
	h := []byte("\x05HELLO\x01\x00")
	h = append(h, make([]byte, 72)...)
	h = append(h, clientPublic[:]...)
	h = binary.BigEndian.AppendUint64(h, 1)
	return box.Seal(h, make([]byte, 64), shortNonce("CurveZMQHELLO---", 1), &serverPublic, &fuzzClientShort)
}

// fuzzMessages seals frames as a client would after the handshake, with
// the fixed shared key.
func fuzzMessages(nonce uint64, frames ...[]byte) []byte {
	k := curveCodec{shared: fuzzShared, sendPrefix: "CurveZMQMESSAGEC", sendNonce: nonce}
	var out, stage []byte
	for i, f := range frames {
		flags := byte(0)
		if i < len(frames)-1 {
			flags = flagMore
		}
		out = k.seal(out, flags, f, &stage)
	}
	return out
}

// FuzzCurveHandshake: whatever a peer sends a CURVE server after a CURVE
// greeting, the handshake fails (no INITIATE can carry a cookie sealed
// with a key made after the fuzzer chose its bytes, so any success is a
// hole), without panicking or hanging. Seeds (a valid HELLO followed by
// INITIATE-shaped bytes, truncated and oversized commands) live in
// testdata/fuzz/FuzzCurveHandshake.
func FuzzCurveHandshake(f *testing.F) {
	hello := frame(flagCommand, fuzzHello())
	initiate := frame(flagCommand, append([]byte("\x08INITIATE"), make([]byte, 300)...))
	f.Add(hello)
	f.Add(append(hello, initiate...))
	f.Add(hello[:100])
	f.Add(append(hello, zmtpraw.LongHeader(flagCommand, 1<<40)...))
	f.Add(frame(flagCommand, []byte("\x05ERROR\x03400")))
	f.Fuzz(func(t *testing.T, peer []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		in := append(curveGreeting(false), peer...)
		opts := Options{HandshakeTimeout: time.Second, Curve: &CurveConfig{SecretKey: fuzzServerSecret}}.withDefaults()
		c, err := handshake(ctx, &scriptedConn{r: bytes.NewReader(in)}, zmq4.Pull, true, opts)
		if err == nil {
			c.close()
			t.Fatal("a CURVE handshake completed with bytes chosen before the cookie key existed")
		}
		if ctx.Err() != nil {
			t.Fatal("the handshake hung on a peer that had hung up")
		}
	})
}

// FuzzCurveMessages: whatever arrives on an established CURVE connection,
// reading ends in an error or in opened messages within the size limit,
// never in a panic; only boxes sealed with the connection's key open.
// Seeds live in testdata/fuzz/FuzzCurveMessages.
func FuzzCurveMessages(f *testing.F) {
	f.Add(fuzzMessages(3, []byte("INFO"), []byte(`{"msg":"hi"}`)))
	f.Add(fuzzMessages(3, bytes.Repeat([]byte("x"), 300)))
	f.Add(append(fuzzMessages(3, []byte("a")), fuzzMessages(3, []byte("a"))...))
	f.Add(fuzzMessages(3, []byte("\x04PING\x00\x00")))
	f.Fuzz(func(t *testing.T, peer []byte) {
		nc := &scriptedConn{r: bytes.NewReader(peer)}
		c := &conn{nc: nc, r: &readBuffer{Reader: bufio.NewReader(nc)}, curve: &curveCodec{shared: fuzzShared, recvPrefix: "CurveZMQMESSAGEC", sendPrefix: "CurveZMQMESSAGES", peerNonce: 2, sendNonce: 2}}
		const limit = 4 << 10
		for {
			frames, isCommand, err := c.readMessage(limit)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrMessageTooLarge) && !errors.Is(err, errBadCommand) && !errors.Is(err, ErrBadCrypto) {
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
