package zsock

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
)

// Pusher is the connecting side of PUSH: it keeps a connection to each of
// its endpoints (dialled in the background, re-dialled when lost) and hands
// each message to exactly one of them, whichever connection's writer is
// free first. A connection that dies gives its unwritten messages back, and
// they go out on another.
//
//	Send ──▶ queue (SendQueue msgs) ──▶ writer of conn A ──▶ endpoint A
//	              ▲                 └─▶ writer of conn B ──▶ endpoint B
//	              └── retry (unwritten messages of a dead conn, sent first)
//
// Each message is an Outgoing: the writer routes it to its endpoint just
// before encoding it, unroutes it when the write fails, and finishes it
// once, written or abandoned.
//
// Messages written to a connection's kernel buffer just before its peer
// dies are lost, as with libzmq; the shipper's sequence numbers make that
// loss visible at the collector.
type Pusher struct {
	d    *dialer
	opts Options
	in   chan Outgoing
	done chan struct{} // closed by Close

	mu         sync.Mutex
	retry      []Outgoing
	retryReady chan struct{} // capacity 1: "retry is not empty"
	idle       chan struct{} // closed when pending drops to 0
	pending    atomic.Int64  // accepted by Send, not yet written or abandoned

	sent, sentBytes, requeued, abandoned atomic.Uint64
	closeOnce                            sync.Once
}

// PusherStats counts a pusher's traffic.
type PusherStats struct {
	// Sent and SentBytes count messages written whole to a connection,
	// and their encoded bytes.
	Sent, SentBytes uint64
	// Pending is the number of messages accepted by Send not yet written.
	Pending int64
	// Requeued counts messages taken back from a connection that died
	// before writing them, to be sent on another.
	Requeued uint64
	// Abandoned counts messages still pending when the pusher closed.
	Abandoned uint64
	// Endpoints has one entry per endpoint, in the order given.
	Endpoints []EndpointStatus
}

// DialPush starts a PUSH socket connecting to eps. It returns at once; the
// connections are made in the background.
func DialPush(eps []Endpoint, opts Options) *Pusher {
	opts = opts.withDefaults()
	p := &Pusher{
		opts:       opts,
		in:         make(chan Outgoing, opts.SendQueue),
		done:       make(chan struct{}),
		retryReady: make(chan struct{}, 1),
	}
	p.d = newDialer(eps, zmq4.Push, opts, p.serve)
	p.d.start()
	return p
}

// Send queues one message for exactly one connection. It waits only while
// the queue is full (no connection is taking messages): until there is
// room, ctx ends, or the pusher closes. Once Send has accepted it (nil
// error) the message will be finished exactly once; its frames must not
// be modified until then.
func (p *Pusher) Send(ctx context.Context, m Outgoing) error {
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	p.pending.Add(1)
	select {
	case p.in <- m:
		return nil
	default:
	}
	select {
	case p.in <- m:
		return nil
	case <-ctx.Done():
		p.finish(1)
		return ctx.Err()
	case <-p.done:
		p.finish(1)
		return ErrClosed
	}
}

// TrySend queues one message if there is room now and reports whether it did.
func (p *Pusher) TrySend(m Outgoing) bool {
	p.pending.Add(1)
	select {
	case p.in <- m:
		return true
	default:
		p.finish(1)
		return false
	}
}

// Flush waits until every message accepted by Send has been written to a
// connection, or ctx ends; then the error says how many are still pending.
func (p *Pusher) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		if p.pending.Load() <= 0 {
			p.mu.Unlock()
			return nil
		}
		if p.idle == nil {
			p.idle = make(chan struct{})
		}
		idle := p.idle
		p.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("zsock: %d messages not yet written: %w", p.pending.Load(), ctx.Err())
		case <-p.done:
			return ErrClosed
		}
	}
}

// finish marks n pending messages as written or given up.
func (p *Pusher) finish(n int) {
	if p.pending.Add(-int64(n)) == 0 {
		p.mu.Lock()
		if p.idle != nil && p.pending.Load() == 0 {
			close(p.idle)
			p.idle = nil
		}
		p.mu.Unlock()
	}
}

// Live reports how many endpoints have a connection up now.
func (p *Pusher) Live() int {
	n := 0
	for _, s := range p.d.statuses() {
		if s.Connected {
			n++
		}
	}
	return n
}

// Stats returns the pusher's counters and each endpoint's state.
func (p *Pusher) Stats() PusherStats {
	return PusherStats{
		Sent: p.sent.Load(), SentBytes: p.sentBytes.Load(), Pending: p.pending.Load(),
		Requeued: p.requeued.Load(), Abandoned: p.abandoned.Load(),
		Endpoints: p.d.statuses(),
	}
}

// Close stops dialling, closes every connection, and gives up on messages
// not yet written (counted in Abandoned, and each finished as not
// written). Call Flush first to wait for them. Close returns once every goroutine of the pusher has ended; it is
// safe to call more than once.
func (p *Pusher) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		p.d.stop()
		p.mu.Lock()
		left := p.retry
		p.retry = nil
		p.mu.Unlock()
		for range len(p.in) {
			left = append(left, <-p.in)
		}
		for _, m := range left {
			m.Finish(false)
		}
		p.abandoned.Add(uint64(len(left)))
		p.finish(len(left))
	})
	return nil
}

// serve runs one connection: a reader that answers PINGs and notices the
// peer leaving, and a writer that drains the shared queue.
func (p *Pusher) serve(endpoint int, c *conn) {
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer c.close() // a dead reader means a dead connection: stop the writer
		for {
			// A PULL peer sends only commands: a large message from it is
			// hostile, and would cost the app its allocation.
			frames, isCommand, err := c.readMessage(min(p.opts.MaxMessageSize, maxControlMessage))
			if err != nil {
				return
			}
			if isCommand {
				if _, _, err := c.handleCommand(frames[0]); err != nil {
					return
				}
			}
			// A PULL peer never sends data; ignore it rather than fail.
		}
	}()
	p.writeLoop(endpoint, c, readerDone)
	c.close()
	<-readerDone
}

func (p *Pusher) writeLoop(endpoint int, c *conn, dead <-chan struct{}) {
	var bw batchWriter
	var batch []Outgoing
	for {
		bw.reset()
		clear(batch)
		batch = batch[:0]
		// Messages given back by a dead connection go first.
		select {
		case <-p.retryReady:
			batch = p.takeRetry(batch)
		default:
		}
		if len(batch) == 0 {
			select {
			case <-p.retryReady:
				batch = p.takeRetry(batch)
			case m := <-p.in:
				batch = append(batch, m)
			case <-dead:
				return
			case <-p.done:
				return
			}
		}
		if len(batch) == 0 {
			continue // another writer took the retries
		}
		for _, m := range batch {
			m.Route(endpoint)
			bw.add(m.Frames())
		}
		// Coalesce whatever else is queued, up to one write buffer.
	more:
		for bw.size() < writeBufferSize {
			select {
			case m := <-p.in:
				batch = append(batch, m)
				m.Route(endpoint)
				bw.add(m.Frames())
			default:
				break more
			}
		}
		n, err := bw.writeTo(c, p.opts.WriteTimeout)
		if n > 0 {
			p.sent.Add(uint64(n))
			p.sentBytes.Add(uint64(bw.ends[n-1]))
			for _, m := range batch[:n] {
				m.Finish(true)
			}
			p.finish(n)
		}
		if err != nil {
			for i := len(batch) - 1; i >= n; i-- {
				batch[i].Unroute(endpoint)
			}
			p.giveBack(batch[n:])
			c.close()
			return
		}
	}
}

// giveBack puts messages a dead connection did not write in front of the
// queue, so the next free writer sends them first and in order.
func (p *Pusher) giveBack(msgs []Outgoing) {
	if len(msgs) == 0 {
		return
	}
	p.requeued.Add(uint64(len(msgs)))
	p.mu.Lock()
	p.retry = append(append([]Outgoing(nil), msgs...), p.retry...)
	p.mu.Unlock()
	select {
	case p.retryReady <- struct{}{}:
	default:
	}
}

func (p *Pusher) takeRetry(batch []Outgoing) []Outgoing {
	p.mu.Lock()
	defer p.mu.Unlock()
	batch = append(batch, p.retry...)
	p.retry = nil
	return batch
}
