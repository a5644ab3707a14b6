package collector

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/zmqlog/zmqlog/topic"
)

// The records' budget must use what a record really costs.
func TestRecordBytesIsWhatARecordCosts(t *testing.T) {
	if got := unsafe.Sizeof(record{}); got != recordBytes {
		t.Fatalf("a record is %d bytes; the budget counts %d", got, recordBytes)
	}
}

// Start scans in chunks, letting the lock go between them: what it finds
// across chunk boundaries is what one scan would.
func TestStartFindsTheLastNAcrossChunks(t *testing.T) {
	h := NewHistory(8 << 20)
	const total = 5 * startChunk
	for i := range total {
		tp := "INFO.a"
		if i%(startChunk+7) == 0 {
			tp = "ERROR.a"
		}
		h.Append([][]byte{[]byte(tp), fmt.Appendf(nil, `{"i":%d}`, i)}, time.Now())
	}
	var errs []uint64 // seqs of the errors, oldest first (seq = i+1)
	for i := range total {
		if i%(startChunk+7) == 0 {
			errs = append(errs, uint64(i+1))
		}
	}
	f := HistoryFilter{MinSeverity: topic.Error}
	for n := 1; n <= len(errs); n++ {
		if got, want := h.Start(&f, n), errs[len(errs)-n]; got != want {
			t.Fatalf("last %d errors start at %d, want %d", n, got, want)
		}
	}
	if got := h.Start(&f, len(errs)+1); got != 1 {
		t.Fatalf("more errors than held: start %d, want the oldest, 1", got)
	}
	none := HistoryFilter{Apps: []string{"nope"}}
	if got := h.Start(&none, 10); got != 1 {
		t.Fatalf("nothing kept: start %d, want the oldest, 1", got)
	}
}

// A Start that scans the whole ring (a filter nothing passes) lets the
// ingest lock go between chunks, and an eviction meanwhile is respected.
func TestStartLetsTheLockGoBetweenChunks(t *testing.T) {
	h := NewHistory(8 << 20)
	for i := range 5 * startChunk {
		h.Append([][]byte{[]byte("INFO.a"), fmt.Appendf(nil, `{"i":%d}`, i)}, time.Now())
	}
	free := 0
	betweenStartChunks = func(h *History) {
		if !h.mu.TryLock() {
			t.Error("Start holds the lock between chunks")
			return
		}
		h.mu.Unlock()
		free++
	}
	defer func() { betweenStartChunks = nil }()
	none := HistoryFilter{Apps: []string{"nope"}}
	if got := h.Start(&none, 1_000_000); got != 1 {
		t.Fatalf("nothing kept: start %d, want the oldest, 1", got)
	}
	if free < 4 {
		t.Fatalf("the lock went free %d times over %d records; want once per %d", free, 5*startChunk, startChunk)
	}
}
