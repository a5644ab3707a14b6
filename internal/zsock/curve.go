package zsock

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
	//lint:ignore SA1019 nacl/box.Precompute is HSalsa20 of the X25519 secret, and precompute must compute it the same way.
	"golang.org/x/crypto/salsa20/salsa"
)

// CurveConfig turns on the CURVE security mechanism (CurveZMQ, RFC 26,
// carried by ZMTP 3 as RFC 25) for a socket: the greeting offers CURVE,
// the handshake authenticates both sides with long-term Curve25519 keys,
// and every frame after it travels inside an encrypted, authenticated
// MESSAGE box. A socket with CURVE refuses NULL peers, and a socket
// without it refuses CURVE peers (ErrMechanismMismatch).
//
// A listening socket (PULL, PUB) is the CURVE server: it needs SecretKey
// (its long-term secret key; its public key, which clients must know, is
// derived from it) and decides which clients it takes with Authorize. A
// connecting socket (PUSH, SUB) is the CURVE client: it needs ServerKey
// (the server's long-term public key) and SecretKey (its own long-term
// secret key; the public key the server sees is derived from it).
//
// Keys are raw 32-byte Curve25519 keys, as libzmq's zmq_curve_keypair
// makes them (Z85-decoded).
type CurveConfig struct {
	// SecretKey is this side's long-term secret key.
	SecretKey [32]byte
	// ServerKey (connecting sockets) is the server's long-term public key.
	ServerKey [32]byte
	// Authorize (listening sockets) is asked, once a client has proved it
	// holds the secret key of clientPublic, whether to take it. nil takes
	// every client that completes the handshake (encryption without
	// client allow-listing). It is called from the connection's goroutine
	// and must not block for long: the handshake deadline runs meanwhile.
	Authorize func(clientPublic [32]byte) bool

	// secret is SecretKey as crypto/ecdh holds it, made once by prepare
	// (with its public key) rather than at every handshake.
	secret *ecdh.PrivateKey
	// gate bounds the server's crypto steps running at once over all the
	// socket's handshakes (made by prepare, one per socket).
	gate *cryptoGate
}

// ErrCurveConfig: a CurveConfig that cannot work (see
// CurveConfig.Validate).
var ErrCurveConfig = errors.New("zsock: bad CURVE configuration")

// Validate reports a configuration mistake: an all-zero SecretKey (a key
// never set: every peer would know it), or a ServerKey, when set, of low
// order (no secret key can agree on a shared key with it, so no
// handshake can succeed; an all-zero key is one). ListenPull and ListenPub
// refuse such a configuration; DialPush and DialSub, which return no
// error, fail every dial with it (and with a ServerKey left unset).
// Layers above call it to refuse the configuration at once. A nil
// configuration (NULL security) is valid.
func (c *CurveConfig) Validate() error {
	if c == nil {
		return nil
	}
	if c.SecretKey == [32]byte{} {
		return fmt.Errorf("%w: the secret key is all zero (not set?)", ErrCurveConfig)
	}
	if c.ServerKey != [32]byte{} {
		return c.checkServerKey()
	}
	return nil
}

// validateClient is Validate for a connecting socket, which needs
// ServerKey.
func (c *CurveConfig) validateClient() error {
	if err := c.Validate(); err != nil {
		return err
	}
	return c.checkServerKey()
}

// checkServerKey refuses a server key of low order: X25519 with it gives
// the all-zero secret whatever our key, which crypto/ecdh refuses.
func (c *CurveConfig) checkServerKey() error {
	pub, err := ecdh.X25519().NewPublicKey(c.ServerKey[:])
	if err == nil {
		_, err = c.secretKey().ECDH(pub)
	}
	if err != nil {
		return fmt.Errorf("%w: the server key %x is of low order (all zero, or not a real public key)", ErrCurveConfig, c.ServerKey)
	}
	return nil
}

// prepare returns a copy of the configuration for a socket, with the
// secret key parsed once (and safe from later changes to the caller's
// struct).
func (c *CurveConfig) prepare() *CurveConfig {
	if c == nil {
		return nil
	}
	p := *c
	p.secret = p.secretKey()
	p.gate = newCryptoGate(defaultCryptoSlots())
	return &p
}

func (c *CurveConfig) secretKey() *ecdh.PrivateKey {
	if c.secret != nil {
		return c.secret
	}
	k, err := ecdh.X25519().NewPrivateKey(c.SecretKey[:])
	if err != nil {
		panic("zsock: " + err.Error()) // only a wrong length fails, and ours is 32
	}
	return k
}

func (c *CurveConfig) publicKey() [32]byte {
	return [32]byte(c.secretKey().PublicKey().Bytes())
}

// precompute is box.Precompute (the shared key of a box: HSalsa20 of the
// X25519 shared secret) with the secret key held by crypto/ecdh. Through
// golang.org/x/crypto/curve25519, every scalar multiplication parses its
// secret key anew, which computes the public key too: twice the work, and
// the handshake is nothing but these multiplications. And unlike
// box.Precompute, which quietly makes an all-zero secret, it refuses a
// peer key of low order, as libsodium does.
func precompute(shared *[32]byte, secret *ecdh.PrivateKey, peerPublic []byte) error {
	pub, err := ecdh.X25519().NewPublicKey(peerPublic)
	if err != nil {
		return fmt.Errorf("%w: %v", errCurveMalformed, err)
	}
	z, err := secret.ECDH(pub)
	if err != nil {
		return fmt.Errorf("%w: a public key of low order", ErrBadCrypto)
	}
	copy(shared[:], z)
	clear(z)
	salsa.HSalsa20(shared, new([16]byte), shared, &salsa.Sigma)
	return nil
}

// CurvePublicKey returns the public key of a Curve25519 secret key.
func CurvePublicKey(secret [32]byte) [32]byte {
	var pub [32]byte
	curve25519.ScalarBaseMult(&pub, &secret)
	return pub
}

// Errors of the CURVE mechanism. Each is counted by a listening socket
// (ListenerStats) under its own reason.
var (
	// ErrMechanismMismatch: the peer's greeting offers another security
	// mechanism than ours (a NULL peer to a CURVE socket, or the reverse).
	ErrMechanismMismatch = errors.New("zsock: peer offers another security mechanism")
	// ErrUnauthorized: a CURVE client proved its key, and the server's
	// Authorize refused it (or, on the client side, the server sent ERROR).
	ErrUnauthorized = errors.New("zsock: CURVE client key not authorized")
	// ErrBadCrypto: a CURVE box did not open (a wrong server key, a forged
	// or replayed cookie or vouch, a tampered message) or a message nonce
	// did not increase.
	ErrBadCrypto = errors.New("zsock: CURVE box does not open or nonce out of order")
	// errCurveMalformed: a CURVE command of the wrong name or size.
	errCurveMalformed = fmt.Errorf("%w: CURVE command of the wrong name or size", errBadCommand)
)

// Sizes of the CURVE commands (RFC 26; libzmq's curve_client_tools.hpp
// and curve_server.cpp).
const (
	curveHelloSize       = 200
	curveWelcomeSize     = 168
	curveMinInitiateSize = 257
	curveMinReadySize    = 30
	// messageHeaderSize is "\x07MESSAGE" and the short nonce; a MESSAGE
	// box adds box.Overhead and the flags byte to the frame it carries.
	messageHeaderSize = 16
	messageOverhead   = messageHeaderSize + box.Overhead + 1
)

// Flags inside a MESSAGE box (libzmq's msg_t::more and msg_t::command).
const (
	boxFlagMore    = 0x01
	boxFlagCommand = 0x02
)

// curveGreeting is our ZMTP 3.0 greeting offering CURVE.
func curveGreeting(server bool) []byte {
	g := make([]byte, greetingSize)
	g[0], g[9], g[10], g[11] = 0xFF, 0x7F, 3, 0
	copy(g[12:32], "CURVE")
	if server {
		g[32] = 1
	}
	return g
}

// greetingMechanism is the mechanism a complete greeting offers.
func greetingMechanism(g []byte) string {
	return string(bytes.TrimRight(g[12:32], "\x00"))
}

// curveHandshake runs the CURVE greeting and handshake over nc, reading
// through guard (which bounds what the peer may send before it has proved
// who it is: commands only, maxHandshakeBytes in all), and returns the peer's metadata and the codec for the messages
// that follow.
func curveHandshake(ctx context.Context, deadline time.Time, nc net.Conn, guard *handshakeGuard, typ zmq4.SocketType, server bool, cfg *CurveConfig) (Peer, *curveCodec, error) {
	if err := sendGreeting(nc, guard.r, curveGreeting(server), server); err != nil {
		return Peer{}, nil, err
	}
	var r io.Reader = guard
	var g [greetingSize]byte
	if _, err := io.ReadFull(r, g[:]); err != nil {
		return Peer{}, nil, unexpected(err)
	}
	if g[9]&1 != 1 || g[10] < 3 {
		return Peer{}, nil, fmt.Errorf("zsock: peer greeting has no ZMTP 3 signature (version %d.%d)", g[10], g[11])
	}
	if m := greetingMechanism(g[:]); m != "CURVE" {
		return Peer{}, nil, fmt.Errorf("%w: %.20q, we speak CURVE", ErrMechanismMismatch, m)
	}
	hs := curveHandshaker{ctx: ctx, deadline: deadline, nc: nc, r: r, typ: typ, cfg: cfg, isServer: server}
	if server {
		return hs.server()
	}
	return hs.client()
}

// curveHandshaker holds what both roles need during the handshake.
type curveHandshaker struct {
	// ctx and deadline bound the wait for a crypto slot (server side).
	ctx      context.Context
	deadline time.Time
	nc       net.Conn
	r        io.Reader
	typ      zmq4.SocketType
	cfg      *CurveConfig
	// isServer: we are the CURVE server. Only a server may answer with
	// ERROR; from a client it is just a command out of place.
	isServer bool
}

func (h *curveHandshaker) send(cmd []byte) error {
	var b batchWriter
	b.appendHeader(flagCommand, len(cmd))
	b.scratch = append(b.scratch, cmd...)
	_, err := h.nc.Write(b.scratch)
	return err
}

// read reads one command frame; the guard has checked its header and
// bounded its size.
func (h *curveHandshaker) read() ([]byte, error) {
	var hdr [9]byte
	if _, err := io.ReadFull(h.r, hdr[:1]); err != nil {
		return nil, unexpected(err)
	}
	var size uint64
	if hdr[0]&flagLong != 0 {
		if _, err := io.ReadFull(h.r, hdr[1:9]); err != nil {
			return nil, unexpected(err)
		}
		size = binary.BigEndian.Uint64(hdr[1:9])
	} else {
		if _, err := io.ReadFull(h.r, hdr[1:2]); err != nil {
			return nil, unexpected(err)
		}
		size = uint64(hdr[1])
	}
	if size > maxHandshakeBytes { // the guard has refused it already
		return nil, errHandshakeFrame
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(h.r, body); err != nil {
		return nil, unexpected(err)
	}
	return body, nil
}

// expect reads the next command and checks its name; an ERROR from the
// server is returned as ErrUnauthorized with the server's reason.
func (h *curveHandshaker) expect(name string) ([]byte, error) {
	cmd, err := h.read()
	if err != nil {
		return nil, err
	}
	got, body, err := parseCommand(cmd)
	if err != nil {
		return nil, errCurveMalformed
	}
	if got == "ERROR" && !h.isServer {
		reason := ""
		if len(body) > 0 && int(body[0]) <= len(body)-1 {
			reason = string(body[1 : 1+int(body[0])])
		}
		return nil, fmt.Errorf("%w: the server refused us with ERROR %.40q", ErrUnauthorized, reason)
	}
	if got != name {
		return nil, fmt.Errorf("%w: %.20q where %s was due", errCurveMalformed, got, name)
	}
	return cmd, nil
}

// nonce builds a 24-byte nonce from a 16-byte prefix and a short nonce,
// or from an 8-byte prefix and 16 bytes.
func shortNonce(prefix string, n uint64) *[24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix)
	binary.BigEndian.PutUint64(nonce[16:], n)
	return &nonce
}

func longNonce(prefix string, rest []byte) *[24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix)
	copy(nonce[8:], rest)
	return &nonce
}

func randomBytes(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("zsock: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
}

// client runs the client's side: HELLO, WELCOME, INITIATE, READY.
func (h *curveHandshaker) client() (Peer, *curveCodec, error) {
	cSec, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return Peer{}, nil, err
	}
	cPub := cSec.PublicKey().Bytes()
	serverKey := h.cfg.ServerKey
	// HELLO: version 1.0, 72 bytes of anti-amplification padding, C', the
	// short nonce and Box[64 zero bytes](C'->S).
	hello := make([]byte, 0, curveHelloSize)
	hello = append(hello, "\x05HELLO\x01\x00"...)
	hello = append(hello, make([]byte, 72)...)
	hello = append(hello, cPub[:]...)
	hello = binary.BigEndian.AppendUint64(hello, 1)
	// HELLO and WELCOME are boxed between the same keys (S and c'):
	// one scalar multiplication serves both.
	var longShared [32]byte
	defer clear(longShared[:])
	if err := precompute(&longShared, cSec, serverKey[:]); err != nil {
		return Peer{}, nil, err
	}
	hello = box.SealAfterPrecomputation(hello, make([]byte, 64), shortNonce("CurveZMQHELLO---", 1), &longShared)
	if err := h.send(hello); err != nil {
		return Peer{}, nil, err
	}
	// WELCOME: Box[S' + cookie](S->C').
	welcome, err := h.expect("WELCOME")
	if err != nil {
		return Peer{}, nil, err
	}
	if len(welcome) != curveWelcomeSize {
		return Peer{}, nil, fmt.Errorf("%w: WELCOME of %d bytes", errCurveMalformed, len(welcome))
	}
	plain, ok := box.OpenAfterPrecomputation(nil, welcome[24:], longNonce("WELCOME-", welcome[8:24]), &longShared)
	if !ok {
		return Peer{}, nil, fmt.Errorf("%w: the WELCOME box does not open: the server's key is not the one we were given", ErrBadCrypto)
	}
	var serverShort [32]byte
	copy(serverShort[:], plain[:32])
	cookie := plain[32:128]

	codec := &curveCodec{sendPrefix: "CurveZMQMESSAGEC", recvPrefix: "CurveZMQMESSAGES", sendNonce: 3}
	if err := precompute(&codec.shared, cSec, serverShort[:]); err != nil {
		return Peer{}, nil, err
	}

	// INITIATE: the cookie, then Box[C + vouch + metadata](C'->S'), where
	// the vouch is Box[C' + S](C->S') proving we hold C's secret key.
	clientPublic := h.cfg.publicKey()
	var vouchNonce [16]byte
	randomBytes(vouchNonce[:])
	vouchPlain := append(append(make([]byte, 0, 64), cPub[:]...), serverKey[:]...)
	var vouchKey [32]byte
	defer clear(vouchKey[:])
	if err := precompute(&vouchKey, h.cfg.secretKey(), serverShort[:]); err != nil {
		return Peer{}, nil, err
	}
	vouch := box.SealAfterPrecomputation(nil, vouchPlain, longNonce("VOUCH---", vouchNonce[:]), &vouchKey)
	inner := make([]byte, 0, 128+64)
	inner = append(inner, clientPublic[:]...)
	inner = append(inner, vouchNonce[:]...)
	inner = append(inner, vouch...)
	inner = appendMetadata(inner, h.typ)
	initiate := make([]byte, 0, curveMinInitiateSize+64)
	initiate = append(initiate, "\x08INITIATE"...)
	initiate = append(initiate, cookie...)
	initiate = binary.BigEndian.AppendUint64(initiate, 2)
	initiate = box.SealAfterPrecomputation(initiate, inner, shortNonce("CurveZMQINITIATE", 2), &codec.shared)
	if err := h.send(initiate); err != nil {
		return Peer{}, nil, err
	}
	// READY: Box[metadata](S'->C').
	ready, err := h.expect("READY")
	if err != nil {
		return Peer{}, nil, err
	}
	if len(ready) < curveMinReadySize {
		return Peer{}, nil, fmt.Errorf("%w: READY of %d bytes", errCurveMalformed, len(ready))
	}
	n := binary.BigEndian.Uint64(ready[6:14])
	meta, ok := box.OpenAfterPrecomputation(nil, ready[14:], shortNonce("CurveZMQREADY---", n), &codec.shared)
	if !ok {
		return Peer{}, nil, fmt.Errorf("%w: the READY box does not open", ErrBadCrypto)
	}
	codec.peerNonce = n
	peer, err := parseMetadata(meta, h.typ)
	peer.CurveKey = serverKey // READY opened: the server holds its secret
	return peer, codec, err
}

// provenKeyError is a handshake that failed after the client proved its
// long-term key (refused by Authorize, or bad metadata after the vouch):
// the key goes with the error to the Rejected event.
type provenKeyError struct {
	key [32]byte
	err error
}

func (e *provenKeyError) Error() string { return e.err.Error() }
func (e *provenKeyError) Unwrap() error { return e.err }

// provenKey is the client key a failed handshake had proven, if any.
func provenKey(err error) [32]byte {
	var pk *provenKeyError
	if errors.As(err, &pk) {
		return pk.key
	}
	return [32]byte{}
}

// server runs the server's side. Between WELCOME and INITIATE it keeps
// nothing but the cookie key: the client's short-term key C' and our
// short-term secret s' travel in the cookie, sealed with that key, and
// come back with INITIATE, as RFC 26 has it. The cookie key is made for
// each connection, as libzmq does, and forgotten once INITIATE has come.
func (h *curveHandshaker) server() (Peer, *curveCodec, error) {
	var cookieKey [32]byte
	defer clear(cookieKey[:])
	if err := h.welcome(&cookieKey); err != nil {
		return Peer{}, nil, err
	}
	initiate, err := h.expect("INITIATE")
	if err != nil {
		return Peer{}, nil, err
	}
	if len(initiate) < curveMinInitiateSize {
		return Peer{}, nil, fmt.Errorf("%w: INITIATE of %d bytes", errCurveMalformed, len(initiate))
	}
	// Four boxes and two scalar multiplications: take a crypto slot.
	leave, err := h.enterCrypto()
	if err != nil {
		return Peer{}, nil, err
	}
	defer leave()
	// The cookie: Box[C' + s'](cookie key).
	shortKeys, ok := secretbox.Open(nil, initiate[25:105], longNonce("COOKIE--", initiate[9:25]), &cookieKey)
	if !ok {
		return Peer{}, nil, fmt.Errorf("%w: the INITIATE cookie does not open", ErrBadCrypto)
	}
	clear(cookieKey[:])
	clientShort := shortKeys[:32]
	serverShortSecret, err := ecdh.X25519().NewPrivateKey(shortKeys[32:])
	clear(shortKeys[32:])
	if err != nil {
		return Peer{}, nil, err
	}
	codec := &curveCodec{sendPrefix: "CurveZMQMESSAGES", recvPrefix: "CurveZMQMESSAGEC", sendNonce: 2}
	if err := precompute(&codec.shared, serverShortSecret, clientShort); err != nil {
		return Peer{}, nil, err
	}
	n := binary.BigEndian.Uint64(initiate[105:113])
	inner, ok := box.OpenAfterPrecomputation(nil, initiate[113:], shortNonce("CurveZMQINITIATE", n), &codec.shared)
	if !ok {
		return Peer{}, nil, fmt.Errorf("%w: the INITIATE box does not open", ErrBadCrypto)
	}
	codec.peerNonce = n
	// The vouch: Box[C' + S](C->S') proves the client holds C's secret.
	var clientPublic [32]byte
	copy(clientPublic[:], inner[:32])
	var vouchKey [32]byte
	defer clear(vouchKey[:])
	if err := precompute(&vouchKey, serverShortSecret, clientPublic[:]); err != nil {
		return Peer{}, nil, err
	}
	vouch, ok := box.OpenAfterPrecomputation(nil, inner[48:128], longNonce("VOUCH---", inner[32:48]), &vouchKey)
	if !ok {
		return Peer{}, nil, fmt.Errorf("%w: the vouch does not open", ErrBadCrypto)
	}
	serverPublic := h.cfg.publicKey()
	if subtle.ConstantTimeCompare(vouch[:32], clientShort) != 1 || subtle.ConstantTimeCompare(vouch[32:], serverPublic[:]) != 1 {
		return Peer{}, nil, fmt.Errorf("%w: the vouch names other keys than this connection's", ErrBadCrypto)
	}
	leave()
	if h.cfg.Authorize != nil && !h.cfg.Authorize(clientPublic) {
		// libzmq sends the ZAP status code; a libzmq client reports it.
		h.send([]byte("\x05ERROR\x03400"))
		return Peer{}, nil, &provenKeyError{key: clientPublic, err: ErrUnauthorized}
	}
	peer, err := parseMetadata(inner[128:], h.typ)
	if err != nil {
		return Peer{}, nil, &provenKeyError{key: clientPublic, err: err}
	}
	peer.CurveKey = clientPublic
	ready := make([]byte, 0, 64)
	ready = append(ready, "\x05READY"...)
	ready = binary.BigEndian.AppendUint64(ready, 1)
	ready = box.SealAfterPrecomputation(ready, appendMetadata(nil, h.typ), shortNonce("CurveZMQREADY---", 1), &codec.shared)
	if err := h.send(ready); err != nil {
		return Peer{}, nil, &provenKeyError{key: clientPublic, err: err}
	}
	return peer, codec, nil
}

// welcome reads HELLO and answers WELCOME, making the cookie key. What it
// learns (C') and makes (s') leaves with the cookie and is cleared here.
func (h *curveHandshaker) welcome(cookieKey *[32]byte) error {
	hello, err := h.expect("HELLO")
	if err != nil {
		return err
	}
	if len(hello) != curveHelloSize || hello[6] != 1 || hello[7] != 0 {
		return fmt.Errorf("%w: HELLO of %d bytes, version %d.%d", errCurveMalformed, len(hello), hello[min(6, len(hello)-1)], hello[min(7, len(hello)-1)])
	}
	// Two scalar multiplications and two boxes: take a crypto slot.
	leave, err := h.enterCrypto()
	if err != nil {
		return err
	}
	defer leave()
	var clientShort [32]byte
	copy(clientShort[:], hello[80:112])
	n := binary.BigEndian.Uint64(hello[112:120])
	// HELLO and WELCOME are boxed between the same keys (C' and s):
	// one scalar multiplication serves both.
	var longShared [32]byte
	defer clear(longShared[:])
	if err := precompute(&longShared, h.cfg.secretKey(), clientShort[:]); err != nil {
		return err
	}
	signature, ok := box.OpenAfterPrecomputation(nil, hello[120:200], shortNonce("CurveZMQHELLO---", n), &longShared)
	if !ok {
		return fmt.Errorf("%w: the HELLO box does not open: the client was given another server key", ErrBadCrypto)
	}
	if !bytes.Equal(signature, make([]byte, 64)) {
		// RFC 26: the signature box holds 64 zero bytes.
		return fmt.Errorf("%w: the HELLO signature is not 64 zero bytes", errCurveMalformed)
	}
	sSec, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	sPub := sSec.PublicKey().Bytes()
	randomBytes(cookieKey[:])
	var cookieNonce [16]byte
	randomBytes(cookieNonce[:])
	shortKeys := append(append(make([]byte, 0, 64), clientShort[:]...), sSec.Bytes()...)
	plain := make([]byte, 0, 128)
	plain = append(plain, sPub[:]...)
	plain = append(plain, cookieNonce[:]...)
	plain = secretbox.Seal(plain, shortKeys, longNonce("COOKIE--", cookieNonce[:]), cookieKey)
	clear(shortKeys)
	var welcomeNonce [16]byte
	randomBytes(welcomeNonce[:])
	welcome := make([]byte, 0, curveWelcomeSize)
	welcome = append(welcome, "\x07WELCOME"...)
	welcome = append(welcome, welcomeNonce[:]...)
	welcome = box.SealAfterPrecomputation(welcome, plain, longNonce("WELCOME-", welcomeNonce[:]), &longShared)
	clear(plain)
	leave() // a slow reader must not hold a slot
	return h.send(welcome)
}

// enterCrypto takes one of the socket's crypto slots, waiting no later
// than the handshake deadline; the returned leave gives it back, and may
// be called more than once.
func (h *curveHandshaker) enterCrypto() (leave func(), err error) {
	g := h.cfg.gate
	if g == nil {
		return func() {}, nil
	}
	if err := g.enter(h.ctx, h.deadline); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(g.leave) }, nil
}

// appendMetadata appends our metadata (RFC 23): Socket-Type, as libzmq
// sends it for PUSH, PULL, PUB and SUB.
func appendMetadata(b []byte, typ zmq4.SocketType) []byte {
	const name = "Socket-Type"
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(typ)))
	return append(b, typ...)
}

// parseMetadata reads the peer's metadata (RFC 23 properties: a 1-byte
// name length, the name, a 4-byte value length, the value) and checks its
// socket type against ours, as the NULL handshake does.
func parseMetadata(b []byte, typ zmq4.SocketType) (Peer, error) {
	var p Peer
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n+4 {
			return Peer{}, fmt.Errorf("%w: truncated metadata", errCurveMalformed)
		}
		name := string(b[1 : 1+n])
		vlen := binary.BigEndian.Uint32(b[1+n:])
		b = b[1+n+4:]
		if uint64(vlen) > uint64(len(b)) {
			return Peer{}, fmt.Errorf("%w: metadata value of %d bytes in %d", errCurveMalformed, vlen, len(b))
		}
		value := string(b[:vlen])
		b = b[vlen:]
		switch {
		case strings.EqualFold(name, "Socket-Type"):
			p.SocketType = value
		case strings.EqualFold(name, "Identity"):
			p.Identity = value
		}
	}
	if !compatibleSocketType(p.SocketType, typ) {
		return Peer{}, fmt.Errorf("zsock: peer socket type %.20q is not compatible with %s", p.SocketType, typ)
	}
	return p, nil
}

// compatibleSocketType is zmq4's SocketType.IsCompatible for a type a
// peer announced, which may be anything: IsCompatible panics on a type it
// does not know (an empty one included).
func compatibleSocketType(peer string, ours zmq4.SocketType) bool {
	switch zmq4.SocketType(peer) {
	case zmq4.Pair, zmq4.Pub, zmq4.Sub, zmq4.Req, zmq4.Rep, zmq4.Dealer, zmq4.Router, zmq4.Pull, zmq4.Push, zmq4.XPub, zmq4.XSub:
		return zmq4.SocketType(peer).IsCompatible(ours)
	}
	return false
}
