// Package zsock is zmqlog's ZeroMQ socket layer: PUSH, PULL, PUB and SUB
// over ZMTP 3, with the semantics a log pipeline needs and nothing that
// blocks an application or loses messages without counting them.
//
// # Why not go-zeromq/zmq4's sockets
//
// zmq4 v0.17.0 fans PUSH out to every peer, blocks Send for up to five
// minutes with no peer and then drops silently, dials synchronously and
// gives up, queues PUB without bound behind its slowest subscriber, and
// allocates whatever frame size a peer announces. We keep its ZMTP
// handshake (zmq4.Open: greeting, NULL security, READY metadata, socket
// type check) and own everything else: dialling, accepting, framing,
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
// write (writev) per batch of queued messages.
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
