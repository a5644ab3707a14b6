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

	// mu and the state it guards are written on every Ship; padding keeps
	// them off the cache lines of fields other goroutines use (measured:
	// without it, slogzmq's Handle cost 1.33x slog.JSONHandler's, 1.13x with).
	_         cacheLinePad
	mu        sync.Mutex
	q         *queue                 // admission policy and the batches it governs
	inflight  map[*inflight]struct{} // batches handed to the socket, not yet finished
	seq       []uint64               // next sequence number per endpoint (stream)
	progress  chan struct{}          // closed and replaced whenever a batch leaves
	count     counters               //
	lastErr   atomic.Pointer[string]
	dialFails atomic.Uint64
	dialNews  chan struct{} // capacity 1: "a dial failed or connected" for Shutdown

	wake      chan struct{} // capacity 1: "there is a batch to send or a linger to start"
	lastSent  time.Time     // when the last batch was handed to the socket; the shipper goroutine's own
	ctx       context.Context
	cancel    context.CancelFunc
	done      sync.WaitGroup // the shipper and reporter goroutines
	closeOnce sync.Once
	closeErr  error
}

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

// droppedTotal is every entry dropped so far, for whatever reason.
func (c *counters) droppedTotal() uint64 {
	var n uint64
	for _, d := range c.dropped {
		n += d
	}
	return n
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
		seq:      make([]uint64, len(eps)),
		inflight: map[*inflight]struct{}{},
		q:        newQueue(cfg.budget, cfg.batchSize, cfg.overflow, header),
		progress: make(chan struct{}),
		dialNews: make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		ctx:      ctx, cancel: cancel,
	}
	s.q.evicted = func(c *chunk) { s.dropChunkLocked(c, queueFull) }
	s.push = zsock.DialPush(eps, zsock.Options{
		SendQueue:    pusherQueue,
		ReconnectMin: cfg.reconnectMin,
		ReconnectMax: cfg.reconnectMax,
		WriteTimeout: cfg.writeTimeout,
		Curve:        cfg.curve,
		OnEvent:      s.onEvent,
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
	case s.q.closed:
		s.dropLocked(closedShipper, sev)
		s.mu.Unlock()
		return
	case size > s.cfg.maxEntry:
		s.dropLocked(tooLarge, sev)
		s.mu.Unlock()
		return
	}
	c, wake := s.q.admit(size, high, nil)
	if c == nil && s.q.overflow == block {
		c, wake = s.q.waitForRoom(&s.mu, size, high, s.cfg.blockTimeout)
	}
	if c == nil {
		reason := queueFull
		if s.q.closed {
			reason = closedShipper
		}
		s.dropLocked(reason, sev)
		s.mu.Unlock()
		return
	}
	c.add(topicName, entry, sev)
	s.count.queued++
	wake = wake || c.count == 1 // a first entry starts the linger
	s.mu.Unlock()
	if wake {
		s.signal()
	}
}

// releaseLocked returns a batch's memory to the budget once it has left.
func (s *Shipper) releaseLocked(c *chunk) {
	s.count.queued -= c.count
	s.q.release(c)
	close(s.progress)
	s.progress = make(chan struct{})
}

func (s *Shipper) dropLocked(r dropReason, sev topic.Severity) {
	s.count.dropped[r]++
	s.count.droppedLevel[sev]++
}

func (s *Shipper) dropChunkLocked(c *chunk, r dropReason) {
	s.count.dropped[r] += uint64(c.count)
	for i, n := range c.levels {
		s.count.droppedLevel[i] += uint64(n)
	}
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
			s.q.seal()
			s.mu.Unlock()
		case <-s.ctx.Done():
			return
		}
		for {
			s.mu.Lock()
			c := s.q.take()
			if c == nil {
				pending := s.q.pending()
				s.mu.Unlock()
				if pending && !armed {
					linger.Reset(s.lingerFor(time.Now()))
					armed = true
				}
				break
			}
			c.frames[0] = c.buf
			b := &inflight{s: s, c: c}
			s.inflight[b] = struct{}{}
			s.mu.Unlock()
			s.lastSent = time.Now()
			if err := s.push.Send(s.ctx, b); err != nil {
				// Closing: put it back for Close to count.
				s.mu.Lock()
				delete(s.inflight, b)
				s.q.putBack(c)
				s.mu.Unlock()
				return
			}
		}
	}
}

// lingerFor is how long a batch just begun may wait to fill: the
// linger, or, when the last batch left less than the pace ago, until the
// pace has passed since then, so that a steady low rate sends fewer,
// fuller messages while the first entry after a quiet spell is not held.
func (s *Shipper) lingerFor(now time.Time) time.Duration {
	return max(s.cfg.linger, s.cfg.pace-now.Sub(s.lastSent))
}

// inflight is a batch the shipper has handed to the socket: the
// zsock.Outgoing through which the socket numbers it for the collector it
// goes to and reports how it ended.
type inflight struct {
	s *Shipper
	c *chunk
}

// Route numbers the batch's entries on the stream of the endpoint it is
// about to be written to, and writes in it how many entries this shipper
// has dropped so far, so each collector sees a gap only where entries
// were lost and knows how many were never sent.
func (b *inflight) Route(endpoint int) {
	s := b.s
	n := uint64(b.c.count)
	s.mu.Lock()
	first := s.seq[endpoint]
	s.seq[endpoint] += n
	dropped := s.count.droppedTotal()
	s.mu.Unlock()
	wire.Stamp(b.c.buf, uint16(endpoint), first, dropped)
}

// Frames is the batch as one single-frame message.
func (b *inflight) Frames() [][]byte { return b.c.frames }

// Unroute gives the numbers back when the write failed: the socket
// unroutes a failed write's batches newest first, so they come off the
// end of the endpoint's stream and the batch is numbered again wherever
// it is written.
func (b *inflight) Unroute(endpoint int) {
	b.s.mu.Lock()
	b.s.seq[endpoint] -= uint64(b.c.count)
	b.s.mu.Unlock()
}

// Finish is the socket reporting that the batch was written, or
// abandoned at Close: either way its memory goes back to the budget.
func (b *inflight) Finish(written bool) {
	s, c := b.s, b.c
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, b)
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
	if e.Kind == zsock.DialFailed || e.Kind == zsock.Connected {
		select { // for a Shutdown deciding whether to wait
		case s.dialNews <- struct{}{}:
		default:
		}
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
	return s.flush(ctx, false)
}

// flush is Flush; with giveUpUnreachable it also stops waiting as soon as
// no collector has ever been reached and every one has refused a dial
// (see Close).
func (s *Shipper) flush(ctx context.Context, giveUpUnreachable bool) error {
	s.mu.Lock()
	s.q.seal()
	target := s.q.nextID
	s.mu.Unlock()
	s.signal()
	var dialNews chan struct{}
	if giveUpUnreachable {
		dialNews = s.dialNews
	}
	for {
		s.mu.Lock()
		remaining := s.waitingBeforeLocked(target)
		progress := s.progress
		s.mu.Unlock()
		if remaining == 0 {
			return nil
		}
		if ctx.Err() != nil { // the caller's deadline is the answer it expects
			return fmt.Errorf("zmqlog: flush: %d entries not yet written to a collector: %w", remaining, ctx.Err())
		}
		if dialNews != nil {
			if reason := s.unreachable(); reason != "" {
				return fmt.Errorf("zmqlog: %d entries not written: %s", remaining, reason)
			}
		}
		select {
		case <-progress:
		case <-dialNews:
		case <-ctx.Done():
			return fmt.Errorf("zmqlog: flush: %d entries not yet written to a collector: %w", remaining, ctx.Err())
		}
	}
}

// unreachable says why no entry can be delivered, or returns "" when one
// may be: when no collector has been connected since the shipper started
// and every one has failed a dial (refused, no such socket, handshake
// failed), nothing queued can leave before the next dial, which is at
// least the reconnect backoff away.
func (s *Shipper) unreachable() string {
	eps := s.push.Stats().Endpoints
	for _, e := range eps {
		if e.Connects > 0 || e.Failures == 0 {
			return ""
		}
	}
	if len(eps) == 1 {
		return "the collector was never reached: " + eps[0].LastError
	}
	return fmt.Sprintf("no collector was ever reached (%d endpoints), last: %s", len(eps), eps[len(eps)-1].LastError)
}

// waitingBeforeLocked counts entries in batches sealed before id target
// that have not left yet.
func (s *Shipper) waitingBeforeLocked(target uint64) int {
	n := s.q.waitingBefore(target)
	for b := range s.inflight {
		if b.c.id < target {
			n += b.c.count
		}
	}
	return n
}

// Close flushes what is queued, waiting at most the close timeout
// (WithFlushTimeout, default 5s), then closes the connections. Entries
// still waiting then are dropped and counted as closed, and the error says
// how many. Ship after Close drops and counts. Close is idempotent.
//
// Close does not wait for delivery that cannot happen: if no collector
// has been connected since the shipper started and every endpoint has
// failed a dial attempt (the collector is down), it returns as soon as
// that is known, without waiting out the timeout, so a short-lived
// program does not pay the timeout on every run while its collector is
// down. A collector that has been reached once, even one that is slow or
// has gone away since, gets the full wait.
func (s *Shipper) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.closeTimeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown is Close with the caller's deadline instead of the close
// timeout: it flushes until ctx ends, then closes; like Close it does not
// wait when no collector has ever been reached. With a context that has
// already ended it returns at once, dropping (and counting) what is still
// queued. Only the first Close or Shutdown does the work; later calls
// return its result.
func (s *Shipper) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.q.close()
		s.mu.Unlock()
		err := s.flush(ctx, true)
		s.cancel()
		s.done.Wait()
		s.push.Close() // finishes what it still held as not written
		s.mu.Lock()
		for _, c := range s.q.drain() {
			s.dropChunkLocked(c, closedShipper)
		}
		s.mu.Unlock()
		s.closeErr = err
	})
	return s.closeErr
}
