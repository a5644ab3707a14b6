package vlsink

import "sync"

// tracker turns acknowledgements, which come back in any order from the
// requests in flight, into the cursor: the position after which nothing
// is unacknowledged. A batch acknowledged early waits for the ones before
// it, so a crash never skips an unsent batch; at worst the batches in
// flight after the cursor are sent again (duplicates, at most the
// requests in flight).
type tracker struct {
	mu      sync.Mutex
	next    uint64 // the oldest batch not yet acknowledged
	issued  uint64 // batches handed out
	done    map[uint64]ack
	pos     position
	hasPos  bool
	dirty   bool
	entries uint64 // entries of the batches behind the cursor
	// onAdvance, if set, is called (under the lock: it must not block)
	// when the cursor moves.
	onAdvance func()
}

type ack struct {
	end     position
	hasEnd  bool
	entries int
}

func newTracker(start position, has bool) *tracker {
	return &tracker{done: map[uint64]ack{}, pos: start, hasPos: has}
}

// issue numbers the next batch.
func (t *tracker) issue() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.issued++
	return t.issued - 1
}

// acked records that batch seq is in VictoriaLogs (or given up on, and
// counted), ending at end.
func (t *tracker) acked(seq uint64, a ack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[seq] = a
	for {
		a, ok := t.done[t.next]
		if !ok {
			return
		}
		delete(t.done, t.next)
		t.next++
		t.entries += uint64(a.entries)
		if a.hasEnd {
			t.pos, t.hasPos, t.dirty = a.end, true, true
			if t.onAdvance != nil {
				t.onAdvance()
			}
		}
	}
}

// cursor returns the position to save, if it changed since the last call.
func (t *tracker) cursor() (position, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.dirty || !t.hasPos {
		return position{}, false
	}
	t.dirty = false
	return t.pos, true
}

// undo marks the cursor unsaved again, after a failed save.
func (t *tracker) undo() {
	t.mu.Lock()
	t.dirty = true
	t.mu.Unlock()
}

// settled reports whether every batch handed out is acknowledged.
func (t *tracker) settled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next == t.issued
}

func (t *tracker) ackedEntries() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries
}
