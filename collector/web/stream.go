package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/internal/jsonstr"
)

// How a stream reads the history: a chunk at a time, so neither the lock
// it takes nor the event it writes grows with the backlog.
const (
	chunkScan  = 4096
	chunkBytes = 256 << 10
	// grepChunk is how many entries lastMatching reads at once: a
	// pattern of the largest program allowed (grep.go) costs up to a few
	// milliseconds on a 1 KiB entry, and every scan asks whether to stop
	// before each entry it greps, so a client that left, or Close, waits
	// for one entry at most.
	grepChunk = 64
	// writeTimeout bounds each write to a client (set before each one):
	// a client that takes no bytes for this long is closed and counted.
	writeTimeout = 10 * time.Second
	// pace is the shortest time between two events of entries once a
	// stream is live: at a high rate entries go out in fewer, larger
	// events, which a browser handles far better than thousands of small
	// ones.
	pace = 50 * time.Millisecond
)

// stream serves /api/stream: Server-Sent Events carrying the history
// asked for, then the live entries, as one numbered sequence (PROTOCOL.md,
// "Recent history").
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	h := s.c.History()
	if h == nil {
		http.Error(w, "this collector keeps no history (--history-mb 0)", http.StatusNotFound)
		return
	}
	q, err := parseStreamQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case s.streams <- struct{}{}:
	default:
		s.count.busy.Add(1)
		w.Header().Set("Retry-After", "5")
		refuse(w, "too many streams open", http.StatusServiceUnavailable)
		return
	}
	defer func() { <-s.streams }()
	s.count.streamsServed.Add(1)

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	st := &streamState{s: s, w: w, rc: rc, q: &q, done: r.Context().Done()}
	cursor, ok := q.start(h, time.Now(), st.stopped)
	if !ok {
		return
	}
	st.cursor = cursor
	st.joined = h.Next() // before it: history, read at full speed; from it: live
	if err := st.write([]byte("retry: 1000\n\n")); err != nil {
		return
	}
	if q.stats {
		if err := st.sendStats(); err != nil {
			return
		}
	}
	var tick <-chan time.Time
	if q.stats {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	var paced <-chan time.Time
	for {
		if st.stopped() {
			return
		}
		if paced == nil {
			more, err := st.sendEntries(h)
			if err != nil {
				return
			}
			if more {
				continue
			}
		}
		changed := h.Changed()
		if paced == nil && h.Next() > st.cursor {
			continue
		}
		select {
		case <-changed:
			if paced == nil && st.cursor >= st.joined {
				paced = time.After(pace)
			}
		case <-paced:
			paced = nil
		case <-tick:
			if err := st.sendStats(); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
}

// streamState is one stream's position and what it owes its client.
type streamState struct {
	s      *Server
	w      http.ResponseWriter
	rc     *http.ResponseController
	q      *streamQuery
	cursor uint64 // the next position to read
	joined uint64 // the newest position when it connected
	missed uint64 // in all, told to the client
	read   collector.HistoryRead
	buf    []byte
	done   <-chan struct{} // the request's: its client left
}

// errStopped ends a stream whose client left or whose server is closing.
var errStopped = errors.New("stream stopped")

// stopped reports whether the client left or the server is closing: every
// scan asks between chunks, so neither waits for a long catch-up.
func (st *streamState) stopped() bool {
	select {
	case <-st.done:
		return true
	case <-st.s.stop:
		return true
	default:
		return false
	}
}

// keepBuffer is the largest buffer a stream keeps between events: one
// large entry makes them grow, and an idle stream must not hold that for
// its whole life.
const keepBuffer = 2 * chunkBytes

// trim drops what one large entry made the stream's buffers grow to.
func (st *streamState) trim() {
	if cap(st.buf) > keepBuffer {
		st.buf = nil
	}
	st.read.Trim(keepBuffer)
}

// sendEntries reads one chunk from the cursor and sends what the filter
// keeps. It reports whether more is there to read at once.
func (st *streamState) sendEntries(h *collector.History) (bool, error) {
	var skipped uint64
	if st.cursor >= st.joined {
		// Live: a stream more than MaxLag behind skips ahead; the history
		// asked for when it joined is sent whole (as long as the ring
		// holds it).
		if next := h.Next(); next-st.cursor > uint64(st.s.opts.MaxLag) {
			skipped = next - uint64(st.s.opts.MaxLag) - st.cursor
			st.cursor += skipped
		}
	}
	h.Read(st.cursor, &st.q.filter, chunkScan, chunkBytes, &st.read)
	defer st.trim()
	missed := skipped + st.read.Missed
	more := st.read.Next < h.Next()
	if st.read.Next == st.cursor && missed == 0 {
		return false, nil
	}
	st.cursor = st.read.Next
	b := st.buf[:0]
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, st.cursor-1, 10)
	b = append(b, "\nevent: entries\ndata: {\"missed\":"...)
	b = strconv.AppendUint(b, missed, 10)
	b = append(b, `,"entries":[`...)
	n := 0
	for _, e := range st.read.Entries {
		if st.q.grep != nil {
			if st.stopped() { // a costly pattern: asked before each entry
				return false, errStopped
			}
			if !st.q.grep.Match(e.Line) {
				continue
			}
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, e.Seq, 10)
		b = append(b, `,"t":`...)
		b = strconv.AppendInt(b, e.Time.UnixMilli(), 10)
		b = append(b, `,"topic":`...)
		b = jsonstr.Append(b, string(e.Topic))
		// The line is one valid JSON object on one line: the collector
		// checked (or wrapped) it at ingest, and compacted it.
		b = append(b, `,"entry":`...)
		b = append(b, e.Line...)
		b = append(b, '}')
	}
	b = append(b, "]}\n\n"...)
	st.buf = b
	if n == 0 && missed == 0 {
		// Nothing kept: the position still moves on, with no event (the
		// next one's id carries it).
		return more, nil
	}
	st.missed += missed
	st.s.count.missed.Add(missed)
	st.s.count.sent.Add(uint64(n))
	return more, st.write(b)
}

// sendStats sends the page's once-a-second figures, and this stream's
// misses.
func (st *streamState) sendStats() error {
	b := append(st.buf[:0], "event: stats\ndata: {\"missed\":"...)
	b = strconv.AppendUint(b, st.missed, 10)
	b = append(b, `,"shared":`...)
	b = append(b, st.s.shared.get(st.s)...)
	b = append(b, "}\n\n"...)
	st.buf = b
	defer st.trim()
	return st.write(b)
}

// write sends b within writeTimeout.
func (st *streamState) write(b []byte) error {
	st.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := st.w.Write(b)
	if err == nil {
		err = st.rc.Flush()
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		st.s.count.slowClosed.Add(1)
	}
	return err
}
