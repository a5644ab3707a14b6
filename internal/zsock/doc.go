// Package zsock is zmqlog's ZeroMQ socket layer: PUSH, PULL, PUB and SUB
// over ZMTP 3, with the semantics a log pipeline needs and nothing that
// blocks an application or loses messages without counting them.
//
// # Why not go-zeromq/zmq4's sockets
//
// zmq4 v0.17.0 fans PUSH out to every peer, blocks Send for up to five
// minutes with no peer and then drops silently, dials synchronously and
// gives up, queues PUB without bound behind its slowest subscriber, and
// allocates whatever frame size a peer announces, and has no CURVE. We
// keep its NULL handshake (zmq4.Open: greeting, NULL security, READY
// metadata, socket type check) and own everything else, CURVE included: dialling, accepting, framing,
// queues, load balancing, deadlines and limits.
//
// # The handshake
//
// Each connection runs zmq4.Open under a deadline (Options.HandshakeTimeout)
// through a guard that follows the byte stream: a peer whose first byte is
// not the ZMTP signature is refused at once, a handshake frame announcing
// more than 64 KiB is refused before zmq4 can allocate it, and a panic in
// zmq4's metadata parser is recovered and counted. After the handshake the
// connection is read through a bufio.Reader and written with one vectored
// write (writev) per batch of queued messages. A PULL connection's reader
// is 4 KiB, and borrows a pooled 16 KiB one only while its peer has more
// waiting, so a listener's thousands of mostly quiet producers cost it
// little memory (readBuffer). Puller.Serve hands each message to its
// handler on the goroutine that read it, sparing a hand-off per message.
//
// # CURVE
//
// Options.Curve (a CurveConfig) makes a socket speak CURVE only: CurveZMQ
// (RFC 26) over ZMTP 3 (RFC 25), byte for byte as libzmq 4.3 does, tested
// against pyzmq in all four directions. Listening sockets are the CURVE
// server (a long-term secret key, and CurveConfig.Authorize to pick the
// client keys it takes), connecting sockets the client (the server's
// public key and their own secret key). Keys are raw 32-byte Curve25519
// keys. The boxes are golang.org/x/crypto's nacl/box and nacl/secretbox;
// the key agreement is box.Precompute's (HSalsa20 of the X25519 secret)
// with the keys held by crypto/ecdh, which parses each secret key once
// (x/crypto's curve25519 parses it, and derives its public key, at every
// multiplication) and refuses peer keys of low order. This package writes
// only the framing.
//
// The handshake (HELLO, WELCOME, INITIATE, READY) is our own code, read
// through the same guard as the NULL handshake (commands only, 8 KiB in
// all, Options.HandshakeTimeout). The server keeps nothing but a
// per-connection cookie key between WELCOME and INITIATE, opens the
// client's vouch with the key it claims and checks that it names this
// connection's short-term key and the server's key, and only then asks
// Authorize. After the handshake every frame, commands included, is one
// MESSAGE box; short nonces must increase strictly. The writer seals a
// whole batch into one pooled buffer and writes it at once, so a PUSH
// still coalesces; the reader reads each box whole under the receive
// budget and MaxMessageSize (boxes up to a 64 KiB batch into a pooled
// buffer) and opens it into the one buffer the frame is returned in; a
// larger box's plaintext is charged to the budget before it is opened
// beside the box, and the box's share given back after, so the budget
// follows the memory really held.
//
// A listening socket counts what it refuses in ListenerStats:
// MechanismMismatch (a NULL peer to a CURVE socket or the reverse; both
// sides send their greeting in two parts, as libzmq does, so they learn
// the peer's mechanism even from a libzmq peer that hangs up on ours; a
// connecting socket reports it in its DialFailed event), Unauthorized (Authorize said no; the client is sent ERROR "400",
// as libzmq's ZAP refusal), BadCrypto (a box that does not open, a vouch
// or cookie that does not match, a nonce that does not increase), and, as
// for NULL, Malformed (CURVE commands of the wrong name or size) and
// Oversized.
//
// A HELLO costs the server two X25519 operations and its sender nothing:
// it can be made once and replayed on every new connection. So a CURVE
// listener bounds the rate, not only the number, of handshakes: each host
// (IP address) has a token bucket (Options.HandshakeRate, 100 per second
// after a burst of HandshakeBurst, by default MaxConnsPerHost, so a host's
// producers all reconnecting after a restart get in); a connection over it
// is closed before any cryptography and counted (OverHandshakeRate). Hosts
// are forgotten once their bucket has refilled, and at most 16384 are
// tracked; the rest share one bucket. And at most GOMAXPROCS-1 crypto
// steps (at least one) run at once per socket, so handshakes cannot take
// every core from the connections serving data; a peer that would wait
// for one past its handshake deadline is dropped (CryptoBusy).
//
// The client's long-term key, once its vouch proved it, is Peer.CurveKey
// on its messages and Event.CurveKey on its Connected event, and on the
// Rejected event when Authorize refused it. CurveConfig.Validate refuses
// an all-zero secret key and a server key of low order: ListenPull and
// ListenPub return its error, DialPush and DialSub fail every dial with
// it.
//
// # Sockets
//
//   - DialPush connects to one or more endpoints in the background, with
//     exponential backoff and jitter, TCP keepalive and a handshake
//     deadline. Each message goes to exactly one live connection: whichever
//     connection's writer takes it from the shared queue first, so a slow
//     or stalled peer gets less. A connection that dies (or accepts no
//     bytes for Options.WriteTimeout) hands back what it had not written,
//     and another connection sends it first. Send waits only while the
//     queue is full; TrySend never waits.
//   - ListenPull accepts any number of peers concurrently. A silent,
//     garbage-speaking or oversized peer (Options.MaxMessageSize) is
//     dropped and counted in ListenerStats; everyone else is served
//     meanwhile. Large frames are read in steps, so memory follows the
//     bytes a peer really sends.
//   - ListenPub keeps one bounded queue and one writer per subscriber,
//     matches topic prefixes before queueing, and drops (and counts) for a
//     subscriber whose queue is full. Publish never waits.
//   - DialSub connects to one or more publishers, merges their messages and
//     after a reconnect sends its subscriptions again.
//
// Every socket answers ZMTP PING with PONG (libzmq's heartbeats), never
// surfaces commands as data, and accepts subscriptions both as ZMTP 3.0
// messages and as ZMTP 3.1 SUBSCRIBE/CANCEL commands. Close is idempotent,
// closes every connection and waits for every goroutine it started.
//
// # Endpoints
//
// ParseEndpoint accepts tcp://host:port, tcp://*:port (binding every
// interface), tcp://host:* or :0 (an ephemeral port, binding only) and
// ipc:///path (a Unix socket; a stale socket file is removed before
// binding, as libzmq does). Errors name the endpoint and say what is wrong.
package zsock
