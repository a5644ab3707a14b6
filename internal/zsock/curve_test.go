package zsock

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/nacl/box"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// keyPair is a long-term Curve25519 key pair.
type keyPair struct{ public, secret [32]byte }

func newKeyPair(t testing.TB) keyPair {
	t.Helper()
	pub, sec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{*pub, *sec}
}

// curvePair is a server and a client that know each other.
type curvePair struct {
	server, client keyPair
}

func newCurvePair(t testing.TB) curvePair {
	return curvePair{server: newKeyPair(t), client: newKeyPair(t)}
}

// serverConfig takes only the pair's client.
func (p curvePair) serverConfig() *CurveConfig {
	return &CurveConfig{SecretKey: p.server.secret, Authorize: func(k [32]byte) bool { return k == p.client.public }}
}

func (p curvePair) clientConfig() *CurveConfig {
	return &CurveConfig{SecretKey: p.client.secret, ServerKey: p.server.public}
}

func TestCurvePublicKeyMatchesTheKeyPair(t *testing.T) {
	kp := newKeyPair(t)
	if CurvePublicKey(kp.secret) != kp.public {
		t.Fatal("CurvePublicKey does not derive box.GenerateKey's public key")
	}
}

func TestCurvePushPullRoundTrip(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{Curve: keys.serverConfig()})
	push := dialPush(t, pull.Endpoint(), Options{Curve: keys.clientConfig()})
	// Small messages, a 64 KiB batch, and one over the pooled box size.
	sizes := []int{0, 1, 200, 300, 64 << 10, 200 << 10}
	for i := range 300 {
		if err := push.Send(ctx, Plain(numbered("INFO", i, sizes[i%len(sizes)]))); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range recvN(t, ctx, pull, 300) {
		if len(m.Frames) != 2 || string(m.Frames[0]) != "INFO" || number(m) != i || len(m.Frames[1]) != max(sizes[i%len(sizes)], 8) {
			t.Fatalf("message %d arrived as %d frames, topic %.10q, number %d", i, len(m.Frames), m.Frames[0], number(m))
		}
		if m.Peer.SocketType != "PUSH" {
			t.Fatalf("peer socket type %q", m.Peer.SocketType)
		}
	}
	if st := pull.Stats(); st.Accepted != 1 || st.BadCrypto+st.Malformed+st.HandshakeFailed != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Boxes are taken from the receive budget as plaintext frames are,
	// and all of it is given back once the messages are handed on.
	testsupport.WaitFor(t, ctx, "the receive budget given back", func() bool { return pull.Stats().Buffered == 0 })
}

func TestCurvePubSubFiltersAtThePublisher(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{Curve: keys.serverConfig()})
	sub := dialSub(t, pub.Endpoint(), []string{"ERROR"}, Options{Curve: keys.clientConfig()})
	waitTopics(t, ctx, pub, 1, "ERROR")
	// Subscriptions changed after the handshake travel boxed too.
	sub.Subscribe("FATAL")
	waitTopics(t, ctx, pub, 1, "ERROR", "FATAL")
	want := []string{}
	for i, topic := range strings.Fields("DEBUG ERROR INFO FATAL WARN ERROR") {
		if n := pub.Publish(numbered(topic, i, 100)); (n == 1) != (topic == "ERROR" || topic == "FATAL") {
			t.Fatalf("Publish(%s) queued for %d subscribers", topic, n)
		}
		if topic == "ERROR" || topic == "FATAL" {
			want = append(want, topic)
		}
	}
	for i, m := range recvN(t, ctx, sub, len(want)) {
		if string(m.Frames[0]) != want[i] {
			t.Fatalf("message %d has topic %q, want %q", i, m.Frames[0], want[i])
		}
	}
	if st := sub.Stats(); st.Filtered != 0 {
		t.Fatalf("the subscriber had to filter %d messages: the publisher did not", st.Filtered)
	}
}

// TestCurveRefusesUnknownClient: a client whose key Authorize refuses
// completes nothing, and the server counts it as unauthorized; a client
// given another server key fails its first box and is counted so.
func TestCurveRefusesUnknownClientAndWrongServerKey(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	opts, events := withEvents(Options{Curve: keys.serverConfig()})
	pull := listenPull(t, "tcp://127.0.0.1:0", opts)

	stranger := curvePair{server: keys.server, client: newKeyPair(t)}
	dialOpts, dialEvents := withEvents(Options{Curve: stranger.clientConfig()})
	dialPush(t, pull.Endpoint(), dialOpts)
	if e := waitEvent(t, ctx, events, Rejected); !errors.Is(e.Err, ErrUnauthorized) {
		t.Fatalf("server rejected the stranger with %v", e.Err)
	}
	if e := waitEvent(t, ctx, dialEvents, DialFailed); !errors.Is(e.Err, ErrUnauthorized) {
		t.Fatalf("the stranger's dial failed with %v, want the server's ERROR", e.Err)
	}

	wrongServer := curvePair{server: newKeyPair(t), client: keys.client}
	dialPush(t, pull.Endpoint(), Options{Curve: wrongServer.clientConfig()})
	if e := waitEvent(t, ctx, events, Rejected); !errors.Is(e.Err, ErrBadCrypto) {
		t.Fatalf("server rejected a client with the wrong server key with %v", e.Err)
	}
	testsupport.WaitFor(t, ctx, "counters", func() bool {
		st := pull.Stats()
		return st.Unauthorized >= 1 && st.BadCrypto >= 1 && st.Active == 0
	})
}

// TestCurveMechanismMismatch: a NULL peer to a CURVE socket and a CURVE
// peer to a NULL socket are both refused and counted as a mismatch.
func TestCurveMechanismMismatch(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	for _, tc := range []struct {
		name            string
		server, client  *CurveConfig
		serverMechanism string
	}{
		{"NULL client to CURVE server", keys.serverConfig(), nil, "CURVE"},
		{"CURVE client to NULL server", nil, keys.clientConfig(), "NULL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, events := withEvents(Options{Curve: tc.server})
			pull := listenPull(t, "tcp://127.0.0.1:0", opts)
			dialOpts, dialEvents := withEvents(Options{Curve: tc.client})
			dialPush(t, pull.Endpoint(), dialOpts)
			if e := waitEvent(t, ctx, events, Rejected); !errors.Is(e.Err, ErrMechanismMismatch) {
				t.Fatalf("server rejected with %v", e.Err)
			}
			if e := waitEvent(t, ctx, dialEvents, DialFailed); !errors.Is(e.Err, ErrMechanismMismatch) {
				t.Fatalf("client failed with %v", e.Err)
			}
			if st := pull.Stats(); st.MechanismMismatch == 0 || st.HandshakeFailed != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// recordingRelay forwards TCP connections and keeps every byte that went
// through them, both ways (seen), and from the clients alone (up).
type recordingRelay struct {
	ln       net.Listener
	mu       sync.Mutex
	seen, up bytes.Buffer
	wg       sync.WaitGroup
}

func newRecordingRelay(t *testing.T, target string) *recordingRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingRelay{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", strings.TrimPrefix(target, "tcp://"))
			if err != nil {
				in.Close()
				continue
			}
			conns = append(conns, in, out)
			r.wg.Add(2)
			go r.copy(out, in, true)
			go r.copy(in, out, false)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		r.wg.Wait()
	})
	return r
}

func (r *recordingRelay) copy(dst, src net.Conn, up bool) {
	defer r.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.seen.Write(buf[:n])
			if up {
				r.up.Write(buf[:n])
			}
			r.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// upstream is what the clients sent.
func (r *recordingRelay) upstream() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.up.Bytes())
}

func (r *recordingRelay) contains(p []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.seen.Bytes(), p)
}

// TestCurveWireCarriesNoPlaintext records the TCP stream between a CURVE
// pusher and puller: neither the messages nor the socket types appear in
// it, while over NULL they do (so the recording does see the stream).
func TestCurveWireCarriesNoPlaintext(t *testing.T) {
	secret := []byte(`{"msg":"token=hunter2-very-secret"}`)
	for _, curve := range []bool{false, true} {
		t.Run(map[bool]string{false: "NULL", true: "CURVE"}[curve], func(t *testing.T) {
			ctx := testsupport.Context(t)
			var server, client *CurveConfig
			if curve {
				keys := newCurvePair(t)
				server, client = keys.serverConfig(), keys.clientConfig()
			}
			pull := listenPull(t, "tcp://127.0.0.1:0", Options{Curve: server})
			relay := newRecordingRelay(t, pull.Endpoint())
			push := dialPush(t, "tcp://"+relay.ln.Addr().String(), Options{Curve: client})
			for range 10 {
				if err := push.Send(ctx, Plain{[]byte("ERROR"), secret}); err != nil {
					t.Fatal(err)
				}
			}
			recvN(t, ctx, pull, 10)
			push.Close()
			pull.Close()
			for _, plain := range [][]byte{secret, []byte("hunter2"), []byte("Socket-Type"), []byte("ERROR")} {
				if relay.contains(plain) == curve {
					t.Fatalf("the wire holds %q: %v, want %v", plain, !curve, curve)
				}
			}
		})
	}
}

// TestCurveMessageNonceMustIncrease: a box replayed after the handshake
// (a valid box, same nonce) drops the peer and is counted.
func TestCurveReplayedMessageDropsThePeer(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{Curve: keys.serverConfig()})
	// A relay that sends the client's last frame twice is more than we
	// need: play the client by hand through the handshake with our own
	// client code, then write one MESSAGE twice.
	nc, err := net.Dial("tcp", strings.TrimPrefix(pull.Endpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := handshake(ctx, nc, "PUSH", false, Options{Curve: keys.clientConfig(), Heartbeat: -1}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var stage []byte
	msg := c.curve.seal(nil, 0, []byte("once"), &stage)
	if _, err := nc.Write(append(append([]byte{}, msg...), msg...)); err != nil {
		t.Fatal(err)
	}
	m, err := pull.Recv(ctx)
	if err != nil || string(m.Frames[0]) != "once" {
		t.Fatalf("first message %q, %v", m.Frames, err)
	}
	if _, err := io.ReadAll(nc); err != nil && !isReset(err) {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, ctx, "the replay counted", func() bool { return pull.Stats().BadCrypto == 1 })
	ctxShort, cancel := context.WithCancel(ctx)
	cancel()
	if m, err := pull.Recv(ctxShort); err == nil {
		t.Fatalf("the replayed message was delivered: %q", m.Frames)
	}
}

// TestCurveLargeBoxChargesItsPlaintext: a large MESSAGE box is read
// whole under the receive budget, then opened into a second buffer of
// the same size (nacl will not open over the box): the budget charges
// both while both are held, so a host's messages in progress never hold
// more memory than twice its share, which is what bounds a PULL's memory.
// A box that fits the in-progress allowance alone, but not beside its
// plaintext, is refused.
func TestCurveLargeBoxChargesItsPlaintext(t *testing.T) {
	const boxSize = 1 << 20
	body := bytes.Repeat([]byte("x"), boxSize-messageOverhead)
	read := func(perHost int64) ([][]byte, *recvBudget, *conn, error) {
		nc := &scriptedConn{r: bytes.NewReader(fuzzMessages(3, body))}
		budget := newRecvBudget(8<<20, perHost, make(chan struct{}))
		c := &conn{nc: nc, r: &readBuffer{Reader: bufio.NewReader(nc)}, budget: budget, share: budget.join("127.0.0.1"),
			curve: &curveCodec{shared: fuzzShared, recvPrefix: "CurveZMQMESSAGEC", sendPrefix: "CurveZMQMESSAGES", peerNonce: 2, sendNonce: 2}}
		frames, _, err := c.readMessage(8 << 20)
		return frames, budget, c, err
	}
	// Box and plaintext held at once: 2 MiB, over twice a 768 KiB share.
	if _, budget, _, err := read(768 << 10); !errors.Is(err, errOverBudget) || budget.inUse() != 0 {
		t.Fatalf("a 1 MiB box opened beside its plaintext within a host allowance of 1.5 MiB: %v, %d bytes left charged", err, budget.inUse())
	}
	// With room for both, it opens, and once opened only the plaintext
	// stays charged.
	frames, budget, c, err := read(2 << 20)
	if err != nil || len(frames) != 1 || !bytes.Equal(frames[0], body) {
		t.Fatalf("read %d frames, %v", len(frames), err)
	}
	if held := budget.inUse(); held < int64(len(body)) || held > int64(len(body))+frameOverhead+creditChunk {
		t.Fatalf("%d bytes charged for a %d-byte frame once opened", held, len(body))
	}
	c.finishMessage(false)
	if budget.inUse() != 0 {
		t.Fatalf("%d bytes still charged after the message was given back", budget.inUse())
	}
}

// TestCurveMessageAtTheLimitFitsTheBudget: a CURVE message at
// MaxMessageSize, held twice while it is opened, still fits a host's
// share raised to the minimum (RecvBudgetPerHost below MaxMessageSize).
func TestCurveMessageAtTheLimitFitsTheBudget(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	const limit = 1 << 20
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{Curve: keys.serverConfig(), MaxMessageSize: limit, RecvBudget: 1, RecvBudgetPerHost: 1})
	push := dialPush(t, pull.Endpoint(), Options{Curve: keys.clientConfig()})
	body := make([]byte, limit-frameOverhead) // one frame, at the limit
	if err := push.Send(ctx, Plain{body}); err != nil {
		t.Fatal(err)
	}
	if m, err := pull.Recv(ctx); err != nil || len(m.Frames[0]) != len(body) {
		t.Fatalf("a message at the limit: %v", err)
	}
	if st := pull.Stats(); st.OverBudget != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCurvePeerCarriesTheProvenKey: the client's long-term key, once its
// vouch proved it, is on its messages' Peer and its Connected event; a
// client Authorize refuses is reported with the key that was refused (the
// operator needs it to decide whether to allow it); the dialler's Peer is
// the server's key.
func TestCurvePeerCarriesTheProvenKey(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	opts, events := withEvents(Options{Curve: keys.serverConfig()})
	pull := listenPull(t, "tcp://127.0.0.1:0", opts)
	dialOpts, dialEvents := withEvents(Options{Curve: keys.clientConfig()})
	push := dialPush(t, pull.Endpoint(), dialOpts)
	if e := waitEvent(t, ctx, events, Connected); e.CurveKey != keys.client.public || !e.HasCurveKey() {
		t.Fatalf("Connected event key %x, want the client's %x", e.CurveKey, keys.client.public)
	}
	if e := waitEvent(t, ctx, dialEvents, Connected); e.CurveKey != keys.server.public {
		t.Fatalf("the dialler's Connected event key %x, want the server's %x", e.CurveKey, keys.server.public)
	}
	if err := push.Send(ctx, Plain{[]byte("INFO")}); err != nil {
		t.Fatal(err)
	}
	if m, err := pull.Recv(ctx); err != nil || m.Peer.CurveKey != keys.client.public || !m.Peer.HasCurveKey() {
		t.Fatalf("message from %x (%v), want the client's key %x", m.Peer.CurveKey, err, keys.client.public)
	}

	stranger := newKeyPair(t)
	dialPush(t, pull.Endpoint(), Options{Curve: &CurveConfig{SecretKey: stranger.secret, ServerKey: keys.server.public}})
	e := waitEvent(t, ctx, events, Rejected)
	if !errors.Is(e.Err, ErrUnauthorized) || e.CurveKey != stranger.public {
		t.Fatalf("refused with %v and key %x, want ErrUnauthorized and the stranger's key %x", e.Err, e.CurveKey, stranger.public)
	}

	// Over NULL, and before a key is proven, there is none.
	nullPull := listenPull(t, "tcp://127.0.0.1:0", Options{})
	nullPush := dialPush(t, nullPull.Endpoint(), Options{})
	if err := nullPush.Send(ctx, Plain{[]byte("INFO")}); err != nil {
		t.Fatal(err)
	}
	if m, err := nullPull.Recv(ctx); err != nil || m.Peer.HasCurveKey() {
		t.Fatalf("a NULL peer with a CURVE key %x (%v)", m.Peer.CurveKey, err)
	}
}

// TestCurveConfigMistakesAreRefused: an all-zero secret key (never set)
// or a server key of low order cannot make a secure connection: a
// listening socket refuses to start, naming the endpoint and the
// mistake; a connecting one fails every dial with it; Validate tells the
// layers above.
func TestCurveConfigMistakesAreRefused(t *testing.T) {
	ctx := testsupport.Context(t)
	keys := newCurvePair(t)
	zeroSecret := &CurveConfig{ServerKey: keys.server.public}
	lowOrder := &CurveConfig{SecretKey: keys.client.secret, ServerKey: [32]byte{1}}
	for _, tc := range []struct {
		name string
		cfg  *CurveConfig
		want string
	}{
		{"zero secret", zeroSecret, "secret key is all zero"},
		{"low-order server key", lowOrder, "of low order"},
	} {
		if err := tc.cfg.Validate(); !errors.Is(err, ErrCurveConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, good := range []*CurveConfig{nil, keys.serverConfig(), keys.clientConfig()} {
		if err := good.Validate(); err != nil {
			t.Errorf("Validate() = %v for a good configuration", err)
		}
	}

	ep := mustParse(t, "tcp://127.0.0.1:0", true)
	if _, err := ListenPull(ep, Options{Curve: &CurveConfig{}}); !errors.Is(err, ErrCurveConfig) || !strings.Contains(err.Error(), "tcp://127.0.0.1:0") {
		t.Fatalf("ListenPull with an all-zero secret key: %v", err)
	}
	if _, err := ListenPub(ep, Options{Curve: &CurveConfig{}}); !errors.Is(err, ErrCurveConfig) {
		t.Fatalf("ListenPub with an all-zero secret key: %v", err)
	}

	pull := listenPull(t, "tcp://127.0.0.1:0", Options{Curve: keys.serverConfig()})
	for _, cfg := range []*CurveConfig{lowOrder, {SecretKey: keys.client.secret}} {
		opts, events := withEvents(Options{Curve: cfg})
		dialPush(t, pull.Endpoint(), opts)
		for range 2 { // every attempt, not only the first
			if e := waitEvent(t, ctx, events, DialFailed); !errors.Is(e.Err, ErrCurveConfig) {
				t.Fatalf("dial with server key %x failed with %v, want ErrCurveConfig", cfg.ServerKey, e.Err)
			}
		}
	}
	if st := pull.Stats(); st.Accepted != 0 {
		t.Fatalf("a misconfigured client connected: %+v", st)
	}
}
