package zsock

import (
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
)

// FuzzCurveMetadata: whatever a CURVE peer seals into its INITIATE or
// READY box (RFC 23 properties: a 1-byte name length, the name, a 4-byte
// value length, the value), the parser returns an error or a peer of a
// compatible socket type whose strings come from the input: never a
// panic, never a value longer than what was sent. Seeds live in
// testdata/fuzz/FuzzCurveMetadata.
func FuzzCurveMetadata(f *testing.F) {
	f.Add(appendMetadata(nil, "PUSH"), false)
	f.Add(append(appendMetadata(nil, "SUB"), "\x08Identity\x00\x00\x00\x03app"...), true)
	f.Add([]byte("\x0bSocket-Type\xff\xff\xff\xffPUSH"), false)
	f.Add([]byte("\x0bSocket-Type\x00\x00"), false)
	f.Add([]byte("\xffSocket-Type"), false)
	f.Add(appendMetadata(nil, "PUB"), false)
	f.Fuzz(func(t *testing.T, meta []byte, pub bool) {
		typ := zmq4.Pull
		if pub {
			typ = zmq4.Pub
		}
		p, err := parseMetadata(meta, typ)
		if err != nil {
			return
		}
		if !compatibleSocketType(p.SocketType, typ) {
			t.Fatalf("a %s took a %q peer", typ, p.SocketType)
		}
		if len(p.SocketType)+len(p.Identity) > len(meta) {
			t.Fatalf("%d bytes of metadata made %d bytes of strings", len(meta), len(p.SocketType)+len(p.Identity))
		}
		if p.HasCurveKey() {
			t.Fatal("metadata set a CURVE key")
		}
	})
}

// fuzzServerShort is the fixed short-term secret the client fuzz's server
// uses unless the input gives another.
var fuzzServerShort = [32]byte{0: 0x11, 31: 0x22}

// FuzzCurveClient plays a CURVE server to our client (a PUSH): the harness
// holds the server's keys and seals into WELCOME, READY or ERROR whatever
// the fuzzer chooses (the short-term secret, the cookie, READY's metadata
// and nonce, or ERROR's body). The client's handshake ends in an error, or
// in a peer of a compatible socket type with the server's key; it never
// panics or hangs. Seeds live in testdata/fuzz/FuzzCurveClient.
func FuzzCurveClient(f *testing.F) {
	cookie := bytes.Repeat([]byte{0xC0}, 96)
	f.Add(fuzzServerShort[:], cookie, appendMetadata(nil, "PULL"), uint64(1), false)
	f.Add(fuzzServerShort[:], cookie, appendMetadata(nil, "PUB"), uint64(1), false)
	f.Add(fuzzServerShort[:], cookie[:40], appendMetadata(nil, "PULL"), uint64(1), false)
	f.Add(fuzzServerShort[:], cookie, []byte("\x0bSocket-Type\x00\x00\x00\x09PULL"), uint64(7), false)
	f.Add(fuzzServerShort[:], cookie, []byte("\x03400"), uint64(1), true)
	f.Add(fuzzServerShort[:], cookie, []byte("\xff"), uint64(1), true)
	f.Add(make([]byte, 32), cookie, appendMetadata(nil, "PULL"), uint64(1), false)
	f.Fuzz(func(t *testing.T, shortSecret, cookie, readyMeta []byte, readyNonce uint64, refuse bool) {
		var sShort [32]byte
		copy(sShort[:], shortSecret)
		ours, theirs := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzCurveServer(theirs, sShort, cookie, readyMeta, readyNonce, refuse)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		serverPublic := CurvePublicKey(fuzzServerSecret)
		opts := Options{HandshakeTimeout: 5 * time.Second, Heartbeat: -1, Curve: &CurveConfig{SecretKey: fuzzClientShort, ServerKey: serverPublic}}.withDefaults()
		c, err := handshake(ctx, ours, zmq4.Push, false, opts)
		ours.Close()
		<-done
		theirs.Close()
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("the client's handshake hung")
			}
			if !errors.Is(err, errBadCommand) && !errors.Is(err, ErrBadCrypto) && !errors.Is(err, ErrUnauthorized) &&
				!errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, io.EOF) &&
				!bytes.Contains([]byte(err.Error()), []byte("not compatible")) {
				t.Fatalf("unexpected handshake error %v", err)
			}
			return
		}
		if !compatibleSocketType(c.peer.SocketType, zmq4.Push) || c.peer.CurveKey != serverPublic {
			t.Fatalf("the client took a %q peer with key %x", c.peer.SocketType, c.peer.CurveKey)
		}
	})
}

// fuzzCurveServer is the server side of FuzzCurveClient, over a pipe: it
// reads the client's greeting and HELLO, seals the fuzzer's WELCOME, reads
// INITIATE, and answers READY (or ERROR). It stops at the first failure
// (the client has hung up), closing its end; after its answer it leaves
// its end open for the client to finish with (a closed pipe fails the
// client's SetDeadline).
func fuzzCurveServer(nc net.Conn, sShort [32]byte, cookie, readyMeta []byte, readyNonce uint64, refuse bool) {
	if !fuzzCurveServe(nc, sShort, cookie, readyMeta, readyNonce, refuse) {
		nc.Close()
	}
}

func fuzzCurveServe(nc net.Conn, sShort [32]byte, cookie, readyMeta []byte, readyNonce uint64, refuse bool) bool {
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	var g [greetingSize]byte
	if _, err := io.ReadFull(nc, g[:11]); err != nil {
		return false
	}
	if _, err := nc.Write(curveGreeting(true)); err != nil {
		return false
	}
	if _, err := io.ReadFull(nc, g[11:]); err != nil {
		return false
	}
	hello, err := readFrameBody(nc)
	if err != nil || len(hello) != curveHelloSize {
		return false
	}
	var cShort [32]byte
	copy(cShort[:], hello[80:112])
	secret := fuzzServerSecret
	sShortPublic := CurvePublicKey(sShort)
	var nonce [16]byte
	welcome := append([]byte("\x07WELCOME"), nonce[:]...)
	welcome = box.Seal(welcome, append(sShortPublic[:], cookie...), longNonce("WELCOME-", nonce[:]), &cShort, &secret)
	if _, err := nc.Write(frame(flagCommand, welcome)); err != nil {
		return false
	}
	if _, err := readFrameBody(nc); err != nil { // INITIATE
		return false
	}
	var reply []byte
	if refuse {
		reply = append([]byte("\x05ERROR"), readyMeta...)
	} else {
		reply = binary.BigEndian.AppendUint64([]byte("\x05READY"), readyNonce)
		reply = box.Seal(reply, readyMeta, shortNonce("CurveZMQREADY---", readyNonce), &cShort, &sShort)
	}
	_, err = nc.Write(frame(flagCommand, reply))
	return err == nil
}

// readFrameBody reads one ZMTP frame and returns its body (at most 64 KiB).
func readFrameBody(r io.Reader) ([]byte, error) {
	var h [9]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		return nil, err
	}
	size := uint64(h[1])
	if h[0]&flagLong != 0 {
		if _, err := io.ReadFull(r, h[2:]); err != nil {
			return nil, err
		}
		size = binary.BigEndian.Uint64(h[1:])
	}
	if size > 64<<10 {
		return nil, errors.New("frame too large")
	}
	body := make([]byte, size)
	_, err := io.ReadFull(r, body)
	return body, err
}

// The client fuzz's harness can complete a handshake (so the fuzzer
// reaches past READY), and the client refuses an ERROR as unauthorized.
func TestFuzzCurveClientHarness(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		ours, theirs := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzCurveServer(theirs, fuzzServerShort, bytes.Repeat([]byte{0xC0}, 96), appendMetadata(nil, "PULL"), 1, refuse)
		}()
		serverPublic := CurvePublicKey(fuzzServerSecret)
		opts := Options{Heartbeat: -1, Curve: &CurveConfig{SecretKey: fuzzClientShort, ServerKey: serverPublic}}.withDefaults()
		c, err := handshake(context.Background(), ours, zmq4.Push, false, opts)
		ours.Close()
		<-done
		theirs.Close()
		if refuse && !errors.Is(err, ErrUnauthorized) || !refuse && (err != nil || c.peer.SocketType != "PULL") {
			t.Fatalf("refuse=%v: %v", refuse, err)
		}
	}
}
