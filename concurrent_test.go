package zmqlog

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// stressEntry is goroutine g's entry number i: "g-i-" and a body whose
// length and bytes both follow from i, so that an entry copied into the
// wrong place, cut short or overwritten by another is seen.
func stressEntry(g, i int) []byte {
	head := fmt.Sprintf("%d-%d-", g, i)
	return append([]byte(head), bytes.Repeat([]byte{'a' + byte(i%26)}, 20+i%300)...)
}

// checkStressEntry parses an entry made by stressEntry, failing the test
// if its body is not what its head says.
func checkStressEntry(t *testing.T, data string) (g, i int) {
	t.Helper()
	parts := strings.SplitN(data, "-", 3)
	if len(parts) != 3 {
		t.Fatalf("malformed entry %q", data)
	}
	g, err1 := strconv.Atoi(parts[0])
	i, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || string(stressEntry(g, i)) != data {
		t.Fatalf("corrupt entry %q", data)
	}
	return g, i
}

// shipConcurrently has each of goroutines ship n entries, all at once.
func shipConcurrently(s *Shipper, goroutines, n int) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range n {
				level := "INFO"
				if i%97 == 0 {
					level = "ERROR" // some take the reserve's way, under the mutex
				}
				s.Ship(level, stressEntry(g, i))
			}
		}()
	}
	close(start)
	wg.Wait()
}

// Many goroutines log at once through small batches, so that batches
// fill, are sealed and are reused while others ship: every entry arrives
// whole, once, and each goroutine's entries arrive in the order it
// shipped them (any design of Ship must keep this; see docs/MANY-CORES.md).
func TestEachGoroutinesEntriesArriveInOrderUnderConcurrentLoggers(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	s := newShipper(t, col.Endpoint(), WithBatchSize(2<<10), WithBudget(64<<10), WithBlock(time.Minute), WithLinger(time.Millisecond))
	const goroutines, n = 16, 2000
	received := make(chan []testcollector.Entry, 1)
	go func() { received <- col.ReceiveN(ctx, goroutines*n) }()
	shipConcurrently(s, goroutines, n)
	next := make([]int, goroutines)
	for _, e := range <-received {
		g, i := checkStressEntry(t, e.Data)
		if i != next[g] {
			t.Fatalf("goroutine %d: entry %d arrived after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	checkInvariant(t, st)
	if st.Shipped != goroutines*n || st.Sent != goroutines*n || st.Dropped != 0 {
		t.Fatalf("stats %+v: want all %d entries sent", st, goroutines*n)
	}
}

// With no collector and DropOldest, concurrent loggers overflow a small
// budget: batches are evicted and their memory reused while callers
// ship. What is queued then arrives whole and in each goroutine's
// order, the accounting adds up, and drops are counted by level.
func TestEvictionAndReuseWhileCallersCopy(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "evict.sock")
	s := newShipper(t, ep, WithBatchSize(2<<10), WithBudget(32<<10), WithDropOldest(),
		WithReconnect(time.Millisecond, 5*time.Millisecond))
	const goroutines, n = 8, 3000
	shipConcurrently(s, goroutines, n)
	st := s.Stats()
	checkInvariant(t, st)
	if st.Shipped != goroutines*n || st.DroppedQueueFull == 0 || st.QueuedBytes > 32<<10 {
		t.Fatalf("stats %+v: want the budget overflowed, every entry accounted", st)
	}
	if st.DroppedByLevel["INFO"]+st.DroppedByLevel["ERROR"] != st.Dropped {
		t.Fatalf("drops by level %v do not add up to %d", st.DroppedByLevel, st.Dropped)
	}
	col := testcollector.Start(t, ep)
	last := make([]int, goroutines)
	for g := range last {
		last[g] = -1
	}
	for _, e := range col.ReceiveN(ctx, st.Queued) {
		g, i := checkStressEntry(t, e.Data)
		if i <= last[g] {
			t.Fatalf("goroutine %d: entry %d arrived after %d", g, i, last[g])
		}
		last[g] = i
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	checkInvariant(t, after)
	if after.Sent != uint64(st.Queued) || after.Queued != 0 {
		t.Fatalf("stats %+v: want the %d queued entries sent", after, st.Queued)
	}
}

// Stats taken while many callers ship always add up.
func TestStatsAddUpWhileCallersShip(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	s := newShipper(t, col.Endpoint(), WithBatchSize(2<<10), WithBudget(32<<10))
	go func() {
		for {
			if _, err := col.Receive(ctx); err != nil {
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() { defer close(done); shipConcurrently(s, 4, 3000) }()
	for {
		select {
		case <-done:
			checkInvariant(t, s.Stats())
			return
		default:
			checkInvariant(t, s.Stats())
		}
	}
}
