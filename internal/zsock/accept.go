package zsock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
)

// ListenerStats counts what a listening socket saw from its peers.
type ListenerStats struct {
	// Accepted counts TCP/IPC connections accepted.
	Accepted uint64
	// Active is the number of handshaken connections now open.
	Active int64
	// HandshakeFailed counts connections dropped before a complete ZMTP
	// handshake: silence past the deadline, garbage, a wrong socket type.
	HandshakeFailed uint64
	// Oversized counts peers dropped for announcing a message over the
	// maximum size.
	Oversized uint64
	// Malformed counts peers dropped for other protocol violations.
	Malformed uint64
	// Panics counts codec panics on hostile bytes, each contained to its
	// connection.
	Panics uint64
	// OverLimit counts connections closed at once because MaxConns were
	// already open.
	OverLimit uint64
	// Messages and Bytes count received data messages and their frame
	// bytes.
	Messages, Bytes uint64
}

type listenerCounters struct {
	accepted, handshakeFailed, oversized, malformed, panics, overLimit atomic.Uint64
	messages, bytes                                                    atomic.Uint64
	active                                                             atomic.Int64
}

func (c *listenerCounters) snapshot() ListenerStats {
	return ListenerStats{
		Accepted: c.accepted.Load(), Active: c.active.Load(),
		HandshakeFailed: c.handshakeFailed.Load(), Oversized: c.oversized.Load(),
		Malformed: c.malformed.Load(), Panics: c.panics.Load(), OverLimit: c.overLimit.Load(),
		Messages: c.messages.Load(), Bytes: c.bytes.Load(),
	}
}

// acceptor accepts connections concurrently: every connection gets its own
// goroutine for the handshake and for serve, so a silent or hostile peer
// holds up nobody else.
type acceptor struct {
	ep     Endpoint
	typ    zmq4.SocketType
	opts   Options
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	serve  func(*conn) error
	count  listenerCounters

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// listen binds ep; call start to begin accepting.
func listen(ep Endpoint, typ zmq4.SocketType, opts Options, serve func(*conn) error) (*acceptor, error) {
	if ep.Transport == "ipc" {
		removeStaleSocket(ep.Address)
	}
	ln, err := net.Listen(ep.network(), ep.Address)
	if err != nil {
		return nil, fmt.Errorf("zsock: listen on %s: %w", ep, unwrapOpError(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &acceptor{ep: ep, typ: typ, opts: opts, ln: ln, ctx: ctx, cancel: cancel, serve: serve, conns: map[net.Conn]struct{}{}}
	return a, nil
}

// start begins accepting; the socket owning the acceptor calls it once it
// has stored the acceptor, since serve uses it.
func (a *acceptor) start() {
	a.wg.Add(1)
	go a.acceptLoop()
}

// removeStaleSocket unlinks a Unix socket file left by a process that
// died, as libzmq does before binding an ipc endpoint. Only sockets are
// removed; any other file makes the bind fail with a clear error.
func removeStaleSocket(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		os.Remove(path)
	}
}

// unwrapOpError drops net.OpError's repetition of the address, which the
// caller already names.
func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// endpoint returns a connectable endpoint string for the listening address.
func (a *acceptor) endpoint() string {
	if a.ep.Transport == "ipc" {
		return a.ep.String()
	}
	return "tcp://" + a.ln.Addr().String()
}

func (a *acceptor) acceptLoop() {
	defer a.wg.Done()
	var delay time.Duration
	for {
		nc, err := a.ln.Accept()
		if err != nil {
			if a.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-a.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		a.count.accepted.Add(1)
		if !a.track(nc) {
			a.count.overLimit.Add(1)
			nc.Close()
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok && a.opts.KeepAlive > 0 {
			tc.SetKeepAlivePeriod(a.opts.KeepAlive)
			tc.SetKeepAlive(true)
		}
		a.wg.Add(1)
		go a.handle(nc)
	}
}

func (a *acceptor) track(nc net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx.Err() != nil || len(a.conns) >= a.opts.MaxConns {
		return false
	}
	a.conns[nc] = struct{}{}
	return true
}

func (a *acceptor) untrack(nc net.Conn) {
	a.mu.Lock()
	delete(a.conns, nc)
	a.mu.Unlock()
}

func (a *acceptor) handle(nc net.Conn) {
	defer a.wg.Done()
	defer a.untrack(nc)
	defer nc.Close()
	peer := nc.RemoteAddr().String()
	c, err := handshake(a.ctx, nc, a.typ, true, a.opts.HandshakeTimeout)
	if err != nil {
		if a.ctx.Err() != nil {
			return
		}
		a.count.handshakeFailed.Add(1)
		if errors.Is(err, errCodecPanic) {
			a.count.panics.Add(1)
		}
		a.opts.emit(Event{Kind: Rejected, Endpoint: a.ep.String(), Peer: peer, Err: err})
		return
	}
	a.count.active.Add(1)
	defer a.count.active.Add(-1)
	a.opts.emit(Event{Kind: Connected, Endpoint: a.ep.String(), Peer: peer})
	err = a.serveContained(c)
	if a.ctx.Err() != nil {
		return
	}
	switch {
	case isClosedErr(err):
		a.opts.emit(Event{Kind: Disconnected, Endpoint: a.ep.String(), Peer: peer, Err: err})
		return
	case errors.Is(err, ErrMessageTooLarge):
		a.count.oversized.Add(1)
	case errors.Is(err, errCodecPanic):
		a.count.panics.Add(1)
	case errors.Is(err, errBadCommand):
		a.count.malformed.Add(1)
	default: // a network error such as a reset: the peer left
		a.opts.emit(Event{Kind: Disconnected, Endpoint: a.ep.String(), Peer: peer, Err: err})
		return
	}
	a.opts.emit(Event{Kind: Rejected, Endpoint: a.ep.String(), Peer: peer, Err: err})
}

var errCodecPanic = errors.New("zsock: panic while decoding peer input")

// serveContained runs serve, turning a panic into an error so that one
// hostile connection cannot take the process down.
func (a *acceptor) serveContained(c *conn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errCodecPanic, p)
		}
	}()
	return a.serve(c)
}

// close stops accepting, closes every connection, and waits for their
// goroutines.
func (a *acceptor) close() error {
	a.mu.Lock()
	a.cancel()
	for nc := range a.conns {
		nc.Close()
	}
	a.mu.Unlock()
	err := a.ln.Close()
	a.wg.Wait()
	return err
}
