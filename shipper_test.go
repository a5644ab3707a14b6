package zmqlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/wire"
)

func TestMain(m *testing.M) {
	testcollector.RunDrainIfAsked() // the benchmarks' collector process
	goleak.VerifyTestMain(m)
}

func newShipper(t *testing.T, endpoint string, opts ...Option) *Shipper {
	t.Helper()
	s, err := NewShipper(endpoint, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func checkInvariant(t *testing.T, st Stats) {
	t.Helper()
	if st.Shipped != st.Sent+st.Dropped+uint64(st.Queued) {
		t.Fatalf("Shipped %d != Sent %d + Dropped %d + Queued %d", st.Shipped, st.Sent, st.Dropped, st.Queued)
	}
}

func TestShipDeliversInOrderWithProducerIdentity(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	s := newShipper(t, col.Endpoint(), WithApp("checkout"), WithHost("web-1"))
	const n = 20000
	for i := range n {
		s.Ship("INFO.checkout", []byte(fmt.Sprintf(`{"i":%d}`, i)))
	}
	got := col.ReceiveN(ctx, n)
	for i, e := range got {
		if e.Data != fmt.Sprintf(`{"i":%d}`, i) || e.Topic != "INFO.checkout" {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
	p := got[0].Producer
	if p.App != "checkout" || p.Host != "web-1" || p.PID != uint32(os.Getpid()) || p != s.Producer() {
		t.Fatalf("producer %+v", p)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	checkInvariant(t, st)
	if st.Sent != n || st.Dropped != 0 || st.Batches == 0 || st.Batches > n/50 {
		t.Fatalf("stats %+v: want every entry sent, packed many to a batch", st)
	}
}

// A long multi-byte app name is cut between characters and a host name
// that is not UTF-8 is repaired, on the wire and in Producer() alike: a
// name cut inside a character would be invalid UTF-8 at every collector.
func TestNamesAreShippedAsValidUTF8CutBetweenCharacters(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	s := newShipper(t, col.Endpoint(), WithApp(strings.Repeat("é", 200)), WithHost("web\xff1"))
	s.Ship("INFO", []byte(`{"msg":"x"}`))
	p := col.ReceiveN(ctx, 1)[0].Producer
	if p.App != strings.Repeat("é", 127) || p.Host != "web\uFFFD1" || p != s.Producer() {
		t.Fatalf("collector saw %+v, shipper says %+v", p, s.Producer())
	}
}

// A lone entry leaves within the linger, without Flush.
func TestLoneEntryLeavesAfterLinger(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	s := newShipper(t, col.Endpoint(), WithLinger(time.Millisecond))
	s.Ship("ERROR", []byte(`{"msg":"alone"}`))
	if e := col.ReceiveN(ctx, 1)[0]; e.Data != `{"msg":"alone"}` {
		t.Fatalf("got %+v", e)
	}
}

func TestNoCollectorShipNeverWaitsAndQueuedEntriesArriveInOrder(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "late.sock")
	s := newShipper(t, ep, WithBudget(256<<10), WithBatchSize(16<<10), WithReconnect(10*time.Millisecond, 20*time.Millisecond))
	body := []byte(strings.Repeat("d", 100))
	const n = 20000 // about 2.3 MB: far over the 256 KiB budget
	for i := range n {
		s.Ship("DEBUG", append([]byte(fmt.Sprintf("%06d", i)), body...))
	}
	st := s.Stats()
	checkInvariant(t, st)
	if st.DroppedQueueFull == 0 || st.DroppedByLevel["DEBUG"] != st.Dropped || st.QueuedBytes > 256<<10 {
		t.Fatalf("stats %+v: want the budget full, drops counted as DEBUG", st)
	}
	// Drop-newest: what is queued is the oldest entries, 0..k-1.
	queued := st.Queued
	col := testcollector.Start(t, ep)
	for i, e := range col.ReceiveN(ctx, queued) {
		if want := fmt.Sprintf("%06d", i); e.Data[:6] != want {
			t.Fatalf("entry %d is %s, want %s", i, e.Data[:6], want)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	checkInvariant(t, st)
	if st.Sent != uint64(queued) || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A debug storm with no collector: every error still gets through.
func TestErrorsSurviveADebugStorm(t *testing.T) {
	for _, policy := range []struct {
		name string
		opt  Option
	}{{"drop newest", WithBatchSize(16 << 10)}, {"drop oldest", WithDropOldest()}} {
		t.Run(policy.name, func(t *testing.T) {
			ctx := testsupport.Context(t)
			ep := testsupport.IPC(t, "storm.sock")
			s := newShipper(t, ep, WithBudget(256<<10), WithBatchSize(16<<10), policy.opt)
			debug := []byte(strings.Repeat("d", 200))
			errorsShipped := 0
			for i := range 50000 {
				s.Ship("DEBUG.app", debug)
				if i%1000 == 0 {
					s.Ship("ERROR.app", []byte(fmt.Sprintf("error %d", errorsShipped)))
					errorsShipped++
				}
			}
			st := s.Stats()
			if st.DroppedByLevel["DEBUG"] == 0 || st.DroppedByLevel["ERROR"] != 0 {
				t.Fatalf("drops by level %v: want debug dropped, no error", st.DroppedByLevel)
			}
			col := testcollector.Start(t, ep)
			errorsSeen := 0
			for _, e := range col.ReceiveN(ctx, st.Queued) {
				if e.Topic == "ERROR.app" {
					if e.Data != fmt.Sprintf("error %d", errorsSeen) {
						t.Fatalf("error entry %q out of order, want %d", e.Data, errorsSeen)
					}
					errorsSeen++
				}
			}
			if errorsSeen != errorsShipped {
				t.Fatalf("%d of %d errors arrived", errorsSeen, errorsShipped)
			}
		})
	}
}

func TestDropOldestKeepsTheNewest(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "oldest.sock")
	s := newShipper(t, ep, WithBudget(128<<10), WithBatchSize(16<<10), WithDropOldest())
	const n = 10000
	for i := range n {
		s.Ship("INFO", []byte(fmt.Sprintf("%06d%s", i, strings.Repeat("x", 100))))
	}
	st := s.Stats()
	checkInvariant(t, st)
	col := testcollector.Start(t, ep)
	got := col.ReceiveN(ctx, st.Queued)
	if last := got[len(got)-1].Data[:6]; last != fmt.Sprintf("%06d", n-1) {
		t.Fatalf("last entry %s, want the newest", last)
	}
	if st.DroppedQueueFull == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBlockWaitsForRoom(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "block.sock")
	s := newShipper(t, ep, WithBudget(64<<10), WithBatchSize(8<<10), WithBlock(30*time.Second), WithLinger(time.Millisecond))
	body := []byte(strings.Repeat("b", 1000))
	done := make(chan struct{})
	const n = 2000 // 2 MB through a 64 KiB budget: only possible by waiting
	go func() {
		defer close(done)
		for range n {
			s.Ship("INFO", body)
		}
	}()
	col := testcollector.Start(t, ep)
	col.ReceiveN(ctx, n)
	<-done
	// The collector can read a batch just before the writer's callback
	// counts it as sent; Flush waits for that.
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Dropped != 0 || st.Sent != n {
		t.Fatalf("stats %+v", st)
	}
}

func TestBlockGivesUpAfterTimeout(t *testing.T) {
	s := newShipper(t, testsupport.IPC(t, "none.sock"), WithBudget(16<<10), WithBatchSize(4<<10), WithBlock(20*time.Millisecond),
		WithFlushTimeout(time.Millisecond))
	for range 30 { // about 21 fit
		s.Ship("INFO", make([]byte, 500))
	}
	if st := s.Stats(); st.DroppedQueueFull == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTwoCollectorsShareWithoutDuplicatesAndFailOver(t *testing.T) {
	ctx := testsupport.Context(t)
	a := testcollector.Start(t, "tcp://127.0.0.1:0")
	b := testcollector.Start(t, testsupport.IPC(t, "b.sock"))
	s := newShipper(t, a.Endpoint()+","+b.Endpoint(), WithBatchSize(4<<10))
	testsupport.WaitFor(t, ctx, "both connections", func() bool { st := s.Stats(); return st.Endpoints[0].Connected && st.Endpoints[1].Connected })

	var mu sync.Mutex
	seen := map[string]string{}
	count := map[string]int{}
	drain := func(name string, c *testcollector.Collector, stop context.Context, wg *sync.WaitGroup) {
		defer wg.Done()
		for {
			es, err := c.Receive(stop)
			if err != nil {
				return
			}
			mu.Lock()
			for _, e := range es {
				if prev, dup := seen[e.Data]; dup {
					t.Errorf("%s delivered to %s and %s", e.Data, prev, name)
				}
				seen[e.Data] = name
				count[name]++
			}
			mu.Unlock()
		}
	}
	stop, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go drain("a", a, stop, &wg)
	go drain("b", b, stop, &wg)
	const n = 50000
	for i := range n {
		s.Ship("INFO", []byte(fmt.Sprintf("entry %d", i)))
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		mu.Lock()
		done := len(seen) == n
		mu.Unlock()
		if done {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d entries arrived", len(seen), n)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
	if count["a"] == 0 || count["b"] == 0 {
		t.Errorf("load not shared: %v", count)
	}

	// a dies: everything after goes to b.
	a.Pull.Close()
	testsupport.WaitFor(t, ctx, "the shipper to notice the collector leaving", func() bool { return !s.Stats().Endpoints[0].Connected })
	for i := range 5000 {
		s.Ship("INFO", []byte(fmt.Sprintf("after %d", i)))
	}
	for i, e := range b.ReceiveN(ctx, 5000) {
		if e.Data != fmt.Sprintf("after %d", i) {
			t.Fatalf("entry %d after failover is %q", i, e.Data)
		}
	}
}

func TestFlushAndCloseWithoutCollectorAreBounded(t *testing.T) {
	ctx := testsupport.Context(t)
	s := newShipper(t, testsupport.IPC(t, "nobody.sock"), WithFlushTimeout(50*time.Millisecond))
	for range 100 {
		s.Ship("ERROR", []byte("x"))
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	err := s.Flush(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "100 entries") {
		t.Fatalf("Flush: %v, want a deadline error saying 100 entries remain", err)
	}
	err = s.Close()
	if err == nil || !strings.Contains(err.Error(), "100 entries") {
		t.Fatalf("Close: %v", err)
	}
	if err2 := s.Close(); err2 != err {
		t.Fatalf("second Close: %v", err2)
	}
	s.Ship("ERROR", []byte("after close"))
	st := s.Stats()
	checkInvariant(t, st)
	if st.DroppedClosed != 101 || st.Queued != 0 || st.QueuedBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTooLargeEntriesAreCountedAndLargeOnesTravelAlone(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	s := newShipper(t, col.Endpoint(), WithMaxEntrySize(200<<10))
	s.Ship("WARN", make([]byte, 300<<10))
	big := strings.Repeat("B", 100<<10) // bigger than a 64 KiB batch
	s.Ship("INFO", []byte("small"))
	s.Ship("INFO", []byte(big))
	s.Ship("INFO", []byte("small again"))
	got := col.ReceiveN(ctx, 3)
	if got[0].Data != "small" || got[1].Data != big || got[2].Data != "small again" {
		t.Fatal("entries out of order or damaged")
	}
	st := s.Stats()
	if st.DroppedTooLarge != 1 || st.DroppedByLevel["WARN"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestErrorHandlerReportsDropsAndUnreachableCollectors(t *testing.T) {
	ctx := testsupport.Context(t)
	reports := make(chan error, 100)
	s := newShipper(t, testsupport.IPC(t, "absent.sock"), WithBudget(128<<10), WithBatchSize(16<<10),
		WithErrorInterval(5*time.Millisecond), WithReconnect(time.Millisecond, 5*time.Millisecond), WithFlushTimeout(time.Millisecond),
		WithErrorHandler(func(err error) {
			select {
			case reports <- err:
			default:
			}
		}))
	for range 5000 {
		s.Ship("DEBUG", make([]byte, 100))
	}
	var sawDrop, sawDial bool
	for !sawDrop || !sawDial {
		select {
		case err := <-reports:
			msg := err.Error()
			sawDrop = sawDrop || strings.Contains(msg, "dropped") && strings.Contains(msg, "queue full")
			sawDial = sawDial || strings.Contains(msg, "absent.sock") && strings.Contains(msg, "no such file")
		case <-ctx.Done():
			t.Fatalf("reports so far: drop %v, dial %v", sawDrop, sawDial)
		}
	}
}

func TestNewShipperRefusesBadInput(t *testing.T) {
	cases := []struct {
		endpoint string
		opts     []Option
		says     string
	}{
		{"tcp://127.0.0.1", nil, `"tcp://127.0.0.1"`},
		{"tcp://127.0.0.1:5557,", nil, "bad endpoint"},
		{"udp://127.0.0.1:5557", nil, "unsupported transport"},
		{"tcp://127.0.0.1:5557", []Option{WithBudget(1000)}, "budget"},
		{"tcp://127.0.0.1:5557", []Option{WithLinger(0)}, "linger"},
		{"tcp://127.0.0.1:5557", []Option{WithBatchSize(10)}, "batch size"},
		{"tcp://127.0.0.1:5557", []Option{WithReconnect(time.Second, time.Millisecond)}, "reconnect"},
	}
	for _, tc := range cases {
		s, err := NewShipper(tc.endpoint, tc.opts...)
		if err == nil {
			s.Close()
			t.Errorf("NewShipper(%q) succeeded, want an error saying %s", tc.endpoint, tc.says)
			continue
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("NewShipper(%q): %v, want it to say %s", tc.endpoint, err, tc.says)
		}
	}
}

// Shutdown with a context that has already ended returns at once, even
// with a writer stuck on a collector that stopped reading and a write
// timeout of an hour, and what it gave up is counted as closed.
func TestShutdownWithExpiredContextReturnsAtOnce(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "stalled.sock")
	addr, err := zsock.ParseEndpoint(ep, true)
	if err != nil {
		t.Fatal(err)
	}
	stalled, err := zsock.ListenPull(addr, zsock.Options{RecvQueue: 1}) // never read from
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()

	s, err := NewShipper(ep, WithBudget(64<<20), WithWriteTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("s", 1000))
	for range 40000 { // 40 MB: far more than the socket buffers hold
		s.Ship("INFO", body)
	}
	// Wait until the connection is up and the writer has stopped making
	// progress: some entries sent, most still queued.
	for {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := s.Flush(short)
		cancel()
		if err == nil {
			t.Fatal("40 MB flushed into a collector that never reads")
		}
		if ctx.Err() != nil {
			t.Fatal("the shipper never connected")
		}
		if st := s.Stats(); st.Sent > 0 {
			break
		}
	}

	expired, cancel := context.WithCancel(ctx)
	cancel()
	began := time.Now()
	err = s.Shutdown(expired) // the test's own deadline catches a hang
	took := time.Since(began)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want the context's error", err)
	}
	st := s.Stats()
	checkInvariant(t, st)
	if st.Queued != 0 || st.DroppedClosed == 0 {
		t.Fatalf("stats %+v: want nothing queued and the rest counted as closed", st)
	}
	t.Logf("Shutdown took %v; shipped %d, sent %d, dropped as closed %d", took, st.Shipped, st.Sent, st.DroppedClosed)
	if err2 := s.Close(); err2 != err {
		t.Fatalf("Close after Shutdown: %v, want %v", err2, err)
	}
}

// A million entries with no collector: every Ship returns promptly (the
// slowest call is logged; BenchmarkShipNoCollector reports percentiles),
// the heap grows by no more than the budget's worth, drops are counted by
// level with no error lost, and once a collector starts, what was queued
// arrives in the order shipped.
func TestMillionEntriesWithNoCollectorStayInBudget(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "million.sock")
	const budget = 8 << 20
	s := newShipper(t, ep, WithBudget(budget), WithReconnect(10*time.Millisecond, 20*time.Millisecond))
	levels := [...]string{"DEBUG", "INFO", "INFO", "WARN"}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 1000000
	var slowest time.Duration
	buf := make([]byte, 0, 128)
	for i := range n {
		level := levels[i%len(levels)]
		if i%100 == 0 {
			level = "ERROR"
		}
		buf = fmt.Appendf(buf[:0], `{"level":%q,"n":%d,"msg":"no collector yet, the app goes on"}`, level, i)
		began := time.Now()
		s.Ship(level, buf)
		slowest = max(slowest, time.Since(began))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := s.Stats()
	checkInvariant(t, st)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("1M entries: slowest Ship %v; queued %d (%d bytes), dropped %d %v; heap grew %d KiB against a %d KiB budget",
		slowest, st.Queued, st.QueuedBytes, st.Dropped, st.DroppedByLevel, growth>>10, budget>>10)
	if st.QueuedBytes > budget || growth > budget+budget/2 {
		t.Fatalf("queued %d bytes, heap grew %d: the budget is %d", st.QueuedBytes, growth, budget)
	}
	var byLevel uint64
	for _, d := range st.DroppedByLevel {
		byLevel += d
	}
	if st.Dropped == 0 || byLevel != st.Dropped || st.DroppedByLevel["ERROR"] != 0 {
		t.Fatalf("dropped %d, by level %v: want drops, all counted by level, no error among them", st.Dropped, st.DroppedByLevel)
	}

	col := testcollector.Start(t, ep)
	last, errorsSeen := -1, 0
	for _, e := range col.ReceiveN(ctx, st.Queued) {
		var got struct {
			Level string
			N     int
		}
		if err := json.Unmarshal([]byte(e.Data), &got); err != nil {
			t.Fatal(err)
		}
		if got.N <= last {
			t.Fatalf("entry %d arrived after %d", got.N, last)
		}
		last = got.N
		if got.Level == "ERROR" {
			errorsSeen++
		}
	}
	if errorsSeen != n/100 {
		t.Fatalf("%d errors arrived, want all %d", errorsSeen, n/100)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// 300 callers blocked on a full budget with no collector; then one
// starts. Every caller must get in once the queue drains, none waiting
// out its timeout while there is room (issue 14, bug 1: each released
// batch woke at most one waiter, about one per linger).
func TestBlockWakesEveryWaiterWhenTheQueueDrains(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "waiters.sock")
	s := newShipper(t, ep, WithBudget(64<<10), WithBatchSize(8<<10), WithBlock(3*time.Second), WithLinger(50*time.Millisecond),
		WithReconnect(time.Millisecond, 5*time.Millisecond))
	body := []byte(strings.Repeat("w", 1000))
	queued := 0
	for s.Stats().QueuedBytes+(8<<10) <= 64<<10-64<<10/8 { // fill up to the reserve without blocking
		s.Ship("INFO", body)
		queued++
	}
	const callers = 300
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() { defer wg.Done(); s.Ship("INFO", body) }()
	}
	waiting := 0
	testsupport.WaitFor(t, ctx, "every caller to be queued or blocked", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		waiting = len(s.q.lines[0].waiters)
		return s.count.shipped == uint64(queued+callers) && waiting == queued+callers-s.count.queued
	})
	if waiting < callers*3/4 {
		t.Fatalf("only %d of %d callers blocked: the budget was not full", waiting, callers)
	}
	col := testcollector.Start(t, ep)
	col.ReceiveN(ctx, queued+callers)
	wg.Wait()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	checkInvariant(t, st)
	if st.Dropped != 0 || st.Sent != uint64(queued+callers) {
		t.Fatalf("stats %+v: want all %d entries sent, none dropped", st, queued+callers)
	}
}

// No collector has ever answered: Close returns as soon as the dial is
// refused instead of waiting out its timeout, and the entries are counted
// as dropped (closed), as a timeout would (issue 14, bug 6).
func TestCloseDoesNotWaitForACollectorNeverReached(t *testing.T) {
	ctx := testsupport.Context(t)
	s, err := NewShipper(testsupport.IPC(t, "down.sock"), WithFlushTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.Ship("INFO", []byte("x"))
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err = <-closed:
	case <-ctx.Done():
		t.Fatal("Close waited for a collector that was never reached")
	}
	if err == nil || !strings.Contains(err.Error(), "3 entries") || !strings.Contains(err.Error(), "down.sock") {
		t.Fatalf("Close: %v, want it to say 3 entries were not written and why", err)
	}
	st := s.Stats()
	checkInvariant(t, st)
	if st.DroppedClosed != 3 || st.Queued != 0 {
		t.Fatalf("stats %+v: want the 3 entries dropped as closed", st)
	}
}

// A collector that is connected but slow to read gets Close's full wait:
// everything queued is delivered.
func TestCloseWaitsForAConnectedSlowCollector(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "slow.sock")
	addr, err := zsock.ParseEndpoint(ep, true)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := zsock.ListenPull(addr, zsock.Options{RecvQueue: 1}) // not read until Close has begun
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	s, err := NewShipper(ep, WithBudget(16<<20), WithFlushTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, ctx, "the connection", func() bool { return s.Stats().Endpoints[0].Connected })
	body := []byte(strings.Repeat("s", 1000))
	const n = 4000 // 4 MB: more than the socket buffers hold
	for range n {
		s.Ship("INFO", body)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	testsupport.WaitFor(t, ctx, "Close to begin", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.q.closed
	})
	for got := 0; got < n; {
		m, err := slow.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d entries: %v", got, err)
		}
		b, err := wire.Decode(m.Frames)
		if err != nil {
			t.Fatal(err)
		}
		got += b.Count
	}
	select {
	case err = <-closed:
	case <-ctx.Done():
		t.Fatal("Close did not return after everything was read")
	}
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := s.Stats(); st.Sent != n || st.Dropped != 0 {
		t.Fatalf("stats %+v: want all %d sent", st, n)
	}
}
