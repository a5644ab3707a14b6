package zsock

import (
	"sync"
	"sync/atomic"
)

// sendQueue is one subscriber's queue: the messages Publish matched for
// it, waiting for its writer. It is bounded three ways, and a message
// that would pass any bound is refused (the publisher counts it dropped):
//
//   - by count (Options.SendQueue), as libzmq's high-water mark;
//   - by the bytes this subscriber keeps alive (Options.SendQueueBytes):
//     the messages queued and the batch its writer is writing;
//   - by the bytes all subscribers of the publisher keep alive
//     (Options.PublisherQueueBytes), through a shared byteBudget.
//
// It counts every message it was given and will not deliver: refused by
// a bound, lost by the writer (lost), or thrown away with the queue
// (discard).
//
// Memory follows what it holds: the ring starts empty, doubles as it
// fills and, each time the writer empties it, shrinks to fit the most it
// held since it was last empty, so an idle subscriber costs a few words
// and a subscriber after a burst gives the room back with its next
// message.
//
// One writer takes messages (take) and gives their bytes back once it is
// done with them (release); any number of goroutines push. wake has room
// for one signal: there is one waiter, the writer.
type sendQueue struct {
	maxCount int
	maxBytes int64
	budget   *byteBudget
	wake     chan struct{}
	drops    atomic.Uint64

	mu    sync.Mutex
	ring  []queuedMessage
	head  int   // index of the oldest message
	n     int   // messages queued
	peak  int   // most messages queued since the ring was last empty
	bytes int64 // bytes kept alive: queued plus taken and not released
}

type queuedMessage struct {
	frames [][]byte
	cost   int64
}

// minRing is the smallest ring allocated, and the size a drained ring
// shrinks to at the least.
const minRing = 16

func newSendQueue(maxCount int, maxBytes int64, budget *byteBudget) *sendQueue {
	return &sendQueue{maxCount: maxCount, maxBytes: maxBytes, budget: budget, wake: make(chan struct{}, 1)}
}

// messageCost is what a queued message keeps alive, as counted against
// the byte bounds: its frame bytes and, per frame, the slice header and
// bookkeeping (frameOverhead), so that a flood of empty frames costs too.
func messageCost(frames [][]byte) int64 {
	cost := int64(0)
	for _, f := range frames {
		cost += int64(len(f)) + frameOverhead
	}
	return cost
}

// push queues m unless a bound refuses it. It calls m.own, under the
// queue's lock, only once the message is admitted.
func (q *sendQueue) push(m *ownedMessage) bool {
	q.mu.Lock()
	if q.n >= q.maxCount || q.bytes+m.cost > q.maxBytes || !q.budget.reserve(m.cost) {
		q.mu.Unlock()
		q.drops.Add(1)
		return false
	}
	if q.n == len(q.ring) {
		q.resize(max(minRing, 2*len(q.ring)))
	}
	q.ring[(q.head+q.n)%len(q.ring)] = queuedMessage{frames: m.own(), cost: m.cost}
	q.n++
	q.peak = max(q.peak, q.n)
	q.bytes += m.cost
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take moves the oldest messages to dst, at least one if any is queued
// and then as long as their costs add up to less than maxBytes. Their
// bytes stay counted until release.
func (q *sendQueue) take(dst []queuedMessage, maxBytes int64) []queuedMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	taken := int64(0)
	for q.n > 0 && (taken == 0 || taken+q.ring[q.head].cost <= maxBytes) {
		m := q.ring[q.head]
		q.ring[q.head] = queuedMessage{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		dst = append(dst, m)
		taken += m.cost
	}
	if q.n == 0 {
		q.shrink()
	}
	return dst
}

// release gives back the bytes of messages take returned, once the
// writer no longer refers to them.
func (q *sendQueue) release(bytes int64) {
	q.mu.Lock()
	q.bytes -= bytes
	q.mu.Unlock()
	q.budget.release(bytes)
}

// lost counts n messages the writer took and could not write.
func (q *sendQueue) lost(n int) { q.drops.Add(uint64(n)) }

// dropped returns how many messages the queue refused, lost or discarded.
func (q *sendQueue) dropped() uint64 { return q.drops.Load() }

// discard empties the queue, counts what it held as dropped and returns
// how many messages that was.
func (q *sendQueue) discard() int {
	q.mu.Lock()
	n, freed := q.n, int64(0)
	for q.n > 0 {
		freed += q.ring[q.head].cost
		q.ring[q.head] = queuedMessage{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
	}
	q.bytes -= freed
	q.ring, q.head, q.peak = nil, 0, 0
	q.mu.Unlock()
	q.budget.release(freed)
	q.drops.Add(uint64(n))
	return n
}

// len returns the number of messages queued; size the bytes kept alive.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

func (q *sendQueue) size() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// shrink, on an empty ring, fits it to the most it held since it was
// last empty: a steady load keeps its ring, a burst's room goes back.
func (q *sendQueue) shrink() {
	fit := minRing
	for fit < q.peak {
		fit *= 2
	}
	if len(q.ring) > fit {
		q.ring = nil // the next push allocates what it needs
	}
	q.head, q.peak = 0, 0
}

// resize moves the queued messages to a ring of the given size.
func (q *sendQueue) resize(size int) {
	ring := make([]queuedMessage, size)
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// byteBudget bounds the bytes all of a publisher's queues keep alive.
type byteBudget struct {
	limit int64
	used  atomic.Int64
}

// reserve takes n bytes from the budget, or reports false and takes
// nothing when fewer are left.
func (b *byteBudget) reserve(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *byteBudget) release(n int64) { b.used.Add(-n) }

// ownedMessage is a message Publish is offering to its subscribers: the
// caller's frames until the first queue admits it, then one copy that
// every queue shares, so no queue keeps the caller's buffers alive.
type ownedMessage struct {
	frames [][]byte
	cost   int64
	copied bool
}

// own returns the message's own copy of the frames, making it the first
// time: one allocation for all the bytes and one for the frames slice.
func (m *ownedMessage) own() [][]byte {
	if m.copied {
		return m.frames
	}
	total := 0
	for _, f := range m.frames {
		total += len(f)
	}
	buf := make([]byte, 0, total)
	frames := make([][]byte, len(m.frames))
	for i, f := range m.frames {
		buf = append(buf, f...)
		frames[i] = buf[len(buf)-len(f) : len(buf) : len(buf)]
	}
	m.frames, m.copied = frames, true
	return frames
}
