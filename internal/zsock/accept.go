package zsock

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	// handshake for no reason counted below: silence past the deadline,
	// garbage, a wrong socket type.
	HandshakeFailed uint64
	// Oversized counts peers dropped for announcing a message over the
	// maximum size, or sending more than a handshake needs before READY.
	Oversized uint64
	// Malformed counts peers dropped for other protocol violations, such
	// as a data frame, or a command with MORE set, before READY.
	Malformed uint64
	// Panics counts codec panics on hostile bytes, each contained to its
	// connection.
	Panics uint64
	// OverLimit counts connections closed at once because MaxConns were
	// already open; OverHostLimit those closed because their host already
	// held MaxConnsPerHost.
	OverLimit, OverHostLimit uint64
	// OverHandshakeRate counts connections to a CURVE listener closed at
	// once because their host was over Options.HandshakeRate.
	OverHandshakeRate uint64
	// CryptoBusy counts CURVE peers dropped because every handshake
	// crypto slot stayed taken until their handshake deadline (a listener
	// runs at most GOMAXPROCS-1 CURVE crypto steps at once, at least one).
	CryptoBusy uint64
	// Silent counts peers dropped for answering neither traffic nor a
	// heartbeat PING (Options.Heartbeat).
	Silent uint64
	// OverBudget counts peers dropped because their messages in progress
	// held too much of the receive budget (see Options.RecvBudget).
	OverBudget uint64
	// MechanismMismatch counts peers whose greeting offered another
	// security mechanism than the socket's (a NULL peer to a CURVE
	// socket, or a CURVE peer to a NULL one).
	MechanismMismatch uint64
	// Unauthorized counts CURVE clients that proved their key and were
	// refused by CurveConfig.Authorize.
	Unauthorized uint64
	// BadCrypto counts CURVE peers dropped for a box that did not open
	// (a client given another server key, a forged or replayed cookie or
	// vouch, a tampered message) or a message nonce that did not
	// increase. CURVE commands of the wrong size count as Malformed.
	BadCrypto uint64
	// Messages and Bytes count received data messages and their frame
	// bytes.
	Messages, Bytes uint64
	// Buffered is the receive budget in use now (PULL): bytes of messages
	// read, or being read, and not yet returned by Recv.
	Buffered uint64
}

type listenerCounters struct {
	accepted, handshakeFailed, oversized, malformed, panics, overLimit atomic.Uint64
	overHostLimit, silent, overBudget                                  atomic.Uint64
	mechanismMismatch, unauthorized, badCrypto                         atomic.Uint64
	overHandshakeRate, cryptoBusy                                      atomic.Uint64
	messages, bytes                                                    atomic.Uint64
	active                                                             atomic.Int64
}

func (c *listenerCounters) snapshot() ListenerStats {
	return ListenerStats{
		Accepted: c.accepted.Load(), Active: c.active.Load(),
		HandshakeFailed: c.handshakeFailed.Load(), Oversized: c.oversized.Load(),
		Malformed: c.malformed.Load(), Panics: c.panics.Load(), OverLimit: c.overLimit.Load(),
		OverHostLimit: c.overHostLimit.Load(), OverHandshakeRate: c.overHandshakeRate.Load(), CryptoBusy: c.cryptoBusy.Load(), Silent: c.silent.Load(), OverBudget: c.overBudget.Load(),
		MechanismMismatch: c.mechanismMismatch.Load(), Unauthorized: c.unauthorized.Load(), BadCrypto: c.badCrypto.Load(),
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
	// budget, if set before start, is the receive budget every accepted
	// connection reads messages into (PULL).
	budget *recvBudget
	// rate, on a CURVE listener, bounds the handshakes each host starts
	// per second (Options.HandshakeRate); nil: no bound.
	rate *handshakeRate

	// ipc is the socket file this acceptor created (ipc endpoints only),
	// the one file Close may unlink.
	ipc *ipcFile

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	byHost map[string]int
}

// listen binds ep; call start to begin accepting.
func listen(ep Endpoint, typ zmq4.SocketType, opts Options, serve func(*conn) error) (*acceptor, error) {
	if err := opts.Curve.Validate(); err != nil {
		return nil, fmt.Errorf("zsock: listen on %s: %w", ep, err)
	}
	var ln net.Listener
	var ipc *ipcFile
	var err error
	if ep.Transport == "ipc" {
		ln, ipc, err = listenIPC(ep.Address)
	} else {
		ln, err = net.Listen(ep.network(), ep.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("zsock: listen on %s: %w", ep, unwrapOpError(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &acceptor{ep: ep, typ: typ, opts: opts, ln: ln, ipc: ipc, ctx: ctx, cancel: cancel, serve: serve,
		conns: map[net.Conn]struct{}{}, byHost: map[string]int{}}
	if opts.Curve != nil && opts.HandshakeRate > 0 {
		a.rate = newHandshakeRate(opts.HandshakeRate, opts.HandshakeBurst, maxRateHosts)
	}
	return a, nil
}

// start begins accepting; the socket owning the acceptor calls it once it
// has stored the acceptor, since serve uses it.
func (a *acceptor) start() {
	a.wg.Add(1)
	go a.acceptLoop()
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
			// spinning, as net/http does, and say so: peers are waiting.
			a.opts.emit(Event{Kind: AcceptFailed, Endpoint: a.ep.String(), Err: unwrapOpError(err)})
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
		if full, why := a.track(nc); full != nil {
			full.Add(1)
			a.opts.emit(Event{Kind: Rejected, Endpoint: a.ep.String(), Peer: nc.RemoteAddr().String(), Err: why})
			nc.Close()
			continue
		}
		if host := hostOf(nc.RemoteAddr()); a.rate != nil && host != "" && !a.rate.allow(host, time.Now()) {
			// Refused before any cryptography: the cheapest answer.
			a.untrack(nc)
			nc.Close()
			a.count.overHandshakeRate.Add(1)
			a.opts.emit(Event{Kind: Rejected, Endpoint: a.ep.String(), Peer: nc.RemoteAddr().String(), Err: ErrOverHandshakeRate})
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

// Errors of refused connections, told to OnEvent with their Rejected
// events so that a listener's owner can say in its log, not only count,
// that peers are being turned away.
var (
	// ErrOverLimit: the listener already held MaxConns connections.
	ErrOverLimit = errors.New("zsock: connection limit reached (MaxConns)")
	// ErrOverHostLimit: the peer's host already held MaxConnsPerHost.
	ErrOverHostLimit = errors.New("zsock: the host's connection limit reached (MaxConnsPerHost)")
)

// track admits a new connection, or returns the counter of the limit it
// is over, MaxConns in all or MaxConnsPerHost for its host, and why.
func (a *acceptor) track(nc net.Conn) (over *atomic.Uint64, why error) {
	host := hostOf(nc.RemoteAddr())
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.ctx.Err() != nil || len(a.conns) >= a.opts.MaxConns:
		return &a.count.overLimit, ErrOverLimit
	case host != "" && a.byHost[host] >= a.opts.MaxConnsPerHost:
		return &a.count.overHostLimit, ErrOverHostLimit
	}
	a.conns[nc] = struct{}{}
	if host != "" {
		a.byHost[host]++
	}
	return nil, nil
}

func (a *acceptor) untrack(nc net.Conn) {
	host := hostOf(nc.RemoteAddr())
	a.mu.Lock()
	delete(a.conns, nc)
	if host != "" {
		if a.byHost[host]--; a.byHost[host] <= 0 {
			delete(a.byHost, host)
		}
	}
	a.mu.Unlock()
}

func (a *acceptor) handle(nc net.Conn) {
	defer a.wg.Done()
	defer a.untrack(nc)
	defer nc.Close()
	peer := nc.RemoteAddr().String()
	c, err := handshake(a.ctx, nc, a.typ, true, a.opts)
	if err != nil {
		if a.ctx.Err() != nil {
			return
		}
		// Each failed handshake is counted once, under the first reason
		// that fits: another mechanism, a refused or unproven CURVE key,
		// too many bytes, a protocol violation, a codec panic, or else
		// (silence, garbage, a wrong socket type) just failed.
		switch {
		case errors.Is(err, ErrMechanismMismatch):
			a.count.mechanismMismatch.Add(1)
		case errors.Is(err, ErrUnauthorized):
			a.count.unauthorized.Add(1)
		case errors.Is(err, ErrBadCrypto):
			a.count.badCrypto.Add(1)
		case errors.Is(err, ErrCryptoBusy):
			a.count.cryptoBusy.Add(1)
		case errors.Is(err, ErrMessageTooLarge):
			a.count.oversized.Add(1)
		case errors.Is(err, errBadCommand):
			a.count.malformed.Add(1)
		case errors.Is(err, errCodecPanic):
			a.count.panics.Add(1)
		default:
			a.count.handshakeFailed.Add(1)
		}
		a.opts.emit(Event{Kind: Rejected, Endpoint: a.ep.String(), Peer: peer, CurveKey: provenKey(err), Err: err})
		return
	}
	if a.budget != nil {
		c.budget, c.share = a.budget, a.budget.join(c.host)
		defer a.budget.leave(c.share)
	}
	defer c.releaseBuffers()
	a.count.active.Add(1)
	defer a.count.active.Add(-1)
	a.opts.emit(Event{Kind: Connected, Endpoint: a.ep.String(), Peer: peer, CurveKey: c.peer.CurveKey})
	err = a.serveContained(c)
	if a.ctx.Err() != nil {
		return
	}
	switch {
	case isClosedErr(err):
		a.opts.emit(Event{Kind: Disconnected, Endpoint: a.ep.String(), Peer: peer, CurveKey: c.peer.CurveKey, Err: err})
		return
	case errors.Is(err, ErrMessageTooLarge):
		a.count.oversized.Add(1)
	case errors.Is(err, errCodecPanic):
		a.count.panics.Add(1)
	case errors.Is(err, ErrBadCrypto):
		a.count.badCrypto.Add(1)
	case errors.Is(err, errBadCommand):
		a.count.malformed.Add(1)
	case errors.Is(err, ErrPeerSilent):
		a.count.silent.Add(1)
	case errors.Is(err, errOverBudget):
		a.count.overBudget.Add(1)
	case errors.Is(err, ErrOverSubscribed):
		// counted by the publisher (PublisherStats.OverSubscribed)
	default: // a network error such as a reset: the peer left
		a.opts.emit(Event{Kind: Disconnected, Endpoint: a.ep.String(), Peer: peer, CurveKey: c.peer.CurveKey, Err: err})
		return
	}
	a.opts.emit(Event{Kind: Rejected, Endpoint: a.ep.String(), Peer: peer, CurveKey: c.peer.CurveKey, Err: err})
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
	if a.ipc != nil {
		a.ipc.remove()
	}
	return err
}
