package zmqlog

import (
	"slices"
	"sync"
	"time"

	"github.com/zmqlog/zmqlog/topic"
	"github.com/zmqlog/zmqlog/wire"
)

// overflowMode says what Ship does when the byte budget is full. Users
// pick it with an option: the default drops the newest entry,
// WithDropOldest evicts the oldest queued batch, WithBlock waits.
type overflowMode int

const (
	dropNewest overflowMode = iota
	dropOldest
	block
)

// queue is the shipper's admission policy and the memory it governs:
// the batch being filled, the sealed batches waiting for the socket, the
// byte budget every live batch counts against (including batches the
// socket still holds, until released), the part of it kept for
// ERROR-and-above entries, eviction, and the callers waiting for room
// under WithBlock.
//
//	Ship ─▶ admit ──room──▶ open batch ─seal─▶ sealed (oldest first) ─take─▶ socket
//	          │                                    ▲                          │
//	          └─ no room: refuse, evict oldest ────┘        release ◀─────────┘
//	             (by policy), or wait in line                  │ wakes each line's first waiter
//
// It has no lock of its own: the shipper's mutex guards it, and the
// waiting methods are given that mutex to release while they wait.
type queue struct {
	budget    int // bytes of live batches allowed
	reserve   int // the part of budget only ERROR-and-above entries may use
	batchSize int
	overflow  overflowMode
	header    []byte

	open      *chunk   // batch being filled
	sealed    []*chunk // oldest first, not yet taken by the socket
	free      []*chunk // spare full-size batches for reuse
	allocated int      // bytes of live batches: the budget's measure
	nextID    uint64   // id for the next sealed batch (Flush's clock)
	closed    bool

	// Callers waiting for room, one line per priority so that debug
	// callers in line cannot hold up an error the reserve has room for.
	lines [2]waitLine

	// evicted is told of each batch the policy drops to make room; it
	// must count the batch and release it.
	evicted func(*chunk)
}

// spareBatches is how many full-size batches are kept for reuse: enough
// for those the socket holds plus the one being filled.
const spareBatches = pusherQueue + 2

func newQueue(budget, batchSize int, overflow overflowMode, header []byte) *queue {
	return &queue{budget: budget, reserve: budget / 8, batchSize: batchSize, overflow: overflow, header: header}
}

// chunk is one batch: a wire header followed by entries.
type chunk struct {
	buf    []byte
	frames [][]byte
	id     uint64
	count  int
	high   int // entries at ERROR or above
	levels [levelBuckets]uint32
}

const levelBuckets = int(topic.Fatal) + 1

func (c *chunk) add(topicName string, entry []byte, sev topic.Severity) {
	c.buf = wire.AppendEntry(c.buf, topicName, entry)
	c.count++
	c.levels[sev]++
	if sev >= topic.Error {
		c.high++
	}
}

func lineOf(high bool) int {
	if high {
		return 1
	}
	return 0
}

// admit returns the batch an entry of size bytes goes into, sealing the
// open batch and starting a new one when it is full and evicting as the
// overflow policy allows. It returns nil when there is no room, and
// whether it sealed a batch (the sender must be woken). Under WithBlock a
// caller that is not first in its line (w nil: one that has not waited)
// gets no room while others wait before it: room goes in FIFO order.
func (q *queue) admit(size int, high bool, w *waiter) (c *chunk, sealed bool) {
	if q.overflow == block {
		if first := q.lines[lineOf(high)].first(); first != nil && first != w {
			return nil, false
		}
	}
	limit := q.budget
	if !high {
		limit -= q.reserve
	}
	if c := q.open; c != nil && len(c.buf)+size <= cap(c.buf) {
		// Below the limit, or an error entry: use the open batch. A
		// debug entry in the reserve must not fill a batch an error needs.
		for !high && q.allocated > limit {
			if !q.evict(high) {
				return nil, false
			}
		}
		return c, false
	}
	need := max(q.batchSize, len(q.header)+size)
	for q.allocated+need > limit {
		if !q.evict(high) {
			return nil, false
		}
	}
	sealed = q.seal()
	q.open = q.newChunk(need)
	return q.open, sealed
}

// evict drops the oldest sealed batch that the policy lets an entry of
// this priority displace, and reports whether it found one. Batches
// holding errors are displaced only by errors, and only with DropOldest.
func (q *queue) evict(high bool) bool {
	if q.overflow != dropOldest && !high {
		return false
	}
	victim := slices.IndexFunc(q.sealed, func(c *chunk) bool { return c.high == 0 })
	if victim < 0 && high && q.overflow == dropOldest && len(q.sealed) > 0 {
		victim = 0
	}
	if victim < 0 {
		return false
	}
	c := q.sealed[victim]
	q.sealed = slices.Delete(q.sealed, victim, victim+1)
	q.evicted(c)
	return true
}

func (q *queue) newChunk(capacity int) *chunk {
	var c *chunk
	if n := len(q.free); n > 0 && capacity == q.batchSize {
		c, q.free = q.free[n-1], q.free[:n-1]
		c.buf = c.buf[:0]
	} else {
		c = &chunk{buf: make([]byte, 0, capacity), frames: make([][]byte, 1)}
	}
	c.buf = append(c.buf, q.header...)
	q.allocated += cap(c.buf)
	return c
}

// seal closes the open batch if it holds entries and queues it.
func (q *queue) seal() bool {
	c := q.open
	if c == nil || c.count == 0 {
		return false
	}
	wire.SetCount(c.buf, c.count)
	c.id = q.nextID
	q.nextID++
	q.sealed = append(q.sealed, c)
	q.open = nil
	return true
}

// pending reports whether the open batch holds entries (a linger runs).
func (q *queue) pending() bool { return q.open != nil && q.open.count > 0 }

// take removes the oldest sealed batch for the socket, or returns nil.
func (q *queue) take() *chunk {
	if len(q.sealed) == 0 {
		return nil
	}
	c := q.sealed[0]
	q.sealed = q.sealed[1:]
	return c
}

// putBack returns a batch the socket did not take to the front.
func (q *queue) putBack(c *chunk) { q.sealed = slices.Insert(q.sealed, 0, c) }

// release returns a batch's memory to the budget once it has left (sent
// or dropped) and wakes the first waiter of each line to re-check; each
// waiter that leaves its line wakes the next, so every waiter re-checks,
// in order, as long as room lasts.
func (q *queue) release(c *chunk) {
	q.allocated -= cap(c.buf)
	c.count, c.high, c.levels = 0, 0, [levelBuckets]uint32{}
	if cap(c.buf) == q.batchSize && len(q.free) < spareBatches {
		q.free = append(q.free, c)
	}
	for i := range q.lines {
		q.lines[i].wakeFirst()
	}
}

// waitingBefore counts entries in sealed batches with ids below target.
func (q *queue) waitingBefore(target uint64) int {
	n := 0
	for _, c := range q.sealed {
		if c.id < target {
			n += c.count
		}
	}
	return n
}

// close refuses every later entry and wakes every waiter to give up.
func (q *queue) close() {
	q.closed = true
	for i := range q.lines {
		for _, w := range q.lines[i].waiters {
			w.wake()
		}
	}
}

// drain empties the queue after close, returning the sealed batches for
// the caller to count and release.
func (q *queue) drain() []*chunk {
	q.seal()
	if q.open != nil { // empty: seal took any entries
		q.release(q.open)
		q.open = nil
	}
	rest := q.sealed
	q.sealed = nil
	return rest
}

// waitForRoom admits an entry that found no room, waiting up to timeout
// in its priority's line; mu (held on entry and on return) is released
// while it waits. It returns nil when the time is up or the queue closed.
func (q *queue) waitForRoom(mu *sync.Mutex, size int, high bool, timeout time.Duration) (*chunk, bool) {
	line := &q.lines[lineOf(high)]
	w := line.join()
	// Leaving wakes the next in line: the room this waiter found may
	// hold the next entry too, and a waiter that gave up must not keep
	// the wake it was given.
	defer line.leave(w)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		mu.Unlock()
		select {
		case <-w.woken:
		case <-deadline.C:
			mu.Lock()
			return nil, false
		}
		mu.Lock()
		if q.closed {
			return nil, false
		}
		if c, sealed := q.admit(size, high, w); c != nil {
			return c, sealed
		}
	}
}

// waiter is one caller in line for room.
type waiter struct{ woken chan struct{} }

// wake tells the waiter to re-check; a wake not yet seen is kept.
func (w *waiter) wake() {
	select {
	case w.woken <- struct{}{}:
	default:
	}
}

// waitLine is a FIFO of waiters. Only the first is woken when room
// appears; whoever leaves the front wakes the next.
type waitLine struct{ waiters []*waiter }

func (l *waitLine) join() *waiter {
	w := &waiter{woken: make(chan struct{}, 1)}
	l.waiters = append(l.waiters, w)
	return w
}

func (l *waitLine) first() *waiter {
	if len(l.waiters) == 0 {
		return nil
	}
	return l.waiters[0]
}

func (l *waitLine) wakeFirst() {
	if w := l.first(); w != nil {
		w.wake()
	}
}

// leave takes w out of line; if it was first, the new first is woken.
func (l *waitLine) leave(w *waiter) {
	i := slices.Index(l.waiters, w)
	if i < 0 {
		return
	}
	l.waiters = slices.Delete(l.waiters, i, i+1)
	if i == 0 {
		l.wakeFirst()
	}
}
