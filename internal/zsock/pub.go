package zsock

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
)

// Publisher is the listening side of PUB. Each subscriber gets its own
// bounded queue and writer goroutine; a message is matched against the
// subscribers' topic prefixes before it is queued, so messages a
// subscriber did not ask for never take room in its queue. When a queue is
// full the message is dropped for that subscriber alone and counted:
// Publish never waits, and a slow or dead subscriber slows nobody else.
//
//	Publish ──match (subscriberTrie)──▶ sendQueue ──writer──▶ subscriber
//	                                        │ full: count, SendQueueBytes or
//	                                        ▼ PublisherQueueBytes reached
//	                                     dropped (counted per subscriber and in total)
//
// Subscriptions arrive as ZMTP 3.0 messages ("\x01topic" subscribes,
// "\x00topic" cancels) or as ZMTP 3.1 SUBSCRIBE and CANCEL commands. As in
// libzmq they are counted: subscribing twice needs two cancels. As in
// libzmq's mtrie, all subscribers' subscriptions are kept in one prefix
// trie, so applying one costs the length of its topic and matching a
// topic costs its length and the subscribers it matches, however many
// subscribers are connected and whatever they hold. A subscriber asking
// for more than Options.MaxSubscriptions or Options.MaxSubscriptionBytes,
// or for more than is left of Options.MaxPublisherSubscriptionBytes, is
// disconnected and counted.
type Publisher struct {
	a      *acceptor
	opts   Options
	budget byteBudget // bytes all subscribers' queues keep alive

	// mu guards subs and index. Publish holds it while it matches and
	// queues, so once a subscriber is out of index no message can reach
	// its queue. Exclusive, not shared: match marks the subscribers it
	// visits (the collector publishes from two goroutines), and
	// subscription changes, which also take it, are rare next to Publish.
	mu    sync.Mutex
	subs  map[*subscriber]struct{}
	index subscriberTrie

	// changes wakes AwaitSubscriptions when a subscriber connects, leaves
	// or changes its subscriptions; its lock is apart from mu, so Publish
	// never touches it.
	changes changeSignal

	// due lists the subscribers PublishEach queued for in the run it is
	// handling, to wake each writer once when the run is queued (guarded
	// by mu, like subscriber.due).
	due []*subscriber
	// offer and queuedFor are queueSameTopic's, kept between calls
	// (guarded by mu): the messages it offers, and which were queued.
	offer     []ownedMessage
	queuedFor []bool

	published, sent, dropped, overSubscribed atomic.Uint64
}

type subscriber struct {
	c *conn
	q *sendQueue

	// mu guards topics, written by the subscriber's reader goroutine and
	// read by Stats. A subscriber takes it before the publisher's mu.
	mu     sync.Mutex
	topics subTrie

	// matched is the subscriberTrie.generation of the last match that
	// visited the subscriber (guarded by the publisher's mu).
	matched uint64
	// due is set while the subscriber is in the publisher's due list
	// (guarded by the publisher's mu).
	due bool

	sent atomic.Uint64 // its queue counts what it drops
}

// ErrOverSubscribed: a subscriber asked for more subscriptions, or more
// topic bytes, than Options.MaxSubscriptions and
// Options.MaxSubscriptionBytes allow, or for more than is left of
// Options.MaxPublisherSubscriptionBytes; it is disconnected. The error
// names the limit.
var ErrOverSubscribed = errors.New("zsock: subscriber over a subscription limit")

// PublisherStats counts a publisher's traffic.
type PublisherStats struct {
	ListenerStats
	// Published counts Publish calls.
	Published uint64
	// Sent counts message copies written to subscribers, past and present.
	Sent uint64
	// Dropped counts message copies matched for a subscriber and never
	// written to it: refused by its full queue, lost when a write failed,
	// or still queued when it left or the publisher closed. Over all
	// subscribers past and present.
	Dropped uint64
	// OverSubscribed counts subscribers disconnected for asking more than
	// Options.MaxSubscriptions or Options.MaxSubscriptionBytes, or more
	// than was left of Options.MaxPublisherSubscriptionBytes.
	OverSubscribed uint64
	// SubscriptionBytes is what all subscribers' subscriptions keep alive
	// now, as Options.MaxPublisherSubscriptionBytes counts it.
	SubscriptionBytes int64
	// QueuedBytes is what all subscribers' queues keep alive now (bounded
	// by Options.PublisherQueueBytes).
	QueuedBytes int64
	// Subscribers lists the subscribers connected now. One that hangs up
	// stays listed until every message matched for it is counted in Sent
	// or Dropped and its queue's bytes are given back.
	Subscribers []SubscriberStatus
}

// SubscriberStatus is one connected subscriber.
type SubscriberStatus struct {
	Peer string
	// Topics lists its distinct subscriptions, in byte order.
	Topics []string
	// Sent and Dropped count messages written to it and dropped for it.
	Sent, Dropped uint64
	// Queued is the number of messages waiting in its queue, QueuedBytes
	// what they and the batch being written to it keep alive (bounded by
	// Options.SendQueueBytes).
	Queued      int
	QueuedBytes int64
}

// ListenPub binds a PUB socket to ep.
func ListenPub(ep Endpoint, opts Options) (*Publisher, error) {
	p := newPublisher(opts.withDefaults())
	a, err := listen(ep, zmq4.Pub, p.opts, p.serve)
	if err != nil {
		return nil, err
	}
	p.a = a
	a.start()
	return p, nil
}

// newPublisher returns a publisher with opts (defaults applied) and no
// listener yet.
func newPublisher(opts Options) *Publisher {
	p := &Publisher{opts: opts, subs: map[*subscriber]struct{}{}}
	p.budget.limit = opts.PublisherQueueBytes
	p.index.limit = opts.MaxPublisherSubscriptionBytes
	return p
}

// Endpoint returns an endpoint subscribers can connect to.
func (p *Publisher) Endpoint() string { return p.a.endpoint() }

// Publish queues the message for every subscriber whose subscriptions
// match a prefix of its first frame. It never blocks. When at least one
// subscriber queues the message, Publish copies it first (once, shared by
// all the queues), so the caller may reuse frames and the buffers they
// point into as soon as Publish returns. It returns how many subscribers
// the message was queued for.
func (p *Publisher) Publish(frames [][]byte) int {
	p.published.Add(1)
	m := ownedMessage{frames: frames, cost: messageCost(frames)}
	queued := 0
	p.mu.Lock()
	p.index.match(topicOf(frames), func(s *subscriber) {
		if s.q.push(&m) {
			queued++
		} else {
			p.dropped.Add(1)
		}
	})
	p.mu.Unlock()
	return queued
}

// PublishEach publishes each of msgs in turn as Publish would: the same
// matching, bounds, copy and counting, and each subscriber gets its
// messages in order. (Only the publisher's budget, shared by all queues,
// may go to subscribers in another order when it runs out: messages with
// one topic are queued subscriber by subscriber.) It returns how many of msgs were queued for at least
// one subscriber.
//
// It is for a caller with many messages at once (the collector, with a
// received batch's entries): it takes the publisher's lock once per run of
// up to publishRun messages instead of once per message, matches
// consecutive messages with the same topic once and locks each
// subscriber's queue once for them, and wakes each
// subscriber's writer once per run, so that the writer finds the run
// queued and writes it with one system call instead of waking for the
// first message and writing a few at a time.
func (p *Publisher) PublishEach(msgs [][][]byte) int {
	return p.publishEach(msgs, nil)
}

// PublishShared publishes msgs as PublishEach does, without copying them
// for subscribers that take much of them: their queues keep msgs' frames
// as they are. The caller promises that msgs, their frames and the bytes
// they point into are never written again, and that all of it keeps at
// most pinned bytes alive (a received batch: its frames' capacity, and
// what the caller allocated for msgs).
//
// Each subscriber's queue that keeps any of msgs uncopied is charged
// pinned, in full, against its bounds (Options.SendQueueBytes and
// Options.PublisherQueueBytes) from the first of them it admits until its
// writer is done with the last: so a queue holding one 170-byte entry of
// a 4 MiB batch counts 4 MiB. Where that charge does not fit, or the
// subscriber took under a quarter of the last block offered to it, a
// message is copied as PublishEach copies it.
func (p *Publisher) PublishShared(msgs [][][]byte, pinned int64) int {
	return p.publishEach(msgs, &sharedBlock{cost: pinned})
}

// publishEach is PublishEach, and PublishShared with a block.
func (p *Publisher) publishEach(msgs [][][]byte, block *sharedBlock) int {
	p.published.Add(uint64(len(msgs)))
	reached := 0
	for len(msgs) > 0 {
		run := msgs[:min(len(msgs), publishRun)]
		msgs = msgs[len(run):]
		p.mu.Lock()
		for len(run) > 0 {
			same := leadingSameTopic(run)
			run = run[len(same):]
			reached += p.queueSameTopic(same, block)
		}
		for i, s := range p.due {
			s.q.signal()
			s.due = false
			p.due[i] = nil
		}
		p.due = p.due[:0]
		p.mu.Unlock()
	}
	return reached
}

// queueSameTopic queues msgs, which all have one topic, for the
// subscribers it matches: one match for all of them, and each
// subscriber's queue locked once for all of them, in order. It returns
// how many were queued for at least one subscriber. The caller holds mu.
func (p *Publisher) queueSameTopic(msgs [][][]byte, block *sharedBlock) int {
	offer, queuedFor := p.offer[:0], p.queuedFor[:0]
	for _, frames := range msgs {
		offer = append(offer, ownedMessage{frames: frames, cost: messageCost(frames), block: block})
		queuedFor = append(queuedFor, false)
	}
	p.index.match(topicOf(msgs[0]), func(s *subscriber) {
		admitted, refused := s.q.admitEach(offer, queuedFor)
		p.dropped.Add(uint64(refused))
		if admitted > 0 && !s.due {
			s.due = true
			p.due = append(p.due, s)
		}
	})
	reached := 0
	for _, q := range queuedFor {
		if q {
			reached++
		}
	}
	clear(offer) // the caller's frames, and the copies, are the queues' now
	p.offer, p.queuedFor = offer, queuedFor
	return reached
}

// leadingSameTopic returns the first of msgs and those right after it
// with the same topic: a received batch's entries mostly share a few.
func leadingSameTopic(msgs [][][]byte) [][][]byte {
	topic := topicOf(msgs[0])
	n := 1
	for n < len(msgs) && string(topicOf(msgs[n])) == string(topic) {
		n++
	}
	return msgs[:n]
}

// topicOf is a message's first frame, the topic subscriptions match.
func topicOf(frames [][]byte) []byte {
	if len(frames) > 0 {
		return frames[0]
	}
	return nil
}

// publishRun bounds the messages PublishEach handles under one hold of
// the publisher's lock, so that subscription changes, and a subscriber
// whose writer is waiting for the run, never wait for a whole 4 MiB
// message's entries: a run of typical log lines (150 bytes or so) is
// less than one write (writeBufferSize).
const publishRun = 256

// Subscribers returns the number of subscribers connected now, counted
// as PublisherStats.Subscribers lists them.
func (p *Publisher) Subscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

// Counters returns the publisher's counters without Subscribers: what a
// heartbeat or a metrics scrape needs, at a cost that does not grow with
// the subscribers or what they subscribed to (Subscribers says how many
// there are).
func (p *Publisher) Counters() PublisherStats {
	p.mu.Lock()
	held := p.index.size()
	p.mu.Unlock()
	return PublisherStats{
		ListenerStats: p.a.count.snapshot(), Published: p.published.Load(), Sent: p.sent.Load(),
		Dropped: p.dropped.Load(), OverSubscribed: p.overSubscribed.Load(), QueuedBytes: p.budget.used.Load(),
		SubscriptionBytes: held,
	}
}

// Stats returns the publisher's counters and every subscriber's status.
// It copies every subscriber's topics (up to MaxSubscriptionBytes each):
// for inspection, not for anything that runs every second; use Counters
// for that.
func (p *Publisher) Stats() PublisherStats {
	st := p.Counters()
	p.mu.Lock()
	subs := make([]*subscriber, 0, len(p.subs))
	for s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		topics := s.topics.topics()
		s.mu.Unlock()
		st.Subscribers = append(st.Subscribers, SubscriberStatus{
			Peer: s.c.peer.Addr, Topics: topics,
			Sent: s.sent.Load(), Dropped: s.q.dropped(), Queued: s.q.len(), QueuedBytes: s.q.size(),
		})
	}
	sort.Slice(st.Subscribers, func(i, j int) bool { return st.Subscribers[i].Peer < st.Subscribers[j].Peer })
	return st
}

// Close stops accepting, closes every subscriber and waits for their
// goroutines. Messages still queued are discarded and counted as
// dropped. Safe to call twice.
func (p *Publisher) Close() error {
	err := p.a.close()
	if isClosedErr(err) {
		return nil
	}
	return err
}

// subscriptionChange is one SUBSCRIBE or CANCEL from a subscriber.
type subscriptionChange struct {
	subscribe bool
	topic     string
}

// change applies one subscription change of s, refusing a subscription
// that would take the subscriber past Options.MaxSubscriptions or
// Options.MaxSubscriptionBytes, or the publisher past
// Options.MaxPublisherSubscriptionBytes. Cancelling what was never
// subscribed changes nothing. Only a topic's first subscription and its
// last cancel touch the publisher's index (and its lock).
func (p *Publisher) change(s *subscriber, ch subscriptionChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ch.subscribe {
		if _, last := s.topics.remove(ch.topic); last {
			p.mu.Lock()
			p.index.remove(s, ch.topic)
			p.mu.Unlock()
		}
		return nil
	}
	maxCount, maxBytes := p.opts.MaxSubscriptions, p.opts.MaxSubscriptionBytes
	switch {
	case s.topics.len() >= maxCount:
		return fmt.Errorf("%w: %d subscriptions (MaxSubscriptions), subscribing to %.40q", ErrOverSubscribed, maxCount, ch.topic)
	case s.topics.size()+len(ch.topic) > maxBytes:
		return fmt.Errorf("%w: %d topic bytes (MaxSubscriptionBytes), subscribing to %.40q (%d bytes)", ErrOverSubscribed, maxBytes, ch.topic, len(ch.topic))
	}
	if !s.topics.holds(ch.topic) {
		p.mu.Lock()
		err := p.index.add(s, ch.topic)
		p.mu.Unlock()
		if err != nil {
			return err
		}
	}
	s.topics.add(ch.topic)
	return nil
}

// unindex takes s out of the index at every topic it holds (which gives
// their bytes back), so that no message can reach its queue any more. Its
// reader goroutine has stopped, so its topics no longer change. The lock
// is taken topic by topic, so that a subscriber leaving with many topics
// does not hold Publish up for all of them at once.
func (p *Publisher) unindex(s *subscriber) {
	s.mu.Lock()
	topics := s.topics.topics()
	s.mu.Unlock()
	for _, topic := range topics {
		p.mu.Lock()
		p.index.remove(s, topic)
		p.mu.Unlock()
	}
}

// serve registers the subscriber, runs its writer, and reads its
// subscriptions until it leaves.
func (p *Publisher) serve(c *conn) error {
	s := &subscriber{c: c, q: newSendQueue(p.opts.SendQueue, p.opts.SendQueueBytes, &p.budget)}
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	p.changes.changed()
	writerDone, gone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(writerDone)
		p.writeLoop(s, gone)
	}()
	err := p.readLoop(s)
	p.unindex(s)
	close(gone)
	c.close() // stops the writer if it is blocked writing
	<-writerDone
	// Publish can no longer reach the queue and the writer is gone: what
	// is left will never be sent.
	p.dropped.Add(uint64(s.q.discard()))
	// Only now does it leave Stats and Subscribers: a subscriber seen gone
	// has every message matched for it counted as sent or dropped, and
	// its bytes given back.
	p.mu.Lock()
	delete(p.subs, s)
	p.mu.Unlock()
	p.changes.changed()
	return err
}

func (p *Publisher) readLoop(s *subscriber) error {
	for {
		ch, err := p.readChange(s)
		if err != nil {
			return err
		}
		if err := p.change(s, ch); err != nil {
			p.overSubscribed.Add(1) // the acceptor reports it Rejected
			return err              // serve wakes AwaitSubscriptions once it has left
		}
		p.changes.changed()
	}
}

// readChange reads what the subscriber sends until a subscription change
// arrives, answering PINGs and counting (and skipping) other messages.
func (p *Publisher) readChange(s *subscriber) (subscriptionChange, error) {
	for {
		frames, isCommand, err := s.c.readMessage(min(p.opts.MaxMessageSize, maxControlMessage))
		if err != nil {
			return subscriptionChange{}, err
		}
		if isCommand {
			name, body, err := s.c.handleCommand(frames[0])
			if err != nil {
				return subscriptionChange{}, err
			}
			switch name {
			case "SUBSCRIBE":
				return subscriptionChange{subscribe: true, topic: string(body)}, nil
			case "CANCEL":
				return subscriptionChange{subscribe: false, topic: string(body)}, nil
			}
			continue
		}
		// ZMTP 3.0: a one-frame message whose first byte is 1 or 0. Like
		// libzmq's PUB, ignore anything else a subscriber sends, but count it.
		if len(frames) != 1 || len(frames[0]) == 0 || frames[0][0] > 1 {
			p.a.count.malformed.Add(1)
			continue
		}
		return subscriptionChange{subscribe: frames[0][0] == 1, topic: string(frames[0][1:])}, nil
	}
}

// writeLoop writes the subscriber's queue in batches of about
// writeBufferSize bytes, one vectored write each, until the subscriber
// is gone or a write fails.
func (p *Publisher) writeLoop(s *subscriber, gone <-chan struct{}) {
	var bw batchWriter
	var batch []queuedMessage
	var frames [][]byte // one message's frames at a time, for bw.add
	for {
		batch = s.q.take(batch[:0], writeBufferSize)
		if len(batch) == 0 {
			select {
			case <-s.q.wake:
				continue
			case <-gone:
				return
			}
		}
		bw.reset()
		for i := range batch {
			frames = batch[i].appendFrames(frames[:0])
			bw.add(frames)
		}
		clear(frames[:cap(frames)])
		n, err := bw.writeTo(s.c, p.opts.WriteTimeout)
		// Let go of the messages before giving their bytes back.
		bw.reset()
		s.q.release(batch)
		s.sent.Add(uint64(n))
		p.sent.Add(uint64(n))
		if err != nil {
			// Whatever was not written is lost for this subscriber.
			s.q.lost(len(batch) - n)
			p.dropped.Add(uint64(len(batch) - n))
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
