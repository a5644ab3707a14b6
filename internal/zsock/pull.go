package zsock

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
)

// Message is one received ZeroMQ message.
type Message struct {
	Frames [][]byte
	// Peer is the connection it came on; shared by all its messages.
	Peer *Peer

	// held is what the message holds of its socket's receive budget,
	// given back when Recv returns it.
	held  int64
	share *hostShare
	// queued counts its connection's messages in the queue not yet
	// handled: while any is, the connection queues behind it rather than
	// call Serve's handler itself, so its messages keep their order.
	queued *atomic.Int32
}

// Puller is the listening side of PULL: it accepts any number of PUSH
// peers, each served by its own goroutine with buffered reads, and merges
// their messages into one queue that Recv reads. When the queue is full the
// connections stop reading and TCP pushes back on the peers, as libzmq's
// receive high-water mark does.
type Puller struct {
	a    *acceptor
	out  chan Message
	opts Options

	// leftover holds messages read from a connection while the socket was
	// closing, when the queue had no room: Recv returns them after the
	// queue, so Close never discards what was already read.
	mu       sync.Mutex
	leftover []Message

	// inline, while Serve runs, is its handler: connections call it
	// themselves instead of queueing (see Serve).
	inline atomic.Pointer[inlineHandler]
}

// inlineHandler is Serve's handler, called by one connection at a time.
type inlineHandler struct {
	mu       sync.Mutex
	fn       func(Message)
	panicked chan any // capacity 1: a panic in fn on a connection's goroutine, for Serve to raise
	broken   bool     // fn panicked: never called again (under mu)
}

// ListenPull binds a PULL socket to ep (parse it with ParseEndpoint(s, true)).
// A port already in use is an error here.
func ListenPull(ep Endpoint, opts Options) (*Puller, error) {
	opts = opts.withDefaults()
	p := &Puller{out: make(chan Message, opts.RecvQueue), opts: opts}
	a, err := listen(ep, zmq4.Pull, opts, p.serve)
	if err != nil {
		return nil, err
	}
	p.a = a
	a.budget = newRecvBudget(opts.RecvBudget, opts.RecvBudgetPerHost, a.ctx.Done())
	a.start()
	return p, nil
}

// Endpoint returns an endpoint peers can connect to, with the real port
// when the socket was bound to port 0 or "*".
func (p *Puller) Endpoint() string { return p.a.endpoint() }

// Recv returns the next message from any peer. It waits until one arrives,
// ctx ends, or the socket closes. After Close it still returns every
// message read before, then ErrClosed.
func (p *Puller) Recv(ctx context.Context) (Message, error) {
	select {
	case m := <-p.out:
		m.queued.Add(-1)
		return p.handOn(m), nil
	default:
	}
	select {
	case m := <-p.out:
		m.queued.Add(-1)
		return p.handOn(m), nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	case <-p.a.ctx.Done():
		return p.remaining()
	}
}

// Serve calls fn with each message from any peer until ctx ends or the
// socket closes, then returns the reason (ctx's error, or ErrClosed); it
// is what a loop around Recv does, for less. fn is called by the
// connection that read the message, on its own goroutine, and never by
// two at once: each message then costs no hand-off to another goroutine
// (no channel, no wake-up of a sleeping thread), which with many peers
// sending small messages is much of what receiving one costs. A
// connection waits for fn, and stops reading meanwhile (TCP pushes back
// on its peer), as it waits for room in the queue when Recv is used.
//
// When Serve returns, fn is not running and will not be called again:
// messages read from then on wait for Recv, as before Serve. Serve and
// Recv must not be used at the same time. A panic in fn is raised by
// Serve, on its caller's goroutine, as it would be from a loop around
// Recv: a handler that stopped half way may hold its own locks or have
// half-updated its state, so it is not called again, and the connection
// that called it is dropped.
func (p *Puller) Serve(ctx context.Context, fn func(Message)) error {
	h := &inlineHandler{fn: fn, panicked: make(chan any, 1)}
	p.inline.Store(h)
	defer func() {
		// Once this holds the lock, no connection is inside fn, and any
		// that waits for it finds Serve gone and queues its message.
		h.mu.Lock()
		p.inline.Store(nil)
		h.mu.Unlock()
	}()
	for {
		// Messages queued before Serve began, or by connections that
		// had not yet seen it. A connection with messages in the queue
		// queues the next ones behind them (Message.queued), so each
		// peer's messages are handled in the order it sent them.
		select {
		case v := <-h.panicked:
			panic(v)
		case m := <-p.out:
			h.call(p.handOn(m))
			m.queued.Add(-1) // only now may its connection go inline
		case <-ctx.Done():
			return ctx.Err()
		case <-p.a.ctx.Done():
			return ErrClosed
		}
	}
}

// call runs the handler on m, one message at a time.
func (h *inlineHandler) call(m Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.broken {
		panic(<-h.panicked) // raised here if Serve's select did not take it first
	}
	h.fn(m)
}

// handInline gives m to Serve's handler, if Serve runs; it reports
// whether it did.
func (p *Puller) handInline(m Message) bool {
	h := p.inline.Load()
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p.inline.Load() != h || h.broken {
		return false // Serve ended while this waited, or is raising fn's panic
	}
	defer func() {
		if v := recover(); v != nil {
			h.broken = true
			h.panicked <- v        // the first panic; none after it: broken
			panic(errHandlerPanic) // drops this connection (serveContained)
		}
	}()
	h.fn(p.handOn(m))
	return true
}

// errHandlerPanic ends a connection whose message's handler panicked;
// Serve raises the panic itself.
var errHandlerPanic = errors.New("zsock: Serve's handler panicked")

// handOn gives back what m held of the receive budget: from here on its
// memory is the caller's.
func (p *Puller) handOn(m Message) Message {
	p.a.budget.release(m.share, m.held)
	m.held = 0
	return m
}

func (p *Puller) remaining() (Message, error) {
	select {
	case m := <-p.out:
		m.queued.Add(-1)
		return p.handOn(m), nil
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.leftover) == 0 {
		return Message{}, ErrClosed
	}
	m := p.leftover[0]
	p.leftover = p.leftover[1:]
	return p.handOn(m), nil
}

// Stats returns what the socket has seen from its peers.
func (p *Puller) Stats() ListenerStats {
	st := p.a.count.snapshot()
	st.Buffered = uint64(p.a.budget.inUse())
	return st
}

// Close stops accepting, closes every connection and waits for their
// goroutines. Messages already read stay for Recv. Safe to call twice.
func (p *Puller) Close() error {
	err := p.a.close()
	if isClosedErr(err) {
		return nil
	}
	return err
}

func (p *Puller) serve(c *conn) error {
	peer := &c.peer
	queued := new(atomic.Int32)
	for {
		frames, isCommand, err := c.readMessage(p.opts.MaxMessageSize)
		if err != nil {
			return err
		}
		if isCommand {
			c.finishMessage(false)
			if _, _, err := c.handleCommand(frames[0]); err != nil {
				return err
			}
			continue
		}
		p.a.count.messages.Add(1)
		p.a.count.bytes.Add(uint64(frameBytes(frames)))
		m := Message{Frames: frames, Peer: peer, held: c.finishMessage(true), share: c.share, queued: queued}
		if queued.Load() == 0 && p.handInline(m) {
			continue
		}
		queued.Add(1)
		select {
		case p.out <- m:
		case <-p.a.ctx.Done():
			p.mu.Lock()
			p.leftover = append(p.leftover, m)
			p.mu.Unlock()
			return nil
		}
	}
}

func frameBytes(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n
}
