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
	// maxHandshakeFrame bounds the frames a peer may send before the
	// handshake is done (its READY command). Real peers send a few hundred
	// bytes; go-zeromq/zmq4 would allocate whatever size a frame announces.
	maxHandshakeFrame = 64 << 10
	// readBufferSize is the bufio.Reader size per connection. Frames larger
	// than this are read straight into their own buffer.
	readBufferSize = 32 << 10
	// writeBufferSize is the bufio.Writer size per connection; queued
	// messages are coalesced into it and written with one syscall.
	writeBufferSize = 64 << 10
	// frameOverhead is what each frame costs us beyond its body (a slice
	// header and bookkeeping); it counts against the maximum message size
	// so a flood of empty frames is bounded too.
	frameOverhead = 32
	// growStep: a body announced larger than this is read in steps of this
	// size, so memory follows the bytes a peer really sends, not the size
	// it announces.
	growStep = 256 << 10
)

// Errors a connection reports.
var (
	// ErrMessageTooLarge: a peer announced a message over the maximum size;
	// the connection is dropped.
	ErrMessageTooLarge = errors.New("zsock: message exceeds the maximum size")
	errHandshakeFrame  = errors.New("zsock: handshake frame too large")
	errNotZMTP         = errors.New("zsock: peer does not speak ZMTP (no greeting signature)")
	errBadCommand      = errors.New("zsock: malformed command frame")
)

// conn is one established ZMTP connection. Reads happen on one goroutine;
// writes are serialised by wmu because a reader answers PINGs too.
type conn struct {
	nc   net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
	w    *bufio.Writer
	peer Peer

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
}

// handshake runs the ZMTP 3 greeting and NULL-security READY exchange with
// go-zeromq/zmq4's codec over nc, bounded by timeout and by ctx. The codec's
// panics on hostile metadata are contained and returned as errors; frames
// larger than maxHandshakeFrame are refused before the codec sees their size.
// On error nc is closed.
func handshake(ctx context.Context, nc net.Conn, typ zmq4.SocketType, server bool, timeout time.Duration) (c *conn, err error) {
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	if err := nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, readBufferSize)
	guard := &guardedConn{Conn: nc, g: handshakeGuard{r: br, greeting: greetingSize, limit: maxHandshakeFrame}}
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
	zc, err := zmq4.Open(guard, null.Security(), typ, nil, server, nil)
	if err != nil {
		return nil, fmt.Errorf("zsock: handshake with %s: %w", nc.RemoteAddr(), err)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return &conn{
		nc: nc,
		r:  br,
		w:  bufio.NewWriterSize(nc, writeBufferSize),
		peer: Peer{
			Addr:       nc.RemoteAddr().String(),
			SocketType: zc.Peer.Meta["Socket-Type"],
			Identity:   zc.Peer.Meta["Identity"],
		},
	}, nil
}

func (c *conn) close() error {
	var err error
	c.closeOnce.Do(func() { err = c.nc.Close() })
	return err
}

// readMessage reads one message (all its frames). A command is returned
// with isCommand set and its single frame. limit bounds the message: body
// bytes plus frameOverhead per frame.
func (c *conn) readMessage(limit int64) (frames [][]byte, isCommand bool, err error) {
	var total int64
	for {
		flags, err := c.r.ReadByte()
		if err != nil {
			return nil, false, err
		}
		var size uint64
		if flags&flagLong != 0 {
			var b [8]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, false, unexpected(err)
			}
			size = binary.BigEndian.Uint64(b[:])
		} else {
			b, err := c.r.ReadByte()
			if err != nil {
				return nil, false, unexpected(err)
			}
			size = uint64(b)
		}
		if size > uint64(limit) || total+int64(size)+frameOverhead > limit {
			return nil, false, ErrMessageTooLarge
		}
		total += int64(size) + frameOverhead
		body, err := c.readBody(int(size))
		if err != nil {
			return nil, false, err
		}
		frames = append(frames, body)
		if flags&flagCommand != 0 {
			if flags&flagMore != 0 || len(frames) != 1 {
				return nil, false, errBadCommand
			}
			return frames, true, nil
		}
		if flags&flagMore == 0 {
			return frames, false, nil
		}
	}
}

func (c *conn) readBody(size int) ([]byte, error) {
	if size <= growStep {
		body := make([]byte, size)
		_, err := io.ReadFull(c.r, body)
		return body, unexpected(err)
	}
	body := make([]byte, 0, growStep)
	for len(body) < size {
		n := min(size-len(body), max(growStep, len(body)))
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, body[len(body)-n:]); err != nil {
			return nil, unexpected(err)
		}
	}
	return body, nil
}

// unexpected turns a clean EOF inside a message into ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// writeFramesLocked appends one message to the write buffer. The caller
// holds wmu and flushes.
func (c *conn) writeFramesLocked(frames [][]byte) error {
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags |= flagMore
		}
		if err := c.writeFrameLocked(flags, f); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) writeFrameLocked(flags byte, body []byte) error {
	var hdr [9]byte
	n := 2
	if len(body) > 255 {
		flags |= flagLong
		binary.BigEndian.PutUint64(hdr[1:], uint64(len(body)))
		n = 9
	} else {
		hdr[1] = byte(len(body))
	}
	hdr[0] = flags
	if _, err := c.w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := c.w.Write(body)
	return err
}

// sendCommand writes and flushes one ZMTP command (name, then body).
func (c *conn) sendCommand(name string, body []byte) error {
	cmd := make([]byte, 0, 1+len(name)+len(body))
	cmd = append(cmd, byte(len(name)))
	cmd = append(cmd, name...)
	cmd = append(cmd, body...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeFrameLocked(flagCommand, cmd); err != nil {
		return err
	}
	return c.w.Flush()
}

// sendMessage writes and flushes one message.
func (c *conn) sendMessage(frames [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeFramesLocked(frames); err != nil {
		return err
	}
	return c.w.Flush()
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

// guardedConn is the net.Conn handed to zmq4.Open: reads pass through the
// handshake guard (which reads from the connection's bufio.Reader, so bytes
// that arrive right behind the handshake stay buffered for us), writes go
// straight to the connection.
type guardedConn struct {
	net.Conn
	g handshakeGuard
}

func (gc *guardedConn) Read(p []byte) (int, error) { return gc.g.Read(p) }

// handshakeGuard follows the ZMTP byte stream during the handshake and
// refuses a frame whose announced size is over limit before the codec can
// read that size and allocate it.
type handshakeGuard struct {
	r        *bufio.Reader
	greeting int    // greeting bytes still to pass
	header   int    // validated frame-header bytes still to pass
	body     uint64 // frame-body bytes still to pass
	limit    uint64
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
		// At a frame header: peek at all of it and check the size.
		first, err := g.r.Peek(1)
		if err != nil {
			return 0, err
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
		if size > g.limit {
			return 0, errHandshakeFrame
		}
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
		g.greeting -= n
	case g.header > 0:
		g.header -= n
	default:
		g.body -= uint64(n)
	}
	return n, err
}
