package zsock

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
)

// Publisher is the listening side of PUB. Each subscriber gets its own
// bounded queue and writer goroutine; a message is matched against the
// subscriber's topic prefixes before it is queued, so messages a
// subscriber did not ask for never take room in its queue. When a queue is
// full the message is dropped for that subscriber alone and counted:
// Publish never waits, and a slow or dead subscriber slows nobody else.
//
// Subscriptions arrive as ZMTP 3.0 messages ("\x01topic" subscribes,
// "\x00topic" cancels) or as ZMTP 3.1 SUBSCRIBE and CANCEL commands. As in
// libzmq they are counted: subscribing twice needs two cancels.
type Publisher struct {
	a    *acceptor
	opts Options

	mu   sync.RWMutex
	subs map[*subscriber]struct{}

	published, dropped atomic.Uint64
}

type subscriber struct {
	c       *conn
	q       chan [][]byte
	topics  atomic.Pointer[[]string] // sorted prefixes; read lock-free by Publish
	counts  map[string]int           // owned by the subscriber's reader goroutine
	dropped atomic.Uint64
	sent    atomic.Uint64
}

// PublisherStats counts a publisher's traffic.
type PublisherStats struct {
	ListenerStats
	// Published counts Publish calls.
	Published uint64
	// Dropped counts message copies dropped because a subscriber's queue
	// was full, over all subscribers past and present.
	Dropped uint64
	// Subscribers lists the subscribers connected now.
	Subscribers []SubscriberStatus
}

// SubscriberStatus is one connected subscriber.
type SubscriberStatus struct {
	Peer   string
	Topics []string
	// Sent and Dropped count messages written to it and dropped for it.
	Sent, Dropped uint64
	// Queued is the number of messages waiting in its queue.
	Queued int
}

// ListenPub binds a PUB socket to ep.
func ListenPub(ep Endpoint, opts Options) (*Publisher, error) {
	opts = opts.withDefaults()
	p := &Publisher{opts: opts, subs: map[*subscriber]struct{}{}}
	a, err := listen(ep, zmq4.Pub, opts, p.serve)
	if err != nil {
		return nil, err
	}
	p.a = a
	a.start()
	return p, nil
}

// Endpoint returns an endpoint subscribers can connect to.
func (p *Publisher) Endpoint() string { return p.a.endpoint() }

// Publish queues the message for every subscriber whose subscriptions
// match a prefix of its first frame. It never blocks. The frames are
// shared by the subscribers' queues and must not be modified afterwards.
// It returns how many subscribers the message was queued for.
func (p *Publisher) Publish(frames [][]byte) int {
	p.published.Add(1)
	var topic []byte
	if len(frames) > 0 {
		topic = frames[0]
	}
	queued := 0
	p.mu.RLock()
	for s := range p.subs {
		if !s.matches(topic) {
			continue
		}
		select {
		case s.q <- frames:
			queued++
		default:
			s.dropped.Add(1)
			p.dropped.Add(1)
		}
	}
	p.mu.RUnlock()
	return queued
}

// Subscribers returns the number of subscribers connected now.
func (p *Publisher) Subscribers() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.subs)
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	st := PublisherStats{ListenerStats: p.a.count.snapshot(), Published: p.published.Load(), Dropped: p.dropped.Load()}
	p.mu.RLock()
	for s := range p.subs {
		st.Subscribers = append(st.Subscribers, SubscriberStatus{
			Peer: s.c.peer.Addr, Topics: *s.topics.Load(),
			Sent: s.sent.Load(), Dropped: s.dropped.Load(), Queued: len(s.q),
		})
	}
	p.mu.RUnlock()
	sort.Slice(st.Subscribers, func(i, j int) bool { return st.Subscribers[i].Peer < st.Subscribers[j].Peer })
	return st
}

// Close stops accepting, closes every subscriber and waits for their
// goroutines. Queued messages are discarded. Safe to call twice.
func (p *Publisher) Close() error {
	err := p.a.close()
	if isClosedErr(err) {
		return nil
	}
	return err
}

func (s *subscriber) matches(topic []byte) bool {
	for _, prefix := range *s.topics.Load() {
		if len(prefix) <= len(topic) && string(topic[:len(prefix)]) == prefix {
			return true
		}
	}
	return false
}

// change applies one subscription change and publishes the new topic list.
func (s *subscriber) change(subscribe bool, topic string) {
	if subscribe {
		s.counts[topic]++
	} else if s.counts[topic] > 0 {
		s.counts[topic]--
		if s.counts[topic] == 0 {
			delete(s.counts, topic)
		}
	} else {
		return // cancelling what was never subscribed: nothing to do
	}
	topics := make([]string, 0, len(s.counts))
	for t := range s.counts {
		topics = append(topics, t)
	}
	// Shortest first: the empty prefix, matching everything, is tried first.
	sort.Slice(topics, func(i, j int) bool {
		if len(topics[i]) != len(topics[j]) {
			return len(topics[i]) < len(topics[j])
		}
		return topics[i] < topics[j]
	})
	s.topics.Store(&topics)
}

// serve registers the subscriber, runs its writer, and reads its
// subscriptions until it leaves.
func (p *Publisher) serve(c *conn) error {
	s := &subscriber{c: c, q: make(chan [][]byte, p.opts.SendQueue), counts: map[string]int{}}
	s.topics.Store(&[]string{})
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	writerDone, gone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(writerDone)
		p.writeLoop(s, gone)
	}()
	err := p.readLoop(s)
	p.mu.Lock()
	delete(p.subs, s)
	p.mu.Unlock()
	close(gone)
	c.close() // stops the writer if it is blocked writing
	<-writerDone
	return err
}

func (p *Publisher) readLoop(s *subscriber) error {
	// Subscription messages are tiny; a peer sending more is misbehaving.
	const maxSubscription = 64 << 10
	for {
		frames, isCommand, err := s.c.readMessage(min(p.opts.MaxMessageSize, maxSubscription))
		if err != nil {
			return err
		}
		if isCommand {
			name, body, err := s.c.handleCommand(frames[0])
			if err != nil {
				return err
			}
			switch name {
			case "SUBSCRIBE":
				s.change(true, string(body))
			case "CANCEL":
				s.change(false, string(body))
			}
			continue
		}
		// ZMTP 3.0: a one-frame message whose first byte is 1 or 0. Like
		// libzmq's PUB, ignore anything else a subscriber sends, but count it.
		if len(frames) != 1 || len(frames[0]) == 0 || frames[0][0] > 1 {
			p.a.count.malformed.Add(1)
			continue
		}
		s.change(frames[0][0] == 1, string(frames[0][1:]))
	}
}

func (p *Publisher) writeLoop(s *subscriber, gone <-chan struct{}) {
	var bw batchWriter
	for {
		bw.reset()
		select {
		case m := <-s.q:
			bw.add(m)
		case <-gone:
			return
		}
	more:
		for bw.size() < writeBufferSize {
			select {
			case m := <-s.q:
				bw.add(m)
			default:
				break more
			}
		}
		n, err := bw.writeTo(s.c, p.opts.WriteTimeout)
		s.sent.Add(uint64(n))
		if err != nil {
			// Whatever was not written is lost for this subscriber.
			s.dropped.Add(uint64(bw.messages() - n))
			p.dropped.Add(uint64(bw.messages() - n))
			s.c.close()
			return
		}
	}
}

// hasPrefixAny is used by subscribers to filter locally.
func hasPrefixAny(topic []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(string(topic), p) {
			return true
		}
	}
	return false
}
