package vlsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Sink. Zero fields take the defaults shown.
type Config struct {
	// URLs are VictoriaLogs servers or cluster insert nodes (see
	// ParseURLs); requests are balanced across them, with failover.
	URLs []string
	// StoreFile is the collector's store file, which the sink follows;
	// "" means there is none and lines come through Offer.
	StoreFile string
	// CursorFile keeps the sink's position across restarts (required with
	// a StoreFile), written with FileMode (default 0600) each time
	// VictoriaLogs acknowledges more (saves coalesce under load).
	CursorFile string
	FileMode   os.FileMode
	// BatchBytes bounds a request's body (default 1 MiB; a longer line
	// goes alone); Linger is how long lines wait for a batch to fill
	// (default 200ms).
	BatchBytes int
	Linger     time.Duration
	// InFlight is how many requests may be under way at once (default
	// DefaultInFlight).
	InFlight int
	// Timeout bounds one request (default 30s).
	Timeout time.Duration
	// Gzip compresses request bodies. On a fast network it costs more CPU
	// than it saves (see the README's figures); over a slow link it pays.
	Gzip bool
	// MemoryBytes bounds the lines held without a StoreFile (default
	// 64 MiB); past it lines are dropped and counted.
	MemoryBytes int
	// StoredEntries, if set, says how many entries the store has written
	// to its file since start: the sink's lag is measured against it.
	StoredEntries func() uint64
	// Report receives the sink's problems (kind, error); the caller rate
	// limits them.
	Report func(kind string, err error)
}

// DefaultInFlight is Config.InFlight's default.
const DefaultInFlight = 4

// Descriptors is the most file descriptors a sink with inFlight requests
// under way at once (0: DefaultInFlight) keeps open sending to urls
// insert nodes: the store files it holds while it catches up and the one
// it reads, the next one opened before the last is closed, a listing of
// the store's directory, its cursor file being replaced, and its
// connections (one per request under way, and those the HTTP client keeps
// idle for each node). A program that runs a sink keeps these free of its
// listeners' connections.
func Descriptors(urls, inFlight int) int {
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	return maxHeld + 4 + inFlight + urls*(inFlight+1)
}

// Sink sends the collector's entries to VictoriaLogs.
//
//	store file ─▶ follower ─▶ batches ─▶ InFlight senders ─▶ /insert/jsonline (node 1, node 2 …)
//	(or Offer ─▶ memory buffer)              │
//	                                 tracker ◀─┘ acknowledgements ─▶ cursor file (as it advances, and at Close)
type Sink struct {
	cfg     Config
	client  *client
	follow  *follower // nil: memory mode
	mem     *memBuffer
	track   *tracker
	backoff backoff

	batches  chan job
	wake     chan struct{}
	advanced chan struct{} // the cursor moved: save it
	drain    chan struct{} // closed by Close: send what is left, then stop
	ctx      context.Context
	cancel   context.CancelFunc
	workers  sync.WaitGroup
	saver    sync.WaitGroup
	stopped  chan struct{} // closed when reader and senders are done
	started  atomic.Bool
	once     sync.Once

	count struct {
		sent, sentBytes, retries, rejected                 atomic.Uint64
		partialLine, tooLong, shutdown, lostFiles, lostLen atomic.Uint64
		rotatedOut                                         atomic.Uint64
		inFlight                                           atomic.Int64
		cursorErrors                                       atomic.Uint64
	}
	bufs         sync.Pool    // *[]byte of BatchBytes: batches' buffers, reused once sent
	baseline     atomic.Int64 // lag = baseline + stored − acked − skipped
	lastCaughtUp atomic.Int64 // unix nanoseconds
}

type job struct {
	seq     uint64
	data    []byte
	entries int
	end     position
	hasEnd  bool
}

// pollEvery is how often the sink looks at the store when no write has
// woken it: rotation and other writers are seen this late at most.
const pollEvery = 100 * time.Millisecond

// New checks cfg and finds where to start: the saved cursor, or the live
// file's end on a first start (the cursor is saved at once, so a crash
// before the first second loses nothing).
func New(cfg Config) (*Sink, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("vlsink: no VictoriaLogs URL")
	}
	if cfg.FileMode == 0 {
		cfg.FileMode = 0o600
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 1 << 20
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 200 * time.Millisecond
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = DefaultInFlight
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MemoryBytes <= 0 {
		cfg.MemoryBytes = 64 << 20
	}
	if cfg.Report == nil {
		cfg.Report = func(string, error) {}
	}
	s := &Sink{
		cfg:      cfg,
		client:   newClient(cfg.URLs, cfg.Timeout, cfg.InFlight, cfg.Gzip),
		backoff:  backoff{base: 100 * time.Millisecond, ceiling: 5 * time.Second},
		batches:  make(chan job, cfg.InFlight),
		wake:     make(chan struct{}, 1),
		advanced: make(chan struct{}, 1),
		drain:    make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.lastCaughtUp.Store(time.Now().UnixNano())
	if cfg.StoreFile == "" {
		s.mem = &memBuffer{limit: cfg.MemoryBytes, maxChunk: cfg.BatchBytes}
		s.track = newTracker(position{}, false)
		return s, nil
	}
	if cfg.CursorFile == "" {
		return nil, errors.New("vlsink: a store file to follow needs a cursor file")
	}
	start, have, err := loadCursor(cfg.CursorFile)
	if err != nil {
		// A damaged cursor must not keep the collector down: start at
		// the store's end, and say so.
		cfg.Report("victorialogs", fmt.Errorf("%v; starting at the end of the store", err))
		have = false
	}
	s.follow = &follower{live: cfg.StoreFile, maxBatch: cfg.BatchBytes, maxLine: max(cfg.BatchBytes, 16<<20), lost: s.lost, buffer: s.buffer}
	if err := s.follow.open(start, have); err != nil {
		return nil, fmt.Errorf("vlsink: %w", err)
	}
	s.track = newTracker(s.follow.pos, true)
	s.track.onAdvance = func() {
		select {
		case s.advanced <- struct{}{}:
		default:
		}
	}
	s.baseline.Store(int64(s.backlog()))
	if !have {
		if err := saveCursor(cfg.CursorFile, cfg.FileMode, s.follow.pos); err != nil {
			s.follow.close()
			return nil, fmt.Errorf("vlsink: cursor file %s: %w", cfg.CursorFile, err)
		}
	}
	return s, nil
}

// backlog counts the lines after the start position, for the lag.
func (s *Sink) backlog() uint64 {
	f := s.follow
	n, _ := countLines(f.f, f.pos.Offset)
	for _, h := range f.held {
		k, _ := countLines(h.file, 0)
		n += k
	}
	return n
}

// lost counts what the follower could not send.
func (s *Sink) lost(files int, bytes int64, entries uint64, reason string) {
	switch reason {
	case "rotated_out":
		s.count.lostFiles.Add(uint64(files))
		s.count.lostLen.Add(uint64(max(bytes, 0)))
		s.count.rotatedOut.Add(entries)
		if files > 0 {
			s.cfg.Report("victorialogs_lost", fmt.Errorf("the store file the VictoriaLogs cursor names was rotated out while the collector was down: its unsent entries are lost (%s)", s.cfg.StoreFile))
		} else {
			s.cfg.Report("victorialogs_lost", fmt.Errorf("%d stored entries were rotated out before VictoriaLogs took them: keep more backups (%s)", entries, s.cfg.StoreFile))
		}
	case "partial_line":
		s.count.partialLine.Add(entries)
		s.cfg.Report("victorialogs_lost", fmt.Errorf("skipped %d bytes at the end of a rotated store file: not a whole line", bytes))
	case "too_long":
		s.count.tooLong.Add(entries)
		s.cfg.Report("victorialogs_lost", fmt.Errorf("skipped a line of %d bytes in the store: longer than %d", bytes, s.follow.maxLine))
	}
}

// Start starts following and sending.
func (s *Sink) Start() {
	if !s.started.CompareAndSwap(false, true) {
		return
	}
	s.workers.Add(1 + s.cfg.InFlight)
	go s.readLoop()
	for range s.cfg.InFlight {
		go s.sender()
	}
	go func() { s.workers.Wait(); close(s.stopped) }()
	if s.follow != nil {
		s.saver.Add(1)
		go s.saveLoop()
	}
}

// Written tells the sink the store has written lines: it need not wait
// for its next look.
func (s *Sink) Written() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Offer hands the sink a line when there is no store file (see
// AppendLine for stamp). It never waits: past Config.MemoryBytes the line
// is dropped and counted.
func (s *Sink) Offer(stamp, line []byte) {
	if s.mem == nil {
		return
	}
	if !s.mem.add(stamp, line) {
		s.cfg.Report("victorialogs_buffer", errors.New("VictoriaLogs is not keeping up and there is no store file to catch up from: entries dropped"))
		return
	}
	s.Written()
}

func (s *Sink) readLoop() {
	defer s.workers.Done()
	defer close(s.batches)
	var pendingSince time.Time
	timer := time.NewTimer(pollEvery)
	defer timer.Stop()
	drain := s.drain
	for {
		draining := drain == nil
		force := draining || (!pendingSince.IsZero() && time.Since(pendingSince) >= s.cfg.Linger)
		var stored uint64
		if s.cfg.StoredEntries != nil {
			stored = s.cfg.StoredEntries() // before reading: see noteCaughtUp
		}
		j, res := s.next(force)
		switch res {
		case readBatch:
			pendingSince = time.Time{}
			s.count.inFlight.Add(int64(j.entries))
			if !s.send(j) {
				return
			}
			continue
		case readSwitched:
			s.track.acked(j.seq, ack{end: j.end, hasEnd: true})
			continue
		case readPartial:
			if pendingSince.IsZero() {
				pendingSince = time.Now()
			}
		case readNothing:
			pendingSince = time.Time{}
			s.noteCaughtUp(stored)
			if draining {
				return
			}
		}
		wait := pollEvery
		if !pendingSince.IsZero() {
			wait = max(time.Until(pendingSince.Add(s.cfg.Linger)), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-s.wake:
		case <-timer.C:
		case <-drain:
			drain = nil
		case <-s.ctx.Done():
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// send queues a batch for the senders. While they are busy (VictoriaLogs
// slow or down) the follower goes on looking at the store, so that files
// the rotation removes are held, or counted when let go; if that moves it
// to another file, the cursor's move there is queued after the batch.
func (s *Sink) send(j job) bool {
	var look <-chan time.Time
	if s.follow != nil {
		t := time.NewTicker(lookEvery)
		defer t.Stop()
		look = t.C
	}
	moved := false
	for {
		select {
		case s.batches <- j:
			if moved {
				s.track.acked(s.track.issue(), ack{end: s.follow.pos, hasEnd: true})
			}
			return true
		case <-look:
			if !s.follow.isLive() && s.follow.look() {
				moved = true
			}
		case <-s.ctx.Done():
			return false
		}
	}
}

// next reads the next batch from the store or the memory buffer.
func (s *Sink) next(force bool) (job, readResult) {
	if s.mem != nil {
		data, entries, ok := s.mem.take(force)
		if !ok {
			if n, _ := s.mem.counts(); n > 0 {
				return job{}, readPartial
			}
			return job{}, readNothing
		}
		return job{seq: s.track.issue(), data: data, entries: entries}, readBatch
	}
	data, res, err := s.follow.read(force)
	if err != nil {
		s.cfg.Report("victorialogs_store", fmt.Errorf("reading the store %s: %w", s.follow.pos.Path, err))
	}
	switch res {
	case readBatch:
		return job{seq: s.track.issue(), data: data, entries: countNewlines(data), end: s.follow.pos, hasEnd: true}, res
	case readSwitched:
		return job{seq: s.track.issue(), end: s.follow.pos, hasEnd: true}, res
	}
	return job{}, res
}

// noteCaughtUp re-bases the lag once everything the store had written
// (stored, taken before the read that found nothing more) is
// acknowledged: the lag is then zero, whatever was lost on the way.
func (s *Sink) noteCaughtUp(stored uint64) {
	if !s.track.settled() {
		return
	}
	if s.follow != nil {
		s.baseline.Store(int64(s.track.ackedEntries()+s.skipped()) - int64(stored))
	}
	s.lastCaughtUp.Store(time.Now().UnixNano())
}

func (s *Sink) skipped() uint64 {
	return s.count.partialLine.Load() + s.count.tooLong.Load() + s.count.rotatedOut.Load()
}

func (s *Sink) sender() {
	defer s.workers.Done()
	for j := range s.batches {
		s.deliver(j)
		s.release(j.data)
	}
}

// buffer returns a buffer of n bytes for a batch read from the store:
// a batch's worth comes from a pool, so following the store costs no
// garbage; a longer line gets its own.
func (s *Sink) buffer(n int) []byte {
	if n > s.cfg.BatchBytes {
		return make([]byte, n)
	}
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, s.cfg.BatchBytes)
}

// release returns a sent batch's buffer to the pool. A memory-mode
// chunk, or one a line outgrew, is left to the garbage collector.
func (s *Sink) release(data []byte) {
	if s.follow != nil && cap(data) == s.cfg.BatchBytes {
		data = data[:0]
		s.bufs.Put(&data)
	}
}

// deliver sends one batch until VictoriaLogs takes it, refuses it for
// good (counted), or Close runs out of time.
func (s *Sink) deliver(j job) {
	defer s.count.inFlight.Add(-int64(j.entries))
	round := 0
	for attempt := 1; ; attempt++ {
		err := s.client.post(s.ctx, j.data)
		if err == nil {
			s.count.sent.Add(uint64(j.entries))
			s.count.sentBytes.Add(uint64(len(j.data)))
			s.track.acked(j.seq, ack{end: j.end, hasEnd: j.hasEnd, entries: j.entries})
			return
		}
		if s.ctx.Err() != nil {
			if s.mem != nil {
				s.count.shutdown.Add(uint64(j.entries)) // nowhere to keep it
			}
			return // in the store after the cursor: sent after the next start
		}
		var pe *postError
		if errors.As(err, &pe) && pe.permanent {
			s.count.rejected.Add(uint64(j.entries))
			s.cfg.Report("victorialogs_rejected", fmt.Errorf("%w: dropped %d entries", err, j.entries))
			s.track.acked(j.seq, ack{end: j.end, hasEnd: j.hasEnd, entries: j.entries})
			return
		}
		s.count.retries.Add(1)
		s.cfg.Report("victorialogs", err)
		if attempt%len(s.client.nodes) != 0 {
			continue // another node may take it now
		}
		t := time.NewTimer(s.backoff.wait(round))
		round++
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
	}
}

// saveLoop saves the cursor each time it advances, as soon as the last
// save is done (saves coalesce under load): a collector killed outright
// sends again only the requests that were in flight, and what was
// acknowledged during one save.
func (s *Sink) saveLoop() {
	defer s.saver.Done()
	for {
		select {
		case <-s.advanced:
			s.saveCursor()
		case <-s.stopped:
			return
		}
	}
}

func (s *Sink) saveCursor() {
	if s.follow == nil {
		return
	}
	p, changed := s.track.cursor()
	if !changed {
		return
	}
	if err := saveCursor(s.cfg.CursorFile, s.cfg.FileMode, p); err != nil {
		s.track.undo()
		s.count.cursorErrors.Add(1)
		s.cfg.Report("victorialogs_cursor", fmt.Errorf("saving the VictoriaLogs cursor %s: %w", s.cfg.CursorFile, err))
	}
}

// Close sends what is left (the store read to its end, or the memory
// buffer emptied) for at most drain, then abandons the requests still
// under way, saves the cursor and returns. What was not sent stays in
// the store after the cursor, and the next start sends it; without a
// store it is counted as dropped. Close may be called more than once.
func (s *Sink) Close(drain time.Duration) error {
	s.once.Do(func() {
		close(s.drain)
		if s.started.Load() {
			t := time.NewTimer(drain)
			select {
			case <-s.stopped:
			case <-t.C:
				s.cancel()
				<-s.stopped
			}
			t.Stop()
			s.saver.Wait()
		}
		s.cancel()
		s.saveCursor()
		if s.mem != nil {
			n, _ := s.mem.counts()
			s.count.shutdown.Add(uint64(n))
		}
		if s.follow != nil {
			s.follow.close()
		}
		s.client.close()
	})
	return nil
}

func countNewlines(b []byte) int { return bytes.Count(b, []byte{'\n'}) }
