package zmqlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/topic"
	"github.com/zmqlog/zmqlog/wire"
)

// Shipper queues encoded log entries and sends them, packed in batches,
// to one or more collectors over ZeroMQ PUSH. Its methods are safe for
// concurrent use.
//
//	Ship (caller's goroutine) ─▶ open batch ──full or linger──▶ sealed batches
//	                                                              │
//	             shipper goroutine ◀──────────────────────────────┘
//	                    │ one batch per ZeroMQ message
//	                    ▼
//	      socket queue ─▶ writer per live collector connection ─▶ collectors
//
// Every batch, from the moment its first entry is copied in until a
// connection has written it, counts against the byte budget. The release
// valve is at Ship: when the budget is full the entry is dropped (or,
// with WithDropOldest, the oldest queued batch is) and counted. An eighth
// of the budget is kept for ERROR-and-above entries, and to make room for
// one the oldest queued batch holding no such entry is evicted, so a
// flood of debug entries cannot cost the error that explains it.
type Shipper struct {
	cfg      config
	producer wire.Producer
	header   []byte
	push     *zsock.Pusher
	seq      []atomic.Uint64 // next sequence number per endpoint (stream)

	// mu and the state it guards are written on every Ship; padding keeps
	// them off the cache lines of fields other goroutines use (measured:
	// without it, slogzmq's Handle cost 1.33x slog.JSONHandler's, 1.13x with).
	_         cacheLinePad
	mu        sync.Mutex
	open      *chunk           // batch being filled
	queue     []*chunk         // sealed, oldest first, not yet handed to the socket
	inflight  map[*byte]*chunk // handed to the socket, keyed by &buf[0]
	free      []*chunk         // spare full-size batches for reuse
	allocated int              // bytes of live batches: the budget's measure
	nextID    uint64           // id for the next sealed batch (Flush's clock)
	closed    bool             //
	progress  chan struct{}    // closed and replaced whenever a batch leaves
	count     counters         //
	lastErr   atomic.Pointer[string]
	dialFails atomic.Uint64

	droppedTotal atomic.Uint64 // mirrors count.dropped for Stamp, which runs without mu

	wake      chan struct{} // capacity 1: "there is a batch to send or a linger to start"
	room      chan struct{} // capacity 1: "a batch left" for Block waiters
	ctx       context.Context
	cancel    context.CancelFunc
	done      sync.WaitGroup // the shipper and reporter goroutines
	closeOnce sync.Once
	closeErr  error
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

// cacheLinePad separates data written by different goroutines.
type cacheLinePad [128]byte

type dropReason int

const (
	queueFull dropReason = iota
	tooLarge
	closedShipper
	numReasons
)

type counters struct {
	shipped, sent, batches, bytesSent uint64
	dropped                           [numReasons]uint64
	droppedLevel                      [levelBuckets]uint64
	queued                            int
}

// pusherQueue is how many batches wait inside the socket for a writer; a
// few keep the writers busy while the shipper seals the next one.
const pusherQueue = 2

// NewShipper starts shipping to endpoint: one collector, or several
// separated by commas ("tcp://10.0.0.5:5557,tcp://10.0.0.6:5557"), each
// batch going to exactly one of them. It returns at once; the collectors
// are reached in the background. Only a malformed endpoint or option is
// an error.
func NewShipper(endpoint string, opts ...Option) (*Shipper, error) {
	eps, err := zsock.ParseEndpoints(endpoint)
	if err != nil {
		return nil, fmt.Errorf("zmqlog: %w", err)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return nil, fmt.Errorf("zmqlog: %w", err)
		}
	}
	if cfg.app == "" {
		cfg.app = filepath.Base(os.Args[0])
	}
	if !cfg.hostSetByUser {
		cfg.host, _ = os.Hostname()
	}
	// Clean: the names as every batch carries them and the collector shows
	// them (valid UTF-8, at most wire.MaxName bytes), so Producer() says
	// what the collector sees.
	producer := wire.Producer{Instance: rand.Uint64(), PID: uint32(os.Getpid()), Host: cfg.host, App: cfg.app}.Clean()
	header := wire.AppendHeader(nil, producer)
	if err := cfg.validate(len(header)); err != nil {
		return nil, fmt.Errorf("zmqlog: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Shipper{
		cfg: cfg, producer: producer, header: header,
		seq:      make([]atomic.Uint64, len(eps)),
		inflight: map[*byte]*chunk{},
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		room:     make(chan struct{}, 1),
		ctx:      ctx, cancel: cancel,
	}
	s.push = zsock.DialPush(eps, zsock.Options{
		SendQueue:        pusherQueue,
		ReconnectMin:     cfg.reconnectMin,
		ReconnectMax:     cfg.reconnectMax,
		HandshakeTimeout: cfg.handshake,
		WriteTimeout:     cfg.writeTimeout,
		Stamp:            s.stamp,
		Done:             s.sent,
		OnEvent:          s.onEvent,
	})
	s.done.Add(1)
	go s.run()
	if cfg.onError != nil {
		s.done.Add(1)
		go s.reportLoop()
	}
	return s, nil
}

// Producer returns the identity this shipper's batches carry.
func (s *Shipper) Producer() wire.Producer { return s.producer }

// Ship copies entry into the queue under topic (level first, see package
// topic) and returns without waiting for the network. If the entry cannot
// be queued it is dropped and counted in Stats.
func (s *Shipper) Ship(topicName string, entry []byte) {
	sev := topic.SeverityOf(topicName)
	high := sev >= topic.Error
	size := wire.EntrySize(topicName, entry)
	s.mu.Lock()
	s.count.shipped++
	switch {
	case s.closed:
		s.dropLocked(closedShipper, sev)
		s.mu.Unlock()
		return
	case size > s.cfg.maxEntry:
		s.dropLocked(tooLarge, sev)
		s.mu.Unlock()
		return
	}
	c, wake := s.chunkForLocked(size, high)
	if c == nil && s.cfg.overflow == Block {
		c, wake = s.waitForRoomLocked(size, high)
	}
	if c == nil {
		s.dropLocked(queueFull, sev)
		s.mu.Unlock()
		return
	}
	c.buf = wire.AppendEntry(c.buf, topicName, entry)
	c.count++
	c.levels[sev]++
	if high {
		c.high++
	}
	s.count.queued++
	wake = wake || c.count == 1 // a first entry starts the linger
	s.mu.Unlock()
	if wake {
		s.signal()
	}
}

// chunkForLocked returns the batch an entry of size bytes goes into,
// sealing the open batch and starting a new one when it is full and
// making room as the overflow policy allows. It returns nil when there is
// no room, and whether it sealed a batch (the shipper must be woken).
func (s *Shipper) chunkForLocked(size int, high bool) (c *chunk, sealed bool) {
	limit := s.cfg.budget
	if !high {
		limit -= s.cfg.reservedForErr
	}
	if c := s.open; c != nil && len(c.buf)+size <= cap(c.buf) {
		// Below the limit, or an error entry: use the open batch. A
		// debug entry in the reserve must not fill a batch an error needs.
		for !high && s.allocated > limit {
			if !s.evictLocked(high) {
				return nil, false
			}
		}
		return c, false
	}
	need := max(s.cfg.batchSize, len(s.header)+size)
	for s.allocated+need > limit {
		if !s.evictLocked(high) {
			return nil, false
		}
	}
	sealed = s.sealLocked()
	s.open = s.newChunkLocked(need)
	return s.open, sealed
}

// evictLocked drops the oldest queued batch that the policy lets an entry
// of this priority displace, and reports whether it found one. Batches
// holding errors are displaced only by errors, and only with DropOldest.
func (s *Shipper) evictLocked(high bool) bool {
	if s.cfg.overflow != DropOldest && !high {
		return false
	}
	victim := -1
	for i, c := range s.queue {
		if c.high == 0 {
			victim = i
			break
		}
	}
	if victim < 0 && high && s.cfg.overflow == DropOldest && len(s.queue) > 0 {
		victim = 0
	}
	if victim < 0 {
		return false
	}
	c := s.queue[victim]
	s.queue = append(s.queue[:victim], s.queue[victim+1:]...)
	s.dropChunkLocked(c, queueFull)
	return true
}

// waitForRoomLocked waits, with mu released, for a batch to leave, up to
// the Block timeout, and retries.
func (s *Shipper) waitForRoomLocked(size int, high bool) (*chunk, bool) {
	deadline := time.NewTimer(s.cfg.blockTimeout)
	defer deadline.Stop()
	for {
		s.mu.Unlock()
		select {
		case <-s.room:
		case <-deadline.C:
			s.mu.Lock()
			return nil, false
		case <-s.ctx.Done():
			s.mu.Lock()
			return nil, false
		}
		s.mu.Lock()
		if s.closed {
			return nil, false
		}
		if c, sealed := s.chunkForLocked(size, high); c != nil {
			return c, sealed
		}
	}
}

func (s *Shipper) newChunkLocked(capacity int) *chunk {
	var c *chunk
	if n := len(s.free); n > 0 && capacity == s.cfg.batchSize {
		c, s.free = s.free[n-1], s.free[:n-1]
		c.buf = c.buf[:0]
	} else {
		c = &chunk{buf: make([]byte, 0, capacity), frames: make([][]byte, 1)}
	}
	c.buf = append(c.buf, s.header...)
	s.allocated += cap(c.buf)
	return c
}

// sealLocked closes the open batch if it holds entries and queues it.
func (s *Shipper) sealLocked() bool {
	c := s.open
	if c == nil || c.count == 0 {
		return false
	}
	wire.SetCount(c.buf, c.count)
	c.id = s.nextID
	s.nextID++
	s.queue = append(s.queue, c)
	s.open = nil
	return true
}

// releaseLocked returns a batch's memory to the budget once it has left.
func (s *Shipper) releaseLocked(c *chunk) {
	s.allocated -= cap(c.buf)
	s.count.queued -= c.count
	c.count, c.high, c.levels = 0, 0, [levelBuckets]uint32{}
	if cap(c.buf) == s.cfg.batchSize && len(s.free) < pusherQueue+2 {
		s.free = append(s.free, c)
	}
	close(s.progress)
	s.progress = make(chan struct{})
	select {
	case s.room <- struct{}{}:
	default:
	}
}

func (s *Shipper) dropLocked(r dropReason, sev topic.Severity) {
	s.count.dropped[r]++
	s.count.droppedLevel[sev]++
	s.droppedTotal.Add(1)
}

func (s *Shipper) dropChunkLocked(c *chunk, r dropReason) {
	s.count.dropped[r] += uint64(c.count)
	for i, n := range c.levels {
		s.count.droppedLevel[i] += uint64(n)
	}
	s.droppedTotal.Add(uint64(c.count))
	s.releaseLocked(c)
}

func (s *Shipper) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the shipper goroutine: it hands sealed batches to the socket and
// seals a partly filled batch when its linger runs out.
func (s *Shipper) run() {
	defer s.done.Done()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	armed := false
	for {
		select {
		case <-s.wake:
		case <-linger.C:
			armed = false
			s.mu.Lock()
			s.sealLocked()
			s.mu.Unlock()
		case <-s.ctx.Done():
			return
		}
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				pending := s.open != nil && s.open.count > 0
				s.mu.Unlock()
				if pending && !armed {
					linger.Reset(s.cfg.linger)
					armed = true
				}
				break
			}
			c := s.queue[0]
			s.queue = s.queue[1:]
			c.frames[0] = c.buf
			s.inflight[&c.buf[0]] = c
			s.mu.Unlock()
			if err := s.push.Send(s.ctx, c.frames); err != nil {
				// Closing: put it back for Close to count.
				s.mu.Lock()
				delete(s.inflight, &c.buf[0])
				s.queue = append([]*chunk{c}, s.queue...)
				s.mu.Unlock()
				return
			}
		}
	}
}

// stamp numbers a batch's entries on the stream of the endpoint it is
// about to be written to; undo gives the numbers back when the write
// failed, so each collector sees a gap only where entries were lost.
func (s *Shipper) stamp(endpoint int, frames [][]byte, undo bool) {
	n := uint64(wire.Count(frames[0]))
	if undo {
		s.seq[endpoint].Add(-n)
		return
	}
	first := s.seq[endpoint].Add(n) - n
	wire.Stamp(frames[0], uint16(endpoint), first, s.droppedTotal.Load())
}

// sent is the socket telling that a batch was written, or abandoned.
func (s *Shipper) sent(frames [][]byte, written bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := &frames[0][0]
	c := s.inflight[key]
	delete(s.inflight, key)
	if written {
		s.count.sent += uint64(c.count)
		s.count.batches++
		s.count.bytesSent += uint64(len(c.buf))
		s.releaseLocked(c)
		return
	}
	s.dropChunkLocked(c, closedShipper)
}

func (s *Shipper) onEvent(e zsock.Event) {
	if e.Kind == zsock.DialFailed {
		s.dialFails.Add(1)
		msg := fmt.Sprintf("%s: %v", e.Endpoint, e.Err)
		s.lastErr.Store(&msg)
	}
}

// reportLoop tells the error handler, at most once per interval, what
// went wrong. It has its own goroutine because the shipper's may be
// waiting for a collector, which is exactly when there is news.
func (s *Shipper) reportLoop() {
	defer s.done.Done()
	t := time.NewTicker(s.cfg.errorInterval)
	defer t.Stop()
	var reported [numReasons]uint64
	var reportedDials uint64
	for {
		select {
		case <-t.C:
			reported, reportedDials = s.report(reported, reportedDials)
		case <-s.ctx.Done():
			return
		}
	}
}

// report tells the error handler what went wrong since the last report.
func (s *Shipper) report(last [numReasons]uint64, lastDials uint64) ([numReasons]uint64, uint64) {
	s.mu.Lock()
	now := s.count.dropped
	s.mu.Unlock()
	dials := s.dialFails.Load()
	var errs []error
	if now != last {
		errs = append(errs, fmt.Errorf("zmqlog: dropped %d entries since the last report (queue full %d, too large %d, closed %d)",
			(now[queueFull]-last[queueFull])+(now[tooLarge]-last[tooLarge])+(now[closedShipper]-last[closedShipper]),
			now[queueFull]-last[queueFull], now[tooLarge]-last[tooLarge], now[closedShipper]-last[closedShipper]))
	}
	if dials != lastDials {
		if p := s.lastErr.Load(); p != nil {
			errs = append(errs, fmt.Errorf("zmqlog: %d failed attempts to reach a collector, last: %s", dials-lastDials, *p))
		}
	}
	if len(errs) > 0 {
		s.cfg.onError(errors.Join(errs...))
	}
	return now, dials
}

// Flush waits until every entry shipped before the call has been written
// to a collector connection (or dropped), or ctx ends; then the error
// says how many entries are still waiting.
func (s *Shipper) Flush(ctx context.Context) error {
	s.mu.Lock()
	s.sealLocked()
	target := s.nextID
	s.mu.Unlock()
	s.signal()
	for {
		s.mu.Lock()
		remaining := s.waitingBeforeLocked(target)
		progress := s.progress
		s.mu.Unlock()
		if remaining == 0 {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("zmqlog: flush: %d entries not yet written to a collector: %w", remaining, ctx.Err())
		}
	}
}

// waitingBeforeLocked counts entries in batches sealed before id target
// that have not left yet.
func (s *Shipper) waitingBeforeLocked(target uint64) int {
	n := 0
	for _, c := range s.queue {
		if c.id < target {
			n += c.count
		}
	}
	for _, c := range s.inflight {
		if c.id < target {
			n += c.count
		}
	}
	return n
}

// Close flushes what is queued, waiting at most the close timeout
// (WithCloseTimeout, default 5s), then closes the connections. Entries
// still waiting then are dropped and counted as closed, and the error says
// how many. Ship after Close drops and counts. Close is idempotent.
func (s *Shipper) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.closeTimeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown is Close with the caller's deadline instead of the close
// timeout: it flushes until ctx ends, then closes. With a context that has
// already ended it returns at once, dropping (and counting) what is still
// queued. Only the first Close or Shutdown does the work; later calls
// return its result.
func (s *Shipper) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.sealLocked()
		s.mu.Unlock()
		err := s.Flush(ctx)
		s.cancel()
		s.done.Wait()
		s.push.Close() // reports what it still held through s.sent
		s.mu.Lock()
		for _, c := range s.queue {
			s.dropChunkLocked(c, closedShipper)
		}
		s.queue = nil
		if s.open != nil { // empty: sealLocked took any entries
			s.releaseLocked(s.open)
			s.open = nil
		}
		s.mu.Unlock()
		s.closeErr = err
	})
	return s.closeErr
}
