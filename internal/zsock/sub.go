package zsock

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
)

// Subscriber is the connecting side of SUB. It keeps a connection to each
// publisher endpoint, merges what they send into one queue, and after a
// publisher restarts re-dials and sends its subscriptions again by itself.
// Filtering happens at the publisher; the subscriber checks prefixes again
// so that a publisher which does not filter still delivers only what was
// asked for.
type Subscriber struct {
	d      *dialer
	opts   Options
	out    chan Message
	budget *recvBudget // what messages waiting for Recv may hold

	mu     sync.Mutex
	topics map[string]int // counted, as in libzmq
	conns  map[*conn]struct{}
	prefix atomic.Pointer[[]string]

	received, filtered atomic.Uint64
	closeOnce          sync.Once
}

// SubscriberStats counts a subscriber's traffic.
type SubscriberStats struct {
	// Received counts messages queued for Recv; Filtered counts messages
	// a publisher sent that matched no subscription.
	Received, Filtered uint64
	// Buffered is the receive budget in use now: bytes of messages read,
	// or being read, and not yet returned by Recv.
	Buffered  uint64
	Endpoints []EndpointStatus
}

// DialSub starts a SUB socket connecting to eps, subscribed to topics (a
// prefix each; "" is everything). It returns at once.
func DialSub(eps []Endpoint, topics []string, opts Options) *Subscriber {
	opts = opts.withDefaults()
	s := &Subscriber{opts: opts, out: make(chan Message, opts.RecvQueue), topics: map[string]int{}, conns: map[*conn]struct{}{}}
	for _, t := range topics {
		s.topics[t]++
	}
	s.storePrefixes()
	s.d = newDialer(eps, zmq4.Sub, opts, s.serve)
	// A publisher is a peer like any other: what it sends waits for Recv
	// within a receive budget, as on a PULL socket, not RecvQueue times the
	// maximum message size.
	s.budget = newRecvBudget(opts.RecvBudget, opts.RecvBudgetPerHost, s.d.ctx.Done())
	s.d.start()
	return s
}

// Subscribe adds a prefix subscription on every connection, now and after
// reconnects.
func (s *Subscriber) Subscribe(topic string) { s.change(true, topic) }

// Unsubscribe cancels one earlier Subscribe of the same prefix.
func (s *Subscriber) Unsubscribe(topic string) { s.change(false, topic) }

// change counts a Subscribe or Unsubscribe locally, as libzmq's SUB does,
// and tells the publishers only when a topic's count goes from 0 to 1
// (subscribe) or from 1 to 0 (cancel): they see each topic once, so one
// cancel there always undoes it.
func (s *Subscriber) change(subscribe bool, topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if subscribe {
		if s.topics[topic]++; s.topics[topic] > 1 {
			return
		}
	} else {
		switch s.topics[topic] {
		case 0:
			return
		case 1:
			delete(s.topics, topic)
		default:
			s.topics[topic]--
			return
		}
	}
	s.storePrefixes()
	for c := range s.conns {
		// A failed write means the connection is going; its reader will
		// notice, and the next connection gets the full set.
		c.sendMessage([][]byte{subscriptionMessage(subscribe, topic)})
	}
}

func (s *Subscriber) storePrefixes() {
	prefixes := make([]string, 0, len(s.topics))
	for t := range s.topics {
		prefixes = append(prefixes, t)
	}
	s.prefix.Store(&prefixes)
}

func subscriptionMessage(subscribe bool, topic string) []byte {
	b := make([]byte, 1+len(topic))
	if subscribe {
		b[0] = 1
	}
	copy(b[1:], topic)
	return b
}

// Recv returns the next message from any publisher. It waits until one
// arrives, ctx ends, or the socket closes (ErrClosed).
func (s *Subscriber) Recv(ctx context.Context) (Message, error) {
	select {
	case m := <-s.out:
		return s.handOn(m), nil
	default:
	}
	select {
	case m := <-s.out:
		return s.handOn(m), nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	case <-s.d.ctx.Done():
		return Message{}, ErrClosed
	}
}

// handOn gives back what m held of the receive budget.
func (s *Subscriber) handOn(m Message) Message {
	s.budget.release(m.share, m.held)
	m.held = 0
	return m
}

// Live reports how many publisher endpoints have a connection up now.
func (s *Subscriber) Live() int {
	n := 0
	for _, st := range s.d.statuses() {
		if st.Connected {
			n++
		}
	}
	return n
}

// Stats returns the subscriber's counters and each endpoint's state.
func (s *Subscriber) Stats() SubscriberStats {
	return SubscriberStats{Received: s.received.Load(), Filtered: s.filtered.Load(), Buffered: uint64(s.budget.inUse()), Endpoints: s.d.statuses()}
}

// Close stops dialling, closes every connection and waits for its
// goroutines. Safe to call twice.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(s.d.stop)
	return nil
}

func (s *Subscriber) serve(_ int, c *conn) {
	s.mu.Lock()
	for t := range s.topics {
		if err := c.sendMessage([][]byte{subscriptionMessage(true, t)}); err != nil {
			s.mu.Unlock()
			return
		}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.budget, c.share = s.budget, s.budget.join(c.host)
	defer func() {
		s.budget.leave(c.share)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	for {
		frames, isCommand, err := c.readMessage(s.opts.MaxMessageSize)
		if err != nil {
			return
		}
		if isCommand || !hasPrefixAny(frames[0], *s.prefix.Load()) {
			c.finishMessage(false)
			if !isCommand {
				s.filtered.Add(1)
			} else if _, _, err := c.handleCommand(frames[0]); err != nil {
				return
			}
			continue
		}
		s.received.Add(1)
		select {
		case s.out <- Message{Frames: frames, Peer: &c.peer, held: c.finishMessage(true), share: c.share}:
		case <-s.d.ctx.Done():
			return
		}
	}
}
