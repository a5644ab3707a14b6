package zmqlog

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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
// waiting methods are given that mutex to release while they wait. The
// one exception is the open batch, in which callers may claim room
// without the mutex while nothing needs deciding (updateLockFree).
type queue struct {
	budget    int // bytes of live batches allowed
	reserve   int // the part of budget only ERROR-and-above entries may use
	batchSize int
	overflow  overflowMode
	header    []byte

	open      atomic.Pointer[chunk] // batch being filled; written under the mutex
	sealed    []*chunk              // oldest first, not yet taken by the socket
	free      []*chunk              // spare full-size batches for reuse
	allocated int                   // bytes of live batches: the budget's measure
	nextID    uint64                // id for the next sealed batch (Flush's clock)
	closed    bool

	// Entries in sealed batches: ever (admitted) and not yet released
	// (queued). The open batch's are counted when it is sealed; until
	// then they are read from it (openEntries).
	admitted uint64
	queued   int

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
//
// Callers claim room in the open batch with one compare-and-swap on
// state, mostly without the shipper's mutex (see Shipper.Ship), and copy
// their entry in after the claim, outside any lock: many goroutines on
// few cores then no longer queue on a mutex whose holder is copying. The
// claims' order is the entries' order in the batch, so one goroutine's
// entries stay in the order it shipped them. Whoever takes a sealed
// batch away (to send, evict or drop it) first waits until every claimed
// entry is copied in (waitFilled); only then is it read, counted by
// level, or reused.
type chunk struct {
	// state packs the claims: the bytes used (header included) in the low
	// 32 bits, the entries claimed above them, and two flags: sealed (no
	// more claims) and locked (claims only under the shipper's mutex,
	// whenever the queue's policy has something to decide; see
	// queue.updateLockFree).
	state  atomic.Uint64
	filled atomic.Uint32 // claimed entries whose bytes are copied in

	mem    []byte // the batch's memory: len(mem) bytes, counted in the budget
	buf    []byte // the batch as sent: mem up to its last entry, set by taken
	frames [][]byte
	id     uint64
	count  int // entries, set when sealed

	tallied bool // high and levels are read from the entries (tally)
	high    int  // entries at ERROR or above
	levels  [levelBuckets]uint32
}

const (
	stateUsedMask   = 1<<32 - 1
	stateCountShift = 32
	stateCountMask  = 1<<30 - 1
	stateLocked     = 1 << 62
	stateSealed     = 1 << 63

	// maxChunk bounds a batch so that its bytes fit state's 32 bits.
	maxChunk = 1 << 30
)

const levelBuckets = int(topic.Fatal) + 1

// reservation is room claimed in a batch for one entry of size bytes at
// off; first says it is the batch's first entry (the linger starts).
type reservation struct {
	c     *chunk
	off   int
	size  int
	first bool
}

// reserve claims size bytes. lockFree claims are refused while the
// batch is marked locked; every claim is refused once it is sealed or
// when the room is gone.
func (c *chunk) reserve(size int, lockFree bool) (reservation, bool) {
	for {
		st := c.state.Load()
		if st&stateSealed != 0 || lockFree && st&stateLocked != 0 {
			return reservation{}, false
		}
		used := int(st & stateUsedMask)
		if used+size > len(c.mem) {
			return reservation{}, false
		}
		if c.state.CompareAndSwap(st, st+uint64(size)+1<<stateCountShift) {
			return reservation{c: c, off: used, size: size, first: st>>stateCountShift&stateCountMask == 0}, true
		}
	}
}

// hasRoom says whether size bytes fit now (claims by others may take them).
func (c *chunk) hasRoom(size int) bool {
	return int(c.state.Load()&stateUsedMask)+size <= len(c.mem)
}

// entries is how many entries have been claimed.
func (c *chunk) entries() int { return int(c.state.Load() >> stateCountShift & stateCountMask) }

// fill copies the entry into the room claimed for it.
func (r reservation) fill(topicName string, entry []byte) {
	if dst := wire.AppendEntry(r.c.mem[r.off:r.off:r.off+r.size], topicName, entry); len(dst) != r.size {
		panic("zmqlog: an entry's size changed between its claim and its copy")
	}
	r.c.filled.Add(1)
}

// seal refuses further claims and fixes the count, unless the batch is
// empty. It returns the count (0: not sealed).
func (c *chunk) seal() int {
	for {
		st := c.state.Load()
		n := int(st >> stateCountShift & stateCountMask)
		if n == 0 || c.state.CompareAndSwap(st, st|stateSealed) {
			c.count = n
			return n
		}
	}
}

// waitFilled waits until every entry claimed in the sealed batch is
// copied in. A copy is a few hundred bytes on a goroutine that holds no
// lock, so yielding until it is done is short.
func (c *chunk) waitFilled() {
	for int(c.filled.Load()) != c.count {
		runtime.Gosched()
	}
}

// taken readies a sealed batch for the socket: all its entries copied,
// its count written.
func (c *chunk) taken() {
	c.waitFilled()
	c.buf = c.mem[:c.state.Load()&stateUsedMask]
	wire.SetCount(c.buf, c.count)
	c.frames[0] = c.buf
}

// tally counts the sealed batch's entries by level, read back from their
// topics: only batches that are dropped or may be evicted need it, so
// the callers that ship do not pay for it.
func (c *chunk) tally(headerLen int) {
	if c.tallied {
		return
	}
	c.waitFilled()
	rest := c.mem[headerLen : c.state.Load()&stateUsedMask]
	for range c.count {
		n, k := binary.Uvarint(rest)
		sev := topic.SeverityOf(string(rest[k : k+int(n)]))
		rest = rest[k+int(n):]
		n, k = binary.Uvarint(rest)
		rest = rest[k+int(n):]
		c.levels[sev]++
		if sev >= topic.Error {
			c.high++
		}
	}
	c.tallied = true
}

// reset readies a spare batch for reuse: every copy into it is done.
func (c *chunk) reset(header []byte) {
	copy(c.mem, header)
	c.state.Store(uint64(len(header)) | stateLocked)
	c.filled.Store(0)
	c.buf, c.count, c.tallied, c.high, c.levels = nil, 0, false, 0, [levelBuckets]uint32{}
}

func lineOf(high bool) int {
	if high {
		return 1
	}
	return 0
}

// admit claims room for an entry of size bytes, sealing the open batch
// and starting a new one when it is full and evicting as the overflow
// policy allows. It reports false when there is no room, and whether it
// sealed a batch (the sender must be woken). Under WithBlock a caller
// that is not first in its line (w nil: one that has not waited) gets no
// room while others wait before it: room goes in FIFO order.
func (q *queue) admit(size int, high bool, w *waiter) (r reservation, ok, sealed bool) {
	if q.overflow == block {
		if first := q.lines[lineOf(high)].first(); first != nil && first != w {
			return reservation{}, false, false
		}
	}
	limit := q.budget
	if !high {
		limit -= q.reserve
	}
	if c := q.open.Load(); c != nil && c.hasRoom(size) {
		// Below the limit, or an error entry: use the open batch. A
		// debug entry in the reserve must not fill a batch an error needs.
		for !high && q.allocated > limit {
			if !q.evict(high) {
				return reservation{}, false, false
			}
		}
		if r, ok := c.reserve(size, false); ok {
			return r, true, false
		}
		// Lock-free claims took the last of the room: start a new batch.
	}
	need := max(q.batchSize, len(q.header)+size)
	for q.allocated+need > limit {
		if !q.evict(high) {
			return reservation{}, false, false
		}
	}
	sealed = q.seal()
	c := q.newChunk(need)
	r, _ = c.reserve(size, false) // a new batch of at least header+size bytes
	q.open.Store(c)
	q.updateLockFree()
	return r, true, sealed
}

// updateLockFree lets callers claim room in the open batch without the
// mutex only while that is what admit would decide anyway: the queue is
// open, nobody waits in line (FIFO), and the budget is below the ERROR
// reserve, so no entry of any level needs an eviction or a refusal. The
// budget's measure only grows when a new batch is opened, so it stays
// below the reserve for as long as this batch is open; every other
// change (a waiter, close, a release) calls this again.
func (q *queue) updateLockFree() {
	c := q.open.Load()
	if c == nil {
		return
	}
	if !q.closed && len(q.lines[0].waiters) == 0 && len(q.lines[1].waiters) == 0 && q.allocated <= q.budget-q.reserve {
		c.state.And(^uint64(stateLocked))
	} else {
		c.state.Or(stateLocked)
	}
}

// openEntries is how many entries the open batch holds (or are being
// copied into it).
func (q *queue) openEntries() int {
	if c := q.open.Load(); c != nil {
		return c.entries()
	}
	return 0
}

// evict drops the oldest sealed batch that the policy lets an entry of
// this priority displace, and reports whether it found one. Batches
// holding errors are displaced only by errors, and only with DropOldest.
func (q *queue) evict(high bool) bool {
	if q.overflow != dropOldest && !high {
		return false
	}
	victim := slices.IndexFunc(q.sealed, func(c *chunk) bool { c.tally(len(q.header)); return c.high == 0 })
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
	} else {
		c = &chunk{mem: make([]byte, capacity), frames: make([][]byte, 1)}
	}
	c.reset(q.header)
	q.allocated += len(c.mem)
	return c
}

// seal closes the open batch if it holds entries and queues it.
func (q *queue) seal() bool {
	c := q.open.Load()
	if c == nil {
		return false
	}
	n := c.seal()
	if n == 0 {
		return false
	}
	q.admitted += uint64(n)
	q.queued += n
	c.id = q.nextID
	q.nextID++
	q.sealed = append(q.sealed, c)
	q.open.Store(nil)
	return true
}

// pending reports whether the open batch holds entries (a linger runs).
func (q *queue) pending() bool { return q.openEntries() > 0 }

// take removes the oldest sealed batch for the socket, or returns nil;
// the caller readies it with taken, outside the mutex.
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
	q.allocated -= len(c.mem)
	q.queued -= c.count
	if len(c.mem) == q.batchSize && len(q.free) < spareBatches {
		q.free = append(q.free, c)
	}
	q.updateLockFree()
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
	q.updateLockFree()
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
	if c := q.open.Load(); c != nil { // empty: seal took any entries
		q.open.Store(nil)
		q.release(c)
	}
	rest := q.sealed
	q.sealed = nil
	return rest
}

// waitForRoom admits an entry that found no room, waiting up to timeout
// in its priority's line; mu (held on entry and on return) is released
// while it waits. It reports false when the time is up or the queue closed.
func (q *queue) waitForRoom(mu *sync.Mutex, size int, high bool, timeout time.Duration) (r reservation, ok, sealed bool) {
	line := &q.lines[lineOf(high)]
	w := line.join()
	q.updateLockFree() // from now on, room goes in line
	// Leaving wakes the next in line: the room this waiter found may
	// hold the next entry too, and a waiter that gave up must not keep
	// the wake it was given.
	defer func() {
		line.leave(w)
		q.updateLockFree()
		w.recycle()
	}()
	deadline := w.deadline(timeout)
	for {
		mu.Unlock()
		select {
		case <-w.woken:
		case <-deadline:
			mu.Lock()
			return reservation{}, false, false
		}
		mu.Lock()
		if q.closed {
			return reservation{}, false, false
		}
		if r, ok, sealed := q.admit(size, high, w); ok {
			return r, true, sealed
		}
	}
}

// waiter is one caller in line for room.
type waiter struct {
	woken chan struct{}
	timer *time.Timer
}

// waiters are reused with their channel and timer: once callers outrun
// the collector under WithBlock, every entry waits, and making both per
// wait was a third of the process's CPU in BenchmarkZapParallel.
var waiters = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &waiter{woken: make(chan struct{}, 1), timer: t}
}}

// deadline starts the waiter's timer.
func (w *waiter) deadline(timeout time.Duration) <-chan time.Time {
	w.timer.Reset(timeout)
	return w.timer.C
}

// recycle returns a waiter that has left its line (nobody wakes it any
// more) to the pool, its timer stopped and any wake it did not see dropped.
func (w *waiter) recycle() {
	w.timer.Stop()
	// Since Go 1.23 no tick is received after Stop, but a program built
	// with GODEBUG=asynctimerchan=1 keeps the old buffered channel: a
	// deadline that fired while this waiter was being admitted would
	// end its next wait at once.
	select {
	case <-w.timer.C:
	default:
	}
	select {
	case <-w.woken:
	default:
	}
	waiters.Put(w)
}

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
	w := waiters.Get().(*waiter)
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
