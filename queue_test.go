package zmqlog

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/topic"
	"github.com/zmqlog/zmqlog/wire"
)

// Test sizes: 1 KiB batches, an 8 KiB budget of which 1 KiB is the
// ERROR reserve, so seven full debug batches reach the reserve and eight
// batches fill the budget.
const (
	testBatch  = 1024
	testBudget = 8 * testBatch
)

var testHeader = wire.AppendHeader(nil, wire.Producer{Host: "h", App: "a"})

// fullEntry is the size of an entry that fills a batch on its own.
var fullEntry = testBatch - len(testHeader)

// testQueue returns a queue holding one sealed full batch per letter of
// batches ('d' debug, 'e' error), oldest first, and the labels of the
// batches the policy evicts, in order.
func testQueue(t *testing.T, overflow overflowMode, batches string) (*queue, *[]string) {
	t.Helper()
	q := newQueue(testBudget, testBatch, overflow, testHeader)
	labels := map[*chunk]string{}
	var evicted []string
	q.evicted = func(c *chunk) {
		evicted = append(evicted, labels[c])
		q.release(c)
	}
	for i, kind := range batches {
		sev := topic.Debug
		if kind == 'e' {
			sev = topic.Error
		}
		// Admitted as an error, to fill the reserve too; what the batch
		// holds is what counts for eviction.
		c, _ := q.admit(fullEntry-wire.EntrySize("", nil), true, nil)
		if c == nil {
			t.Fatalf("filling %q: no room for batch %d", batches, i)
		}
		c.add("", make([]byte, fullEntry-wire.EntrySize("", nil)), sev)
		labels[c] = fmt.Sprintf("%c%d", kind, i)
		q.seal()
	}
	if len(evicted) != 0 {
		t.Fatalf("filling %q evicted %v", batches, evicted)
	}
	return q, &evicted
}

// Every policy decision, priority × overflow × how full the budget is:
// whether an entry gets room and which batches it costs.
func TestQueueAdmission(t *testing.T) {
	cases := []struct {
		name     string
		overflow overflowMode
		queued   string // sealed batches, oldest first
		high     bool   // the new entry is ERROR or above
		size     int
		admitted bool
		evicted  []string
	}{
		{"drop newest: debug below the reserve", dropNewest, "dddddd", false, 100, true, nil},
		{"drop newest: debug may not enter the reserve", dropNewest, "ddddddd", false, 100, false, nil},
		{"drop newest: an error uses the reserve", dropNewest, "ddddddd", true, 100, true, nil},
		{"drop newest: an error evicts the oldest debug batch when full", dropNewest, "eddddddd", true, 100, true, []string{"d1"}},
		{"drop newest: an error never evicts an error", dropNewest, "eeeeeeee", true, 100, false, nil},
		{"drop oldest: debug evicts the oldest debug batch", dropOldest, "eddddddd", false, 100, true, []string{"d1", "d2"}},
		{"drop oldest: debug never evicts an error", dropOldest, "eeeeeee", false, 100, false, nil},
		{"drop oldest: an error evicts the oldest error when nothing else is left", dropOldest, "eeeeeeee", true, 100, true, []string{"e0"}},
		{"block: debug gets no room and is left to wait", block, "ddddddd", false, 100, false, nil},
		{"block: an error evicts the oldest debug batch", block, "dddddddd", true, 100, true, []string{"d0"}},
		{"an entry larger than a batch gets a batch of its own size", dropNewest, "", false, 3000, true, nil},
		{"an entry larger than a batch still keeps out of the reserve", dropNewest, "ddddd", false, 3000, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, evicted := testQueue(t, tc.overflow, tc.queued)
			before := q.allocated
			c, _ := q.admit(tc.size, tc.high, nil)
			if (c != nil) != tc.admitted || !slices.Equal(*evicted, tc.evicted) {
				t.Fatalf("admitted %v, evicted %v; want admitted %v, evicted %v", c != nil, *evicted, tc.admitted, tc.evicted)
			}
			if c == nil && q.allocated != before {
				t.Fatalf("a refused entry changed the budget's measure from %d to %d", before, q.allocated)
			}
			if c != nil && cap(c.buf)-len(c.buf) < tc.size {
				t.Fatalf("admitted into a batch with %d bytes free, need %d", cap(c.buf)-len(c.buf), tc.size)
			}
			if q.allocated > testBudget {
				t.Fatalf("allocated %d bytes, budget %d", q.allocated, testBudget)
			}
		})
	}
}

// A debug entry in the reserve must not fill the open batch an error
// needs, even though that batch has room.
func TestQueueDebugKeepsOutOfTheReserveInTheOpenBatch(t *testing.T) {
	q, _ := testQueue(t, dropNewest, "ddddddd")
	c, _ := q.admit(100, true, nil) // an error opens the eighth batch: into the reserve
	if c == nil {
		t.Fatal("no room for the error")
	}
	c.add("ERROR", make([]byte, 90), topic.Error)
	if c, _ := q.admit(100, false, nil); c != nil {
		t.Fatal("a debug entry went into the reserve's open batch")
	}
	if c, _ := q.admit(100, true, nil); c == nil {
		t.Fatal("a second error found no room in the open batch")
	}
}

// The line: only the first waiter is woken, whoever leaves the front
// wakes the next, and leaving from the middle wakes nobody.
func TestWaitLineWakesInOrder(t *testing.T) {
	var l waitLine
	a, b, c := l.join(), l.join(), l.join()
	woken := func() string {
		s := ""
		for name, w := range map[string]*waiter{"a": a, "b": b, "c": c} {
			select {
			case <-w.woken:
				s += name
			default:
			}
		}
		return s
	}
	l.wakeFirst()
	l.wakeFirst() // kept once, not twice
	if got := woken(); got != "a" {
		t.Fatalf("woken %q, want a", got)
	}
	l.leave(b)
	if got := woken(); got != "" {
		t.Fatalf("leaving from the middle woke %q", got)
	}
	l.leave(a)
	if got := woken(); got != "c" {
		t.Fatalf("a leaving the front woke %q, want c", got)
	}
	if l.first() != c {
		t.Fatal("c is not first")
	}
}

// With the budget full and callers waiting in line, each batch released
// admits the next caller in the order they began to wait, and when many
// batches leave at once every waiter re-checks: none is left waiting
// while there is room (issue 14, bug 1).
func TestQueueWaitersGetRoomInOrderAndNoneIsStranded(t *testing.T) {
	var mu sync.Mutex
	q, _ := testQueue(t, block, "dddddddd")
	const waiters = 12
	var admitted []int
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			c, _ := q.waitForRoom(&mu, fullEntry-wire.EntrySize("", nil), false, time.Minute)
			if c == nil {
				t.Errorf("waiter %d gave up", i)
				return
			}
			c.add("", make([]byte, fullEntry-wire.EntrySize("", nil)), topic.Debug)
			q.seal()
			admitted = append(admitted, i)
		}()
		// Start the next only once this one is in line, so the order of
		// the line is the order of i.
		for {
			mu.Lock()
			n := len(q.lines[0].waiters)
			mu.Unlock()
			if n == i+1 {
				break
			}
			runtime.Gosched()
		}
	}
	released := func(n int) {
		mu.Lock()
		for range n {
			q.release(q.take())
		}
		mu.Unlock()
	}
	waitAdmitted := func(n int) {
		for {
			mu.Lock()
			got := len(admitted)
			mu.Unlock()
			if got >= n {
				return
			}
			runtime.Gosched()
		}
	}
	// One at a time: seven debug batches fit below the reserve, so the
	// first released batch (8 queued) admits nobody, each later one admits one.
	released(1)
	released(1)
	waitAdmitted(1)
	released(1)
	waitAdmitted(2)
	// Then the queue drains at once: the rest must all get in.
	for done := 2; done < waiters; {
		mu.Lock()
		n := len(q.sealed)
		mu.Unlock()
		released(n)
		done += n
		waitAdmitted(min(done, waiters))
	}
	wg.Wait()
	if !slices.Equal(admitted, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("admitted in order %v", admitted)
	}
}

// Close wakes every waiter to give up at once.
func TestQueueCloseReleasesWaiters(t *testing.T) {
	var mu sync.Mutex
	q, _ := testQueue(t, block, "dddddddd")
	gaveUp := make(chan bool, 3)
	for range 3 {
		go func() {
			mu.Lock()
			defer mu.Unlock()
			c, _ := q.waitForRoom(&mu, 100, false, time.Hour)
			gaveUp <- c == nil
		}()
	}
	for {
		mu.Lock()
		n := len(q.lines[0].waiters)
		mu.Unlock()
		if n == 3 {
			break
		}
		runtime.Gosched()
	}
	mu.Lock()
	q.close()
	mu.Unlock()
	for range 3 {
		if !<-gaveUp {
			t.Fatal("a waiter got room from a closed queue")
		}
	}
}
