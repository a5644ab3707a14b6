package collector

import (
	"slices"
	"sync"
	"time"

	"github.com/zmqlog/zmqlog/topic"
)

// History is the collector's recent past: the latest entries it
// published, with their topics, arrival times and a sequence number of the
// collector's own, in a ring bounded in bytes (Config.HistoryBytes). It is
// what a late joiner reads: zmqcollect's --http page and `zmqtail --since`
// start from it and then follow it live, so history and live are one
// numbered sequence and the seam between them can neither repeat nor skip
// an entry (PROTOCOL.md, "Recent history").
//
//	ingest ─append(batch)─▶ [ oldest … newest ] ─Read(from seq)─▶ each reader, at its own pace
//	                           evicted when the ring is full ▲
//
// A reader is only a position (a sequence number): it costs ingest nothing
// while it is behind, and a reader that falls behind the oldest entry
// held misses the evicted ones and is told how many. Ingest holds the lock
// for one copy per batch; a reader holds it for one bounded chunk.
type History struct {
	mu   sync.Mutex
	data []byte   // the entries' topic and line bytes, a circular arena
	recs []record // circular, one per entry held: recs[seq & mask]
	mask uint64   // len(recs) − 1, a power of two: no division per entry
	// pos is where the next entry's bytes go, counted from the start;
	// off is the same place in data (pos mod len(data)), kept rather than
	// divided for. Entries never wrap: one that would is placed at the
	// arena's start.
	pos, off    uint64
	first, next uint64 // entries held: first … next−1; seq 0 is never used
	lastAt      int64  // arrival times never go back, so Since can bisect
	changed     chan struct{}
	waiting     bool
	rates       levelRates
	tooLarge    uint64 // entries not kept: larger than an eighth of the arena
	evicted     uint64
}

// record is what the ring keeps per entry besides its bytes.
type record struct {
	pos  uint64 // where its topic starts, counted as History.pos
	at   int64  // arrival, unix nanoseconds
	off  uint32 // where its topic starts in the arena
	n    uint32 // topic + line bytes
	tlen uint16
	sev  uint8 // a topic.Severity: one byte keeps the record at 32
}

// recordBytes is what one record costs, for the budget: a ring of B bytes
// keeps at most B/historyBytesPerRecord entries, so tiny entries cannot
// make the records outgrow it. A test holds it to unsafe.Sizeof(record{}).
const (
	recordBytes           = 32
	historyBytesPerRecord = 160
)

// NewHistory returns a ring holding at most about budget bytes: a fifth
// for records, the rest for the entries' bytes. The arena is allocated
// at once (outside the Go heap where it can be: see newArena) but the
// operating system only backs the pages written.
func NewHistory(budget int64) *History {
	nrec := int64(16)
	for nrec < budget/historyBytesPerRecord && nrec*recordBytes < budget/4 {
		nrec *= 2
	}
	arena := min(max(budget-nrec*recordBytes, 4096), 1<<32-1) // offsets are uint32
	h := &History{recs: make([]record, nrec), mask: uint64(nrec - 1), first: 1, next: 1, changed: make(chan struct{})}
	h.data = newArena(h, int(arena))
	return h
}

// Append adds a batch of entries (frames holds [topic, line] pairs, each
// line one JSON object on one line, as the collector publishes them) that
// arrived at at. It copies what it keeps. The collector calls it for every
// batch it publishes.
func (h *History) Append(frames [][]byte, at time.Time) {
	now := at.UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	now = max(now, h.lastAt) // a wall clock set back must not unsort the ring
	h.lastAt = now
	added := false
	for i := 0; i+1 < len(frames); i += 2 {
		tp, line := frames[i], frames[i+1]
		n := uint64(len(tp) + len(line))
		if len(tp) > 0xFFFF || n > uint64(len(h.data)/8) {
			h.tooLarge++ // not kept; the store and subscribers still have it
			continue
		}
		size := uint64(len(h.data))
		if h.off+n > size {
			h.pos += size - h.off // to the arena's start
			h.off = 0
		}
		// Evict what these bytes overwrite, and the oldest record if the
		// records are full.
		overwritten := h.pos + n - min(h.pos+n, size) // positions before this are gone
		for h.first < h.next && (h.recs[h.first&h.mask].pos < overwritten || h.next-h.first > h.mask) {
			h.first++
			h.evicted++
		}
		copy(h.data[h.off:], tp)
		copy(h.data[h.off+uint64(len(tp)):], line)
		sev := topic.SeverityOf(string(tp))
		h.recs[h.next&h.mask] = record{pos: h.pos, at: now, off: uint32(h.off), n: uint32(n), tlen: uint16(len(tp)), sev: uint8(sev)}
		h.pos += n
		h.off += n
		h.next++
		h.rates.add(now, sev)
		added = true
	}
	if added && h.waiting {
		close(h.changed)
		h.changed, h.waiting = make(chan struct{}), false
	}
}

// HistoryEntry is one entry read from the History. Topic and Line are
// copies the reader owns until its next Read with the same scratch.
type HistoryEntry struct {
	Seq      uint64
	Time     time.Time
	Topic    []byte
	Line     []byte
	Severity topic.Severity
}

// HistoryFilter selects entries: at or above MinSeverity (Unknown: every
// entry, including those whose level zmqlog does not know), from one of
// Apps (none: every app), arrived at or after Since (zero: any time).
type HistoryFilter struct {
	MinSeverity topic.Severity
	Apps        []string
	Since       time.Time
}

func (f *HistoryFilter) keep(r *record, tp []byte) bool {
	if f.MinSeverity != topic.Unknown && topic.Severity(r.sev) < f.MinSeverity {
		return false
	}
	if !f.Since.IsZero() && r.at < f.Since.UnixNano() {
		return false
	}
	return len(f.Apps) == 0 || slices.Contains(f.Apps, topic.App(string(tp)))
}

// HistoryRead is the result of one Read.
type HistoryRead struct {
	Entries []HistoryEntry
	// Next is where the following Read starts.
	Next uint64
	// Missed counts entries between the position asked for and Next that
	// the ring no longer held (evicted before this reader got to them).
	Missed uint64
	buf    []byte
}

// Read returns entries from position from on that f keeps, scanning at
// most maxScan entries and copying at most maxBytes (always at least one
// entry, when one is kept), into scratch, which it reuses. It never
// waits.
func (h *History) Read(from uint64, f *HistoryFilter, maxScan, maxBytes int, scratch *HistoryRead) {
	scratch.Trim(max(2*maxBytes, 64<<10)) // grown for one large entry earlier
	buf := scratch.bytes()
	scratch.Entries, scratch.Missed = scratch.Entries[:0], 0
	h.mu.Lock()
	defer h.mu.Unlock()
	if from < h.first {
		scratch.Missed = h.first - from
		from = h.first
	}
	from = min(from, h.next)
	for ; from < h.next && maxScan > 0; from, maxScan = from+1, maxScan-1 {
		r := &h.recs[from&h.mask]
		b := h.data[r.off : r.off+r.n]
		if !f.keep(r, b[:r.tlen]) {
			continue
		}
		if len(scratch.Entries) > 0 && len(buf)+int(r.n) > maxBytes {
			break
		}
		start := len(buf)
		buf = append(buf, b...)
		scratch.Entries = append(scratch.Entries, HistoryEntry{Seq: from, Time: time.Unix(0, r.at),
			Topic: buf[start : start+int(r.tlen) : start+int(r.tlen)], Line: buf[start+int(r.tlen) : len(buf) : len(buf)], Severity: topic.Severity(r.sev)})
	}
	scratch.Next = from
	scratch.buf = buf
}

// bytes returns the scratch's buffer, emptied. The entries of an earlier
// Read point into it; a Read that outgrows it gets a new one.
func (r *HistoryRead) bytes() []byte {
	if cap(r.buf) > 0 {
		return r.buf[:0]
	}
	return make([]byte, 0, 64<<10)
}

// Trim drops the scratch's buffer if one large entry made it grow past
// keep bytes, so a reader that goes idle after it does not hold it for
// its whole life. The entries read into it must no longer be used.
func (r *HistoryRead) Trim(keep int) {
	if cap(r.buf) > keep {
		r.buf = nil
		r.Entries = nil
	}
}

// Start returns where a reader that wants what f keeps of the last n
// entries (n 0: all it keeps) begins, scanning back from the newest; with
// f.Since set it is the first entry at or after it. The entries of the
// last n are counted by f's level, app and time only. It holds the lock
// for startChunk records at a time, so ingest never waits for a scan of
// the whole ring.
func (h *History) Start(f *HistoryFilter, n int) uint64 {
	h.mu.Lock()
	start := h.first
	if !f.Since.IsZero() {
		since := f.Since.UnixNano()
		lo, hi := h.first, h.next
		for lo < hi { // the first seq arrived at or after since
			mid := lo + (hi-lo)/2
			if h.recs[mid&h.mask].at < since {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		start = lo
	}
	s := h.next
	h.mu.Unlock()
	if n <= 0 {
		return start
	}
	for {
		h.mu.Lock()
		start = max(start, h.first) // evicted while the lock was free
		stop := max(start, s-min(s, startChunk))
		for ; s > stop; s-- {
			r := &h.recs[(s-1)&h.mask]
			if f.keep(r, h.data[r.off:r.off+uint32(r.tlen)]) {
				if n--; n == 0 {
					h.mu.Unlock()
					return s - 1
				}
			}
		}
		h.mu.Unlock()
		if s <= start {
			return start
		}
		if betweenStartChunks != nil {
			betweenStartChunks(h)
		}
	}
}

// startChunk is how many records Start scans per hold of the lock.
const startChunk = 4096

// betweenStartChunks, set by tests only, runs while Start holds no lock.
var betweenStartChunks func(*History)

// Next is the position the next entry appended will have: a reader that
// starts there sees only what arrives from now on.
func (h *History) Next() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next
}

// Changed returns a channel closed when an entry is appended after the
// call; check Next after taking it, then wait on it.
func (h *History) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waiting = true
	return h.changed
}

// HistoryStats says what the ring holds and what it could not keep.
type HistoryStats struct {
	// Entries held now, oldest First; Bytes of the arena they take.
	Entries, First, Next uint64
	Bytes, Capacity      int64
	// Evicted counts entries pushed out by newer ones; TooLarge entries
	// never kept, being over an eighth of the ring.
	Evicted, TooLarge uint64
	// Oldest is the arrival time of the oldest entry held.
	Oldest time.Time
}

// Stats returns what the ring holds.
func (h *History) Stats() HistoryStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := HistoryStats{Entries: h.next - h.first, First: h.first, Next: h.next, Capacity: int64(len(h.data) + len(h.recs)*recordBytes),
		Evicted: h.evicted, TooLarge: h.tooLarge}
	if st.Entries > 0 {
		r := h.recs[h.first&h.mask]
		st.Oldest = time.Unix(0, r.at)
		st.Bytes = int64(h.pos - r.pos)
	}
	return st
}

// Rates returns, for each of the last n seconds up to now (oldest
// first), how many entries of each severity arrived in it.
func (h *History) Rates(now time.Time, n int) []SecondRates {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rates.last(now.Unix(), n)
}

// History returns the collector's recent entries, or nil when it keeps
// none (Config.HistoryBytes).
func (c *Collector) History() *History { return c.history }
