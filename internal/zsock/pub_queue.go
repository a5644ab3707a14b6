package zsock

import (
	"sync"
	"sync/atomic"
	"time"
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
// Memory follows what it holds: the ring starts empty and doubles as it
// fills. Each time the writer empties it, the queue notes the most it
// held since it was last empty; once no drain for shrinkIdle has used
// more than a quarter of the ring, the next drain shrinks it to fit. So
// an idle subscriber costs a few words, a burst's room goes back with
// the first message after it, and a load that comes in waves keeps its
// ring instead of reallocating it on every wave.
//
// A message published shared (Publisher.PublishShared) is not copied: it
// points into a block of the publisher's caller (a received batch) that
// many messages share. The queue is charged the whole block once, when it
// admits the first of the block's messages, and gives the charge back when
// its writer is done with the last of them (blockCharge), so however few
// of a block's messages it holds, the block counts against its bounds in
// full. A subscriber that takes few of each block's messages would spend
// its room on blocks: the queue copies for it instead (blockDensity). And a
// message whose block does not fit where its copy does is copied.
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
	now      func() time.Time // the clock shrinking goes by

	mu     sync.Mutex
	ring   []queuedMessage
	head   int       // index of the oldest message
	n      int       // messages queued
	peak   int       // most messages queued since the ring was last empty
	usedAt time.Time // when a drain last found more than a quarter of the ring used
	fit    int       // the most any drain held since
	bytes  int64     // bytes kept alive: queued plus taken and not released
	// charge is the charge of the block of the last shared message
	// admitted, which the next one from that block shares while its refs
	// last; density is how much of recent blocks the subscriber takes.
	charge  *blockCharge
	density blockDensity
}

// queuedMessage is a message in a queue: Publish's copy of it, or a
// shared message as the caller gave it. A copy of up to two frames (a
// topic and an entry, the collector's) is held as its bytes and where the
// second frame starts, so that the copy is one allocation; a longer one
// also has a frames slice, shared by every queue that holds it. Either way
// nothing in it is ever written again.
type queuedMessage struct {
	buf    []byte   // a copy's frames' bytes, one after the other
	nf     int      // how many frames
	split  int      // a copy with two frames: where the second starts in buf
	frames [][]byte // a copy with more than two: views of buf; a shared message's frames
	// cost is what the message is charged on its own; size its frames'
	// bytes and overhead, which take goes by. They differ for a shared
	// message, whose bytes are its block's, charged in charge.
	cost, size int64
	charge     *blockCharge // nil: a copy
}

// appendFrames appends the message's frames to dst, as views of its
// bytes.
func (m *queuedMessage) appendFrames(dst [][]byte) [][]byte {
	switch {
	case m.frames != nil:
		return append(dst, m.frames...)
	case m.nf == 2:
		return append(dst, m.buf[:m.split:m.split], m.buf[m.split:])
	case m.nf == 1:
		return append(dst, m.buf)
	}
	return dst
}

// minRing is the smallest ring allocated; shrinkIdle is how long a ring
// stays at least four times larger than it needs before it shrinks.
const (
	minRing    = 16
	shrinkIdle = time.Second
)

func newSendQueue(maxCount int, maxBytes int64, budget *byteBudget) *sendQueue {
	return &sendQueue{maxCount: maxCount, maxBytes: maxBytes, budget: budget, wake: make(chan struct{}, 1), now: time.Now}
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

// push queues m unless a bound refuses it, and wakes the writer. It calls
// m.own, under the queue's lock, only once the message is admitted as a
// copy.
func (q *sendQueue) push(m *ownedMessage) bool {
	if !q.admit(m) {
		return false
	}
	q.signal()
	return true
}

// admit queues m unless a bound refuses it, as push does, without waking
// the writer: PublishEach admits a run of messages and wakes each writer
// once, so that it finds them all queued and writes them together.
func (q *sendQueue) admit(m *ownedMessage) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.admitLocked(m)
}

// admitEach admits each of msgs as admit would, in order, under one hold
// of the lock, and marks in queuedFor those it admitted. It returns how
// many it admitted and refused.
func (q *sendQueue) admitEach(msgs []ownedMessage, queuedFor []bool) (admitted, refused int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range msgs {
		if q.admitLocked(&msgs[i]) {
			queuedFor[i] = true
			admitted++
		} else {
			refused++
		}
	}
	return admitted, refused
}

// admitLocked is admit; the caller holds mu.
func (q *sendQueue) admitLocked(m *ownedMessage) bool {
	if m.block != nil {
		q.density.note(m.block, m.cost)
	}
	if q.n >= q.maxCount {
		q.drops.Add(1)
		return false
	}
	if m.block != nil {
		if q.admitShared(m) {
			return true
		}
	}
	if q.bytes+m.cost > q.maxBytes || !q.budget.reserve(m.cost) {
		q.drops.Add(1)
		return false
	}
	q.append(m.own())
	q.bytes += m.cost
	return true
}

// admitShared queues m without copying it, if the subscriber takes enough
// of each block for sharing to pay and the queue's bounds have room for
// m's block (unless the queue holds it already); the caller holds mu.
func (q *sendQueue) admitShared(m *ownedMessage) bool {
	cost := int64(m.nf()) * frameOverhead
	charge := q.charge
	if charge == nil || charge.block != m.block || charge.refs == 0 {
		if q.density.sparse || q.bytes+cost+m.block.cost > q.maxBytes || !q.budget.reserve(cost+m.block.cost) {
			return false
		}
		charge = &blockCharge{block: m.block}
		q.charge = charge
		q.bytes += m.block.cost
	} else if q.bytes+cost > q.maxBytes || !q.budget.reserve(cost) {
		return false
	}
	charge.refs++
	q.append(queuedMessage{frames: m.frames, nf: m.nf(), cost: cost, size: m.cost, charge: charge})
	q.bytes += cost
	return true
}

// append adds qm at the ring's tail, growing the ring when it is full.
func (q *sendQueue) append(qm queuedMessage) {
	if q.n == len(q.ring) {
		q.resize(max(minRing, 2*len(q.ring)))
	}
	q.ring[(q.head+q.n)%len(q.ring)] = qm
	q.n++
	q.peak = max(q.peak, q.n)
}

// sharedBlock is memory that the messages of one PublishShared call point
// into, and what it costs a queue that holds any of them.
type sharedBlock struct{ cost int64 }

// blockCharge is one queue's charge for a block: its whole cost, taken
// when the queue admits the first of its messages, given back when the
// writer is done with the last (refs counts those not yet done with).
// Guarded by the queue's mu.
type blockCharge struct {
	block *sharedBlock
	refs  int
}

// blockDensity tells a subscriber that takes much of each block from one
// that takes little: once the messages of a block that matched its
// subscriptions add up to less than a quarter of the block's cost
// (sparseShare), its queue copies the next block's messages instead of
// being charged the block for them. A queue that keeps up is thereby never
// charged much more than four times the bytes of what it holds (a new
// subscriber's first block aside).
type blockDensity struct {
	block  *sharedBlock
	taken  int64 // the bytes of block's messages matched so far
	sparse bool  // what the block before it showed
}

// sparseShare: a block is shared with a subscriber that took at least
// 1/sparseShare of the last one's bytes.
const sparseShare = 4

// note records that a message of cost bytes from block matched the
// subscriber.
func (d *blockDensity) note(block *sharedBlock, cost int64) {
	if block != d.block {
		if d.block != nil {
			d.sparse = d.taken*sparseShare < d.block.cost
		}
		d.block, d.taken = block, 0
	}
	d.taken += cost
}

// signal wakes the writer, if it is not already due to wake.
func (q *sendQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take moves the oldest messages to dst, at least one if any is queued
// and then as long as their sizes add up to less than maxBytes. Their
// bytes stay counted until release.
func (q *sendQueue) take(dst []queuedMessage, maxBytes int64) []queuedMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	taken := int64(0)
	for q.n > 0 && (taken == 0 || taken+q.ring[q.head].size <= maxBytes) {
		m := q.ring[q.head]
		q.ring[q.head] = queuedMessage{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		dst = append(dst, m)
		taken += m.size
	}
	if q.n == 0 {
		q.shrink()
	}
	return dst
}

// release gives back the bytes of messages take returned, once the
// writer no longer refers to them otherwise: each one's cost, and a
// block's charge with the last of its messages. It clears taken.
func (q *sendQueue) release(taken []queuedMessage) {
	q.mu.Lock()
	freed := int64(0)
	for i := range taken {
		freed += taken[i].unref()
		taken[i] = queuedMessage{} // let go of it before its bytes are given back
	}
	q.bytes -= freed
	q.mu.Unlock()
	q.budget.release(freed)
}

// unref returns what the queue no longer keeps alive once it lets go of
// m; the caller holds the queue's mu.
func (m *queuedMessage) unref() int64 {
	freed := m.cost
	if m.charge != nil {
		if m.charge.refs--; m.charge.refs == 0 {
			freed += m.charge.block.cost
		}
	}
	return freed
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
		freed += q.ring[q.head].unref()
		q.ring[q.head] = queuedMessage{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
	}
	q.bytes -= freed
	q.ring, q.head, q.peak, q.usedAt, q.fit, q.charge = nil, 0, 0, time.Time{}, 0, nil
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

// shrink, on a ring the writer has just emptied, fits the ring to twice
// the most it held since a drain last used more than a quarter of it,
// once that is shrinkIdle ago.
func (q *sendQueue) shrink() {
	now := q.now()
	if q.peak*4 > len(q.ring) || q.usedAt.IsZero() {
		q.usedAt, q.fit = now, 0
	} else {
		q.fit = max(q.fit, q.peak)
	}
	q.head, q.peak = 0, 0
	if now.Sub(q.usedAt) < shrinkIdle {
		return
	}
	size := minRing
	for size < 2*q.fit {
		size *= 2
	}
	switch {
	case size == minRing:
		q.ring = nil // the next push allocates it
	case size < len(q.ring):
		q.ring = make([]queuedMessage, size) // empty: nothing to move
	}
	q.usedAt, q.fit = now, 0
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
// caller's frames until the first queue admits it as a copy, then one copy
// that every queue shares, so no queue keeps the caller's buffers alive.
// With a block (PublishShared), queues may instead keep the caller's
// frames and be charged the block.
type ownedMessage struct {
	frames [][]byte
	cost   int64 // its frames' bytes and overhead: messageCost
	block  *sharedBlock
	copied bool
	copy   queuedMessage
}

func (m *ownedMessage) nf() int { return len(m.frames) }

// own returns the message's own copy, making it the first time: one
// allocation for all the bytes, and for more than two frames one for the
// frames slice.
func (m *ownedMessage) own() queuedMessage {
	if m.copied {
		return m.copy
	}
	total := 0
	for _, f := range m.frames {
		total += len(f)
	}
	c := queuedMessage{buf: make([]byte, 0, total), nf: len(m.frames), cost: m.cost, size: m.cost}
	if c.nf > 2 {
		c.frames = make([][]byte, c.nf)
	}
	for i, f := range m.frames {
		if i == 1 {
			c.split = len(c.buf)
		}
		c.buf = append(c.buf, f...)
		if c.frames != nil {
			c.frames[i] = c.buf[len(c.buf)-len(f) : len(c.buf) : len(c.buf)]
		}
	}
	m.copy, m.copied = c, true
	return c
}
