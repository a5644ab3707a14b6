package zsock

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"
	//lint:ignore SA1019 the test makes the box key a low-order peer would force, as nacl/box.Precompute does.
	"golang.org/x/crypto/salsa20/salsa"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// rawCurveClient plays a CURVE client byte by byte over a rawPeer, so a
// test can send exactly the commands an attacker would: each step is
// built with the same primitives as the real client, and can be bent.
type rawCurveClient struct {
	*rawPeer
	serverKey   [32]byte
	cPub, cSec  *[32]byte
	shared      [32]byte
	serverShort [32]byte
}

func newRawCurveClient(t *testing.T, endpoint string, serverKey [32]byte) *rawCurveClient {
	pub, sec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &rawCurveClient{rawPeer: dialRaw(t, endpoint), serverKey: serverKey, cPub: pub, cSec: sec}
}

// greet sends a CURVE client greeting and reads the server's.
func (c *rawCurveClient) greet() {
	c.write(curveGreeting(false))
	var g [greetingSize]byte
	if _, err := io.ReadFull(c.nc, g[:]); err != nil {
		c.t.Fatalf("server greeting: %v", err)
	}
}

func (c *rawCurveClient) hello() []byte {
	h := []byte("\x05HELLO\x01\x00")
	h = append(h, make([]byte, 72)...)
	h = append(h, c.cPub[:]...)
	h = binary.BigEndian.AppendUint64(h, 1)
	return box.Seal(h, make([]byte, 64), shortNonce("CurveZMQHELLO---", 1), &c.serverKey, c.cSec)
}

// welcome reads WELCOME and returns the cookie.
func (c *rawCurveClient) welcome() []byte {
	body, _ := c.readFrame()
	if !bytes.HasPrefix(body, []byte("\x07WELCOME")) || len(body) != curveWelcomeSize {
		c.t.Fatalf("no WELCOME but %.20q", body)
	}
	plain, ok := box.Open(nil, body[24:], longNonce("WELCOME-", body[8:24]), &c.serverKey, c.cSec)
	if !ok {
		c.t.Fatal("WELCOME does not open")
	}
	copy(c.serverShort[:], plain[:32])
	box.Precompute(&c.shared, &c.serverShort, c.cSec)
	return plain[32:]
}

// initiate builds INITIATE claiming the long-term key claimed, with a
// vouch sealed by signer's secret key.
func (c *rawCurveClient) initiate(cookie []byte, claimed [32]byte, signer *[32]byte, meta []byte) []byte {
	var vn [16]byte
	rand.Read(vn[:])
	vouch := box.Seal(nil, append(append([]byte{}, c.cPub[:]...), c.serverKey[:]...), longNonce("VOUCH---", vn[:]), &c.serverShort, signer)
	inner := append(append(append(claimed[:0:0], claimed[:]...), vn[:]...), vouch...)
	inner = append(inner, meta...)
	m := append([]byte("\x08INITIATE"), cookie...)
	m = binary.BigEndian.AppendUint64(m, 2)
	return box.SealAfterPrecomputation(m, inner, shortNonce("CurveZMQINITIATE", 2), &c.shared)
}

// TestCurveServerRefusesHostileClients plays attackers against a CURVE
// PULL: each is refused under the reason it earns, and a real client is
// served meanwhile.
func TestCurveServerRefusesHostileClients(t *testing.T) {
	keys := newCurvePair(t)
	pushMeta := appendMetadata(nil, "PUSH")
	cmd := func(body []byte) []byte { return zmtpraw.Frame(flagCommand, body) }
	cases := []struct {
		name    string
		attack  func(c *rawCurveClient)
		counter func(ListenerStats) uint64
		wantErr error
	}{
		{"HELLO of the wrong size", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()[:150]))
		}, func(s ListenerStats) uint64 { return s.Malformed }, errCurveMalformed},
		{"HELLO of version 2.0", func(c *rawCurveClient) {
			c.greet()
			h := c.hello()
			h[6] = 2
			c.write(cmd(h))
		}, func(s ListenerStats) uint64 { return s.Malformed }, errCurveMalformed},
		{"HELLO whose box does not open", func(c *rawCurveClient) {
			c.greet()
			h := c.hello()
			h[150] ^= 1
			c.write(cmd(h))
		}, func(s ListenerStats) uint64 { return s.BadCrypto }, ErrBadCrypto},
		{"ERROR instead of HELLO (only a server may refuse)", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd([]byte("\x05ERROR\x03400")))
		}, func(s ListenerStats) uint64 { return s.Malformed }, errCurveMalformed},
		{"HELLO whose signature is not zeros", func(c *rawCurveClient) {
			c.greet()
			h := c.hello()[:120]
			c.write(cmd(box.Seal(h, bytes.Repeat([]byte{1}, 64), shortNonce("CurveZMQHELLO---", 1), &c.serverKey, c.cSec)))
		}, func(s ListenerStats) uint64 { return s.Malformed }, errCurveMalformed},
		{"HELLO from a key of low order", func(c *rawCurveClient) {
			// X25519 with the all-zero point gives zero whatever the
			// secret: a box "between" it and the server would be sealed
			// with a key everyone knows. The server must refuse the key,
			// not open the box and answer WELCOME.
			c.greet()
			var zero, known [32]byte
			salsa.HSalsa20(&known, new([16]byte), &zero, &salsa.Sigma)
			h := append([]byte("\x05HELLO\x01\x00"), make([]byte, 72+32)...)
			h = binary.BigEndian.AppendUint64(h, 1)
			c.write(cmd(box.SealAfterPrecomputation(h, make([]byte, 64), shortNonce("CurveZMQHELLO---", 1), &known)))
		}, func(s ListenerStats) uint64 { return s.BadCrypto }, ErrBadCrypto},
		{"HELLO announcing 2^62 bytes", func(c *rawCurveClient) {
			c.greet()
			c.write(zmtpraw.LongHeader(flagCommand, 1<<62))
		}, func(s ListenerStats) uint64 { return s.Oversized }, errHandshakeFrame},
		{"a data frame instead of HELLO", func(c *rawCurveClient) {
			c.greet()
			c.write(zmtpraw.Frame(0, c.hello()))
		}, func(s ListenerStats) uint64 { return s.Malformed }, errBadCommand},
		{"INITIATE too short", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			c.write(cmd(c.initiate(cookie, keys.client.public, &keys.client.secret, pushMeta)[:200]))
		}, func(s ListenerStats) uint64 { return s.Malformed }, errCurveMalformed},
		{"INITIATE with a forged cookie", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			cookie[40] ^= 1
			c.write(cmd(c.initiate(cookie, keys.client.public, &keys.client.secret, pushMeta)))
		}, func(s ListenerStats) uint64 { return s.BadCrypto }, ErrBadCrypto},
		{"INITIATE claiming the allowed key without its secret", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			c.write(cmd(c.initiate(cookie, keys.client.public, c.cSec, pushMeta)))
		}, func(s ListenerStats) uint64 { return s.BadCrypto }, ErrBadCrypto},
		{"INITIATE from an unknown key", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			c.write(cmd(c.initiate(cookie, *c.cPub, c.cSec, pushMeta)))
		}, func(s ListenerStats) uint64 { return s.Unauthorized }, ErrUnauthorized},
		{"INITIATE past the handshake budget", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			pad := readyBody("Socket-Type", "PUSH", "X-Pad", strings.Repeat("x", maxHandshakeBytes))[6:]
			c.write(cmd(c.initiate(cookie, keys.client.public, &keys.client.secret, pad)))
		}, func(s ListenerStats) uint64 { return s.Oversized }, errHandshakeFrame},
		{"a MESSAGE announcing more than MaxMessageSize", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			c.write(cmd(c.initiate(cookie, keys.client.public, &keys.client.secret, pushMeta)))
			c.readFrame() // READY
			c.write(zmtpraw.LongHeader(0, 1<<40))
		}, func(s ListenerStats) uint64 { return s.Oversized }, ErrMessageTooLarge},
		{"a tampered MESSAGE", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			c.write(cmd(c.initiate(cookie, keys.client.public, &keys.client.secret, pushMeta)))
			c.readFrame() // READY
			codec := curveCodec{shared: c.shared, sendPrefix: "CurveZMQMESSAGEC", sendNonce: 3}
			var stage []byte
			m := codec.seal(nil, 0, []byte("hello"), &stage)
			m[len(m)-1] ^= 1
			c.write(m)
		}, func(s ListenerStats) uint64 { return s.BadCrypto }, ErrBadCrypto},
		{"a MESSAGE reusing INITIATE's nonce", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			c.write(cmd(c.initiate(cookie, keys.client.public, &keys.client.secret, pushMeta)))
			c.readFrame() // READY
			codec := curveCodec{shared: c.shared, sendPrefix: "CurveZMQMESSAGEC", sendNonce: 2}
			var stage []byte
			c.write(codec.seal(nil, 0, []byte("hello"), &stage))
		}, func(s ListenerStats) uint64 { return s.BadCrypto }, ErrBadCrypto},
		{"a MESSAGE frame with MORE outside the box", func(c *rawCurveClient) {
			c.greet()
			c.write(cmd(c.hello()))
			cookie := c.welcome()
			c.write(cmd(c.initiate(cookie, keys.client.public, &keys.client.secret, pushMeta)))
			c.readFrame() // READY
			codec := curveCodec{shared: c.shared, sendPrefix: "CurveZMQMESSAGEC", sendNonce: 3}
			var stage []byte
			m := codec.seal(nil, 0, []byte("hello"), &stage)
			m[0] |= flagMore
			c.write(m)
		}, func(s ListenerStats) uint64 { return s.Malformed }, errCurveMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testsupport.Context(t)
			opts, events := withEvents(Options{Curve: keys.serverConfig(), HandshakeTimeout: 2 * time.Second, MaxMessageSize: 16 << 10})
			pull := listenPull(t, "tcp://127.0.0.1:0", opts)
			c := newRawCurveClient(t, pull.Endpoint(), keys.server.public)
			tc.attack(c)
			if err := c.waitClosed(); err != nil {
				t.Fatal(err)
			}
			if e := waitEvent(t, ctx, events, Rejected); !errors.Is(e.Err, tc.wantErr) {
				t.Fatalf("rejected with %v, want %v", e.Err, tc.wantErr)
			}
			testsupport.WaitFor(t, ctx, "the reason counted", func() bool { return tc.counter(pull.Stats()) == 1 })
			// A real client is served meanwhile.
			push := dialPush(t, pull.Endpoint(), Options{Curve: keys.clientConfig()})
			if err := push.Send(ctx, Plain{[]byte("still here")}); err != nil {
				t.Fatal(err)
			}
			if m, err := pull.Recv(ctx); err != nil || string(m.Frames[0]) != "still here" {
				t.Fatalf("the real client's message: %q, %v", m.Frames, err)
			}
		})
	}
}

// TestCurveReplayedHandshakeIsRefused records a real client's whole
// stream to the server (greeting, HELLO, INITIATE, messages) and replays
// it on a new connection: the HELLO still opens, but the cookie in the
// replayed INITIATE was sealed with the first connection's cookie key,
// so it does not open, and nothing of the replay is delivered.
func TestCurveReplayedHandshakeIsRefused(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	opts, events := withEvents(Options{Curve: keys.serverConfig()})
	pull := listenPull(t, "tcp://127.0.0.1:0", opts)
	relay := newRecordingRelay(t, pull.Endpoint())
	push := dialPush(t, "tcp://"+relay.ln.Addr().String(), Options{Curve: keys.clientConfig()})
	if err := push.Send(ctx, Plain{[]byte("transfer 100 to bob")}); err != nil {
		t.Fatal(err)
	}
	recvN(t, ctx, pull, 1)
	waitEvent(t, ctx, events, Connected)
	push.Close()
	attacker := dialRaw(t, pull.Endpoint())
	attacker.write(relay.upstream())
	if err := attacker.waitClosed(); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, ctx, events, Rejected); !errors.Is(e.Err, ErrBadCrypto) {
		t.Fatalf("the replay was rejected with %v", e.Err)
	}
	if st := pull.Stats(); st.Messages != 1 || st.BadCrypto != 1 {
		t.Fatalf("stats %+v", st)
	}
}
