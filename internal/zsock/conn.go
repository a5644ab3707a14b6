package zsock

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
)

// ZMTP 3 frame flags (RFC 23, "Framing").
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
)

const (
	// greetingSize is the fixed size of the ZMTP 3 greeting.
	greetingSize = 64
	// maxHandshakeBytes bounds everything a peer may send before the
	// handshake is done (greeting, then commands up to its READY), summed
	// over all its frames. Real peers send a few hundred bytes (libzmq's
	// READY carries Socket-Type, Identity and any ZMQ_METADATA);
	// go-zeromq/zmq4 would allocate whatever size a frame announces and
	// keep appending frames until the handshake deadline.
	maxHandshakeBytes = 8 << 10
	// writeBufferSize is how many bytes of queued messages a writer
	// coalesces into one vectored write.
	writeBufferSize = 64 << 10
	// frameOverhead is what each frame costs us beyond its body (a slice
	// header and bookkeeping); it counts against the maximum message size
	// so a flood of empty frames is bounded too.
	frameOverhead = 32
	// firstStep: a body announced larger than this, and not yet in the
	// read buffer, is read into a buffer that starts this large and
	// grows fourfold as bytes arrive, so memory follows the bytes a peer
	// really sends, not the size it announces. A socket with a receive
	// budget (PULL), which charges every step to the peer's host, starts
	// at budgetedFirstStep: a producer's 64 KiB batch then costs one
	// allocation.
	firstStep         = 16 << 10
	budgetedFirstStep = 64 << 10
	// maxControlMessage bounds one message from a peer that has nothing
	// to send but commands and subscriptions: a SUB to our PUB, a PULL to
	// our PUSH. Real ones are a few bytes; whatever their socket's
	// MaxMessageSize, a peer sending more is dropped.
	maxControlMessage = 64 << 10
)

// readBufferSize is the bufio.Reader size for a connection of each socket
// type, sized to what that side of the connection receives: a SUB reads
// many small messages, so a large buffer saves syscalls; a PULL reads
// 64 KiB batches, which bypass the buffer, or libzmq peers' small
// messages, for which 16 KiB keeps most of the syscalls a larger buffer
// would save, and only while its peer sends that much (readBuffer: it
// keeps pullSmallBuffer otherwise); a PUB reads only subscriptions and a
// PUSH only PONGs. A listener holds thousands of connections, so its
// buffers stay small.
func readBufferSize(typ zmq4.SocketType) int {
	switch typ {
	case zmq4.Sub:
		return 32 << 10
	case zmq4.Pull:
		return pullLargeBuffer
	default:
		return 1 << 10
	}
}

// Errors a connection reports.
var (
	// ErrMessageTooLarge: a peer announced a message over the maximum size;
	// the connection is dropped.
	ErrMessageTooLarge = errors.New("zsock: message exceeds the maximum size")
	errHandshakeFrame  = fmt.Errorf("%w: more than %d bytes before the handshake completed", ErrMessageTooLarge, maxHandshakeBytes)
	errNotZMTP         = errors.New("zsock: peer does not speak ZMTP (no greeting signature)")
	errBadCommand      = errors.New("zsock: malformed command frame")
	errHandshakeData   = fmt.Errorf("%w: a data frame or a command with MORE set before the handshake completed", errBadCommand)
)

// conn is one established ZMTP connection. Reads happen on one goroutine;
// writes are serialised by wmu because a reader answers PINGs too.
type conn struct {
	nc   net.Conn
	r    *readBuffer
	wmu  sync.Mutex
	peer Peer
	// writeTimeout bounds each write on its own (0: none); every write
	// sets a fresh deadline, so a quiet spell never fails the next one.
	writeTimeout time.Duration
	// budget, if set, is the shared receive budget that message bodies are
	// taken from as their bytes arrive (PULL); held is what this
	// connection has taken for the message it is reading.
	budget *recvBudget
	share  *hostShare
	held   int64 // taken by the message being read
	credit int64 // taken ahead, not yet used
	// host is the peer's host, as per-host limits count it (hostOf).
	host string
	// curve, when the connection speaks CURVE, seals every frame written
	// and opens every frame read.
	curve *curveCodec

	closeOnce sync.Once
}

// Peer describes the remote side of a connection.
type Peer struct {
	// Addr is the remote network address.
	Addr string
	// SocketType is the ZMTP socket type the peer announced (PUSH, SUB, ...).
	SocketType string
	// Identity is the identity the peer announced, often empty.
	Identity string
	// CurveKey, on a CURVE connection, is the peer's long-term public key,
	// proven in the handshake: on a listening socket the client's key (the
	// one Authorize took; its vouch proved the client holds the secret),
	// on a connecting socket the server's. All zero otherwise: a proven
	// key never is (keys of low order are refused).
	CurveKey [32]byte
}

// HasCurveKey reports whether CurveKey holds a proven key.
func (p Peer) HasCurveKey() bool { return p.CurveKey != [32]byte{} }

// handshake runs the ZMTP 3 greeting and NULL-security READY exchange with
// go-zeromq/zmq4's codec over nc, bounded by opts.HandshakeTimeout and by
// ctx. The codec's panics on hostile metadata are contained and returned as
// errors; the guard refuses, before the codec sees them, more than
// maxHandshakeBytes in all and any frame that is not a single-frame command.
// On error nc is closed. After the handshake the connection's reads go
// through an idle watch that PINGs a quiet peer (opts.Heartbeat).
func handshake(ctx context.Context, nc net.Conn, typ zmq4.SocketType, server bool, opts Options) (c *conn, err error) {
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	deadline := time.Now().Add(opts.HandshakeTimeout)
	if err := nc.SetDeadline(deadline); err != nil {
		nc.Close()
		return nil, err
	}
	c = &conn{nc: nc, writeTimeout: max(opts.WriteTimeout, 0), host: hostOf(nc.RemoteAddr())}
	watch := &idleWatch{c: c, quiet: opts.Heartbeat, timeout: opts.HeartbeatTimeout}
	br := newReadBuffer(watch, readBufferSize(typ), typ == zmq4.Pull)
	guard := &guardedConn{Conn: nc, g: handshakeGuard{r: br.Reader, greeting: greetingSize, budget: maxHandshakeBytes}, splitGreeting: true, server: server}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("zsock: handshake with %s: %w: %v", nc.RemoteAddr(), errCodecPanic, p)
		}
		if err != nil {
			nc.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		}
	}()
	if opts.Curve != nil {
		peer, codec, err := curveHandshake(ctx, deadline, nc, &guard.g, typ, server, opts.Curve)
		if err != nil {
			return nil, fmt.Errorf("zsock: CURVE handshake with %s: %w", nc.RemoteAddr(), err)
		}
		c.peer, c.curve = peer, codec
	} else {
		zc, err := zmq4.Open(guard, null.Security(), typ, nil, server, nil)
		if err != nil {
			if m, ok := guard.g.peerMechanism(); ok && m != "NULL" {
				err = fmt.Errorf("%w: %.20q, we speak NULL", ErrMechanismMismatch, m)
			}
			return nil, fmt.Errorf("zsock: handshake with %s: %w", nc.RemoteAddr(), err)
		}
		c.peer = Peer{SocketType: zc.Peer.Meta["Socket-Type"], Identity: zc.Peer.Meta["Identity"]}
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	c.r = br
	c.peer.Addr = nc.RemoteAddr().String()
	watch.start()
	return c, nil
}

func (c *conn) close() error {
	var err error
	c.closeOnce.Do(func() { err = c.nc.Close() })
	return err
}

// releaseBuffers gives back what the connection borrowed to read, once
// its reading goroutine is done with it.
func (c *conn) releaseBuffers() { c.r.release() }

// readMessage reads one message (all its frames). A command is returned
// with isCommand set and its single frame. limit bounds the message: body
// bytes plus frameOverhead per frame. With a receive budget, the message's
// bytes are taken from it as they arrive and stay taken (c.held) until the
// caller ends the message with finishMessage; on error they are given
// back.
func (c *conn) readMessage(limit int64) (frames [][]byte, isCommand bool, err error) {
	defer func() {
		if err != nil {
			c.giveBackHeld()
		}
	}()
	c.r.fit()
	if c.curve != nil {
		return c.readCurveMessage(limit)
	}
	var total int64
	for {
		flags, size, err := c.readFrameHeader()
		if err != nil {
			return nil, false, err
		}
		if flags&flagCommand != 0 && (flags&flagMore != 0 || len(frames) != 0) {
			// RFC 23: a command is one frame, never part of a message.
			return nil, false, errBadCommand
		}
		if size > uint64(limit) || total+int64(size)+frameOverhead > limit {
			return nil, false, ErrMessageTooLarge
		}
		total += int64(size) + frameOverhead
		if err := c.take(frameOverhead); err != nil {
			return nil, false, err
		}
		body, err := c.readBody(int(size))
		if err != nil {
			return nil, false, err
		}
		frames = append(frames, body)
		if flags&flagCommand != 0 {
			return frames, true, nil
		}
		if flags&flagMore == 0 {
			return frames, false, nil
		}
	}
}

// readBody reads a frame body of the announced size. A body already in
// the read buffer, or small, is allocated at its size; a larger one grows
// from the first step, fourfold as its bytes arrive, so a peer that
// announces a large frame and sends little costs little.
func (c *conn) readBody(size int) ([]byte, error) {
	step := firstStep
	if c.budget != nil {
		step = budgetedFirstStep
	}
	if size <= step || size <= c.r.Buffered() {
		if err := c.take(int64(size)); err != nil {
			return nil, err
		}
		body := make([]byte, size)
		_, err := io.ReadFull(c.r, body)
		return body, unexpected(err)
	}
	var body []byte
	for len(body) < size {
		n := min(size-len(body), max(step, 3*len(body)))
		if err := c.take(int64(n)); err != nil {
			return nil, err
		}
		grown := make([]byte, len(body)+n)
		copy(grown, body)
		body = grown
		if _, err := io.ReadFull(c.r, body[len(body)-n:]); err != nil {
			return nil, unexpected(err)
		}
	}
	return body, nil
}

// take reserves n bytes of the receive budget for the message being read,
// waiting, before the message's first bytes, while the budget is spent
// (TCP then pushes back on the peer). It takes at least creditChunk at a
// time, so a small message costs one acquire.
func (c *conn) take(n int64) error {
	if c.budget == nil {
		return nil
	}
	if n > c.credit {
		chunk := max(n-c.credit, creditChunk)
		if err := c.budget.acquire(c.share, chunk, c.held == 0 && c.credit == 0); err != nil {
			return err
		}
		c.credit += chunk
	}
	c.credit -= n
	c.held += n
	return nil
}

// finishMessage ends the message just read: queue says whether its bytes
// now wait in the socket's queue (a data message), or are given back (a
// command). It returns what the message holds, for the caller to release
// once it has left the socket.
func (c *conn) finishMessage(queue bool) int64 {
	if c.budget == nil {
		return 0
	}
	held := c.held
	if queue {
		c.budget.finish(c.share, held, c.credit)
	} else {
		c.budget.finish(c.share, 0, held+c.credit)
		held = 0
	}
	c.held, c.credit = 0, 0
	return held
}

func (c *conn) giveBackHeld() { c.finishMessage(false) }

// giveBack returns n bytes of the message being read to the budget: a
// buffer it no longer needs (a CURVE box, once opened).
func (c *conn) giveBack(n int64) {
	if c.budget == nil {
		return
	}
	c.held -= n
	c.budget.finish(c.share, 0, n)
}

// unexpected turns a clean EOF inside a message into ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// sendCommand writes one ZMTP command (name, then body).
func (c *conn) sendCommand(name string, body []byte) error {
	cmd := make([]byte, 0, 1+len(name)+len(body))
	cmd = append(cmd, byte(len(name)))
	cmd = append(cmd, name...)
	cmd = append(cmd, body...)
	var b batchWriter
	b.addFrame(flagCommand, cmd)
	b.end()
	_, err := b.writeTo(c, c.writeTimeout)
	return err
}

// sendMessage writes one message.
func (c *conn) sendMessage(frames [][]byte) error {
	var b batchWriter
	b.add(frames)
	_, err := b.writeTo(c, c.writeTimeout)
	return err
}

// parseCommand splits a command frame into its name and body.
func parseCommand(frame []byte) (name string, body []byte, err error) {
	if len(frame) == 0 || int(frame[0]) > len(frame)-1 {
		return "", nil, errBadCommand
	}
	n := int(frame[0])
	return string(frame[1 : 1+n]), frame[1+n:], nil
}

// handleCommand answers the commands every socket type must: a PING gets a
// PONG that echoes its context (RFC 37). It reports whether the command was
// a subscription change, returning it for PUB sockets.
func (c *conn) handleCommand(frame []byte) (name string, body []byte, err error) {
	name, body, err = parseCommand(frame)
	if err != nil {
		return "", nil, err
	}
	if name == "PING" {
		// PING body: 2-byte TTL, then up to 16 bytes of context to echo.
		var ctx []byte
		if len(body) > 2 {
			ctx = body[2:]
			if len(ctx) > 16 {
				ctx = ctx[:16]
			}
		}
		return name, body, c.sendCommand("PONG", ctx)
	}
	return name, body, nil
}

// ping sends a PING (RFC 37) with no TTL and no context: the peer answers
// PONG, and any byte from it shows it is alive.
func (c *conn) ping() error { return c.sendCommand("PING", []byte{0, 0}) }

// guardedConn is the net.Conn handed to zmq4.Open: reads pass through the
// handshake guard (which reads from the connection's bufio.Reader, so bytes
// that arrive right behind the handshake stay buffered for us), writes go
// straight to the connection.
type guardedConn struct {
	net.Conn
	g handshakeGuard
	// splitGreeting: the next greeting written is sent in two parts
	// (sendGreeting); server says which side we are.
	splitGreeting, server bool
}

func (gc *guardedConn) Write(p []byte) (int, error) {
	if !gc.splitGreeting || len(p) != greetingSize {
		return gc.Conn.Write(p)
	}
	gc.splitGreeting = false
	if err := sendGreeting(gc.Conn, gc.g.r, p, gc.server); err != nil {
		return 0, err
	}
	return len(p), nil
}

// greetingMechanismEnd is where the mechanism field of a greeting ends.
const greetingMechanismEnd = 32

// sendGreeting sends our greeting in two parts, as RFC 23 suggests and
// libzmq does: the signature and major version (11 bytes), then, once the
// peer's greeting has begun, the rest. libzmq sends its mechanism as soon
// as it has our major version, and hangs up without sending it once it has
// seen a mechanism it does not speak; holding ours back until we have its
// mechanism means we always learn it, so a peer of another mechanism is
// told apart for sure (ErrMechanismMismatch) on both sides.
//
// The listening side (server) waits for the peer's greeting up to its
// mechanism and checks it before sending the rest; the connecting side
// waits only for the peer's first 11 bytes (and checks the mechanism when
// it reads the whole greeting), so two of our sockets never both wait.
//
// A NULL listener needs the split as much as a CURVE one: a libzmq CURVE
// client given our whole greeting at once reads our mechanism and hangs
// up before sending its own (a bare EOF, counted as a failed handshake,
// not a mismatch; TestInteropCurveWeRefuseLibzmqPeers). The wait costs
// nothing to peers that send their whole greeting before reading ours
// (go-zeromq/zmq4, both roles: TestZmq4ClientThroughTheSplitGreeting) nor
// to libzmq, which sends its mechanism once it has our major version;
// only a peer that held its mechanism back until it had all of ours would
// wait, until the handshake deadline, and none we know of does.
func sendGreeting(nc net.Conn, r *bufio.Reader, ours []byte, server bool) error {
	if _, err := nc.Write(ours[:11]); err != nil {
		return err
	}
	if first, err := r.Peek(1); err != nil {
		return unexpected(err)
	} else if first[0] != 0xFF {
		return errNotZMTP
	}
	wait := 11
	if server {
		wait = greetingMechanismEnd
	}
	peer, err := r.Peek(wait)
	if err != nil {
		return unexpected(err)
	}
	if server && peer[10] >= 3 {
		if theirs, mine := greetingMechanism(peer), greetingMechanism(ours); theirs != mine {
			// Unlike libzmq, finish our greeting before hanging up, so
			// that the peer learns why.
			nc.Write(ours[11:])
			return fmt.Errorf("%w: %.20q, we speak %s", ErrMechanismMismatch, theirs, mine)
		}
	}
	_, err = nc.Write(ours[11:])
	return err
}

func (gc *guardedConn) Read(p []byte) (int, error) { return gc.g.Read(p) }

// handshakeGuard follows the ZMTP byte stream during the handshake. It
// lets through at most budget bytes in all, and only single-frame
// commands (READY, ERROR, ...): RFC 23 allows nothing else before the
// handshake completes. Both are checked at each frame header, before the
// codec can read a size and allocate it, or append one more frame.
type handshakeGuard struct {
	r        *bufio.Reader
	greeting int // greeting bytes still to pass
	// seen is the peer's greeting as it passed, so that a failed
	// handshake can tell a peer of another mechanism (peerMechanism).
	seen   [greetingSize]byte
	header int    // validated frame-header bytes still to pass
	body   uint64 // frame-body bytes still to pass
	budget uint64 // bytes the peer may still send before READY
}

func (g *handshakeGuard) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var allow uint64
	switch {
	case g.greeting > 0:
		allow = uint64(g.greeting)
	case g.header > 0:
		allow = uint64(g.header)
	case g.body > 0:
		allow = g.body
	default:
		// At a frame header: peek at all of it and check it.
		first, err := g.r.Peek(1)
		if err != nil {
			return 0, err
		}
		if first[0]&flagCommand == 0 || first[0]&flagMore != 0 {
			return 0, errHandshakeData
		}
		hlen := 2
		if first[0]&flagLong != 0 {
			hlen = 9
		}
		hdr, err := g.r.Peek(hlen)
		if err != nil {
			return 0, err
		}
		size := uint64(hdr[1])
		if hlen == 9 {
			size = binary.BigEndian.Uint64(hdr[1:])
		}
		if size > g.budget || uint64(hlen)+size > g.budget {
			return 0, errHandshakeFrame
		}
		g.budget -= uint64(hlen) + size
		g.header, g.body = hlen, size
		allow = uint64(hlen)
	}
	if uint64(len(p)) > allow {
		p = p[:allow]
	}
	n, err := g.r.Read(p)
	switch {
	case g.greeting > 0:
		// A ZMTP greeting starts with 0xFF: turn away HTTP probes, port
		// scanners and the like at once instead of at the deadline.
		if g.greeting == greetingSize && n > 0 && p[0] != 0xFF {
			return 0, errNotZMTP
		}
		copy(g.seen[greetingSize-g.greeting:], p[:n])
		g.greeting -= n
	case g.header > 0:
		g.header -= n
	default:
		g.body -= uint64(n)
	}
	return n, err
}

// peerMechanism is the security mechanism the peer's greeting offered,
// once its greeting has passed whole.
func (g *handshakeGuard) peerMechanism() (string, bool) {
	if g.greeting > 0 {
		return "", false
	}
	return greetingMechanism(g.seen[:]), true
}

// readFrameHeader reads a ZMTP frame's flags and its size, short or long.
// An end of stream before the flags is the peer leaving (err as read);
// one inside the header is unexpected.
func (c *conn) readFrameHeader() (flags byte, size uint64, err error) {
	if flags, err = c.r.ReadByte(); err != nil {
		return 0, 0, err
	}
	if flags&flagLong != 0 {
		var b [8]byte
		if _, err := io.ReadFull(c.r, b[:]); err != nil {
			return 0, 0, unexpected(err)
		}
		return flags, binary.BigEndian.Uint64(b[:]), nil
	}
	b, err := c.r.ReadByte()
	if err != nil {
		return 0, 0, unexpected(err)
	}
	return flags, uint64(b), nil
}

// readCurveMessage is readMessage on a CURVE connection: each frame
// arrives as a MESSAGE box in an outer frame of its own. The box is read
// whole, under the receive budget and the size limit (its plaintext is
// what counts against limit). A box up to a 64 KiB batch is read into a
// pooled buffer and opened into the frame's own; a larger one is read in
// steps as readBody does, and its plaintext is charged before it is
// opened beside the box (the box's share given back after), so the budget
// follows the memory really held.
func (c *conn) readCurveMessage(limit int64) (frames [][]byte, isCommand bool, err error) {
	var total int64
	for {
		outer, size, err := c.readFrameHeader()
		if err != nil {
			return nil, false, err
		}
		if outer&flagMore != 0 || size < messageOverhead {
			// MORE travels inside the box; a box has a fixed overhead.
			return nil, false, fmt.Errorf("%w: a %d-byte frame with flags %#x on a CURVE connection", errCurveMalformed, size, outer)
		}
		plain := size - messageOverhead
		if plain > uint64(limit) || total+int64(plain)+frameOverhead > limit {
			return nil, false, ErrMessageTooLarge
		}
		total += int64(plain) + frameOverhead
		if err := c.take(frameOverhead); err != nil {
			return nil, false, err
		}
		flags, body, err := c.readBox(int(size))
		if err != nil {
			return nil, false, err
		}
		if flags&flagCommand != 0 && (flags&flagMore != 0 || len(frames) != 0) {
			return nil, false, errBadCommand
		}
		frames = append(frames, body)
		if flags&flagCommand != 0 {
			return frames, true, nil
		}
		if flags&flagMore == 0 {
			return frames, false, nil
		}
	}
}

// readBox reads one MESSAGE box of size bytes and opens it.
func (c *conn) readBox(size int) (flags byte, frame []byte, err error) {
	step := firstStep
	if c.budget != nil {
		step = budgetedFirstStep
	}
	if size > step+messageOverhead && size > c.r.Buffered() {
		msg, err := c.readBody(size)
		if err != nil {
			return 0, nil, err
		}
		// nacl opens into a buffer of its own (it refuses to overlap the
		// box): while it does, the message costs its size twice, so the
		// plaintext is charged first and the box's share given back
		// after.
		if err := c.take(int64(openedSize(size))); err != nil {
			return 0, nil, err
		}
		flags, frame, err := c.curve.open(msg)
		c.giveBack(int64(size))
		return flags, frame, err
	}
	if err := c.take(int64(size)); err != nil {
		return 0, nil, err
	}
	buf := getBoxBuffer()
	defer putBoxBuffer(buf)
	msg := append((*buf)[:0], make([]byte, size)...)
	*buf = msg
	if _, err := io.ReadFull(c.r, msg); err != nil {
		return 0, nil, unexpected(err)
	}
	// Opened into a buffer of its own, smaller than the box the budget
	// took: the pooled one goes back.
	return c.curve.open(msg)
}
