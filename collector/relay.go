package collector

import (
	"container/list"
	"math/rand/v2"
	"sync"

	"github.com/zmqlog/zmqlog/wire"
)

// relayStreamBit marks a stream number given by a tier: a producer numbers
// its streams by endpoint index from 0, so the upper half of the 16-bit
// field is free for relays and never collides with a producer's own
// streams at a collector that hears from both.
const relayStreamBit = 0x8000

// relayNumbers renumbers the batches a collector forwards, the way a
// shipper numbers its own: per producer instance and per upstream
// endpoint, at the moment the batch is written to that endpoint's
// connection. The forward socket balances batches across its endpoints,
// so the producer's numbers would show each upstream the batches that
// went to the others as gaps; renumbered, each upstream sees contiguous
// numbers on its stream, and a gap there means an entry lost between
// this tier and it. The producer's own gaps on its way here are counted
// here.
//
// The stream number is relayStreamBit | (base + endpoint), with base
// random per collector start: a restarted tier starts its numbers at 0
// again and must not look, to its upstream, like the stream it used
// before (whose position the upstream remembers); and two tiers relaying
// the same producer to one upstream (a producer listing both) get
// different streams, unless their random bases happen to meet (about one
// chance in 32768 per pair).
//
// It remembers at most maxStreams (producer instance, endpoint) pairs,
// the least recently forwarded forgotten first, like the streams a
// collector receives; a pair forgotten and seen again starts at 0 on the
// same stream, which its upstream takes for late batches (no false gaps;
// loss on it goes unseen until its numbers pass the old ones). The
// forward socket's writers, one per endpoint, number batches concurrently.
type relayNumbers struct {
	base uint16

	mu    sync.Mutex
	byKey map[relayKey]*relayCounter
	lru   *list.List // front: most recently stamped
}

type relayKey struct {
	instance uint64
	endpoint int
}

type relayCounter struct {
	key  relayKey
	next uint64
	elem *list.Element
}

func newRelayNumbers() *relayNumbers {
	return &relayNumbers{base: uint16(rand.Uint32()), byKey: map[relayKey]*relayCounter{}, lru: list.New()}
}

// stream is the relayed stream number for an upstream endpoint.
func (r *relayNumbers) stream(endpoint int) uint16 {
	return relayStreamBit | (r.base+uint16(endpoint))&^relayStreamBit
}

// relayed is one message a collector forwards, as the forward socket sees
// it (a zsock.Outgoing): a producer's batch is renumbered for the upstream
// endpoint it is about to be written to and given its numbers back when
// that write fails; a plain message goes as it is. Finish reports the
// message's entries as forwarded or abandoned.
type relayed struct {
	frames   [][]byte
	numbers  *relayNumbers // nil: plain, not renumbered
	entries  uint64
	finished func(entries uint64, written bool)
}

// message makes the Outgoing for one received message of entries
// entries; finished is told how it ended.
func (r *relayNumbers) message(frames [][]byte, entries int, finished func(entries uint64, written bool)) *relayed {
	m := &relayed{frames: frames, entries: uint64(entries), finished: finished}
	if wire.IsBatch(frames) {
		m.numbers = r
	}
	return m
}

// Route numbers a batch for the endpoint it is about to be written to.
func (m *relayed) Route(endpoint int) {
	if m.numbers != nil {
		m.numbers.number(endpoint, m.frames[0])
	}
}

// Frames is the message as received.
func (m *relayed) Frames() [][]byte { return m.frames }

// Unroute gives a batch's numbers back when the write failed (newest
// first, so a connection's numbers stay contiguous and the batch is
// numbered again wherever it is written).
func (m *relayed) Unroute(endpoint int) {
	if m.numbers != nil {
		m.numbers.unnumber(endpoint, m.frames[0])
	}
}

// Finish reports how the message ended.
func (m *relayed) Finish(written bool) {
	if m.finished != nil {
		m.finished(m.entries, written)
	}
}

// number renumbers batch on the relayed stream of endpoint, after the
// batches already numbered there for its producer.
func (r *relayNumbers) number(endpoint int, batch []byte) {
	n := uint64(wire.Count(batch))
	k := relayKey{wire.Instance(batch), endpoint}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.byKey[k]
	if c == nil {
		if len(r.byKey) >= maxStreams {
			oldest := r.lru.Back()
			delete(r.byKey, oldest.Value.(*relayCounter).key)
			r.lru.Remove(oldest)
		}
		c = &relayCounter{key: k}
		c.elem = r.lru.PushFront(c)
		r.byKey[k] = c
	} else {
		r.lru.MoveToFront(c.elem)
	}
	wire.Renumber(batch, r.stream(endpoint), c.next)
	c.next += n
}

// unnumber gives back the numbers number gave batch last.
func (r *relayNumbers) unnumber(endpoint int, batch []byte) {
	k := relayKey{wire.Instance(batch), endpoint}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.byKey[k]; c != nil {
		c.next -= uint64(wire.Count(batch))
	}
}
