package zsock

import (
	"context"
	"encoding/binary"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"sync"
	"testing"
	"time"
)

func TestPushPullDeliversInOrder(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			ctx := testsupport.Context(t)
			ep := "tcp://127.0.0.1:0"
			if transport == "ipc" {
				ep = testsupport.IPC(t, "pull.sock")
			}
			pull := listenPull(t, ep, Options{})
			push := dialPush(t, pull.Endpoint(), Options{})
			const n = 5000
			go func() {
				for i := range n {
					// Sizes around the short/long frame boundary and the copy limit.
					if err := push.Send(ctx, Plain(numbered("INFO", i, i%2000))); err != nil {
						t.Errorf("send %d: %v", i, err)
						return
					}
				}
			}()
			for i, m := range recvN(t, ctx, pull, n) {
				if got := number(m); got != i || string(m.Frames[0]) != "INFO" || len(m.Frames[1]) != max(i%2000, 8) {
					t.Fatalf("message %d: got number %d, topic %q, %d bytes", i, got, m.Frames[0], len(m.Frames[1]))
				}
				if m.Peer.SocketType != "PUSH" {
					t.Fatalf("peer socket type %q, want PUSH", m.Peer.SocketType)
				}
			}
			if err := push.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			st := push.Stats()
			if st.Sent != n || st.Pending != 0 || st.Endpoints[0].Connects != 1 || !st.Endpoints[0].Connected {
				t.Fatalf("pusher stats %+v", st)
			}
			if ps := pull.Stats(); ps.Messages != n || ps.Active != 1 {
				t.Fatalf("puller stats %+v", ps)
			}
		})
	}
}

func TestPushNeverBlocksWithoutPeerAndDeliversWhenOneAppears(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "late.sock")
	opts, events := withEvents(Options{SendQueue: 100, ReconnectMax: 50 * time.Millisecond})
	push := dialPush(t, ep, opts)
	for i := range 100 {
		if !push.TrySend(Plain(numbered("INFO", i, 8))) {
			t.Fatalf("TrySend %d refused with room in the queue", i)
		}
	}
	if push.TrySend(Plain(numbered("INFO", 100, 8))) {
		t.Fatal("TrySend accepted a message beyond the queue with no peer")
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := push.Send(short, Plain(numbered("INFO", 100, 8)))
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("Send on a full queue with no peer: %v, want DeadlineExceeded", err)
	}
	if st := push.Stats(); st.Pending != 100 || push.Live() != 0 || st.Endpoints[0].Failures == 0 {
		t.Fatalf("before the peer: stats %+v live %d", st, push.Live())
	}
	waitEvent(t, ctx, events, DialFailed)

	pull := listenPull(t, ep, Options{})
	for i, m := range recvN(t, ctx, pull, 100) {
		if number(m) != i {
			t.Fatalf("message %d arrived as number %d", i, number(m))
		}
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPushBalancesWithoutDuplicatesAndFailsOver(t *testing.T) {
	ctx := testsupport.Context(t)
	a := listenPull(t, "tcp://127.0.0.1:0", Options{})
	b := listenPull(t, "tcp://127.0.0.1:0", Options{})
	opts, events := withEvents(Options{})
	push := dialPush(t, a.Endpoint()+","+b.Endpoint(), opts)
	waitEvent(t, ctx, events, Connected)
	waitEvent(t, ctx, events, Connected)

	const n = 20000
	var mu sync.Mutex
	seen := make(map[int]string)
	perPuller := map[string]int{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	collectCtx, stopCollect := context.WithCancel(ctx)
	collect := func(name string, p *Puller) {
		defer wg.Done()
		for {
			m, err := p.Recv(collectCtx)
			if err != nil {
				return
			}
			mu.Lock()
			i := number(m)
			if prev, dup := seen[i]; dup {
				t.Errorf("message %d delivered twice (%s and %s)", i, prev, name)
			}
			seen[i] = name
			perPuller[name]++
			if len(seen) == n {
				close(done)
			}
			mu.Unlock()
		}
	}
	wg.Add(2)
	go collect("a", a)
	go collect("b", b)
	for i := range n {
		if err := push.Send(ctx, Plain(numbered("INFO", i, 100))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("received %d of %d", len(seen), n)
	}
	stopCollect()
	wg.Wait()
	mu.Lock()
	if perPuller["a"] == 0 || perPuller["b"] == 0 {
		t.Errorf("no load balancing: a got %d, b got %d", perPuller["a"], perPuller["b"])
	}
	mu.Unlock()

	// One collector goes away: everything after goes to the other.
	a.Close()
	waitEvent(t, ctx, events, Disconnected)
	for i := n; i < n+1000; i++ {
		if err := push.Send(ctx, Plain(numbered("INFO", i, 100))); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range recvN(t, ctx, b, 1000) {
		if number(m) != n+i {
			t.Fatalf("after failover message %d arrived as %d", n+i, number(m))
		}
	}
}

// A collector that stops reading holds its messages until the write
// timeout; then the pusher drops that connection and sends what it could
// not write to the other. Nothing is lost or duplicated: the messages the
// stalled collector took in stay in its socket and are read once it drains.
func TestPushWriteTimeoutMovesUnwrittenMessages(t *testing.T) {
	ctx := testsupport.Context(t)
	stalled := listenPull(t, "tcp://127.0.0.1:0", Options{RecvQueue: 1})
	live := listenPull(t, "tcp://127.0.0.1:0", Options{})
	// Stamps number messages per endpoint; with undo they stay contiguous
	// at each collector even though a write failed halfway.
	var seq [2]uint64
	stamp := func(endpoint int, frames [][]byte, undo bool) {
		if undo {
			seq[endpoint]--
			return
		}
		binary.BigEndian.PutUint64(frames[1][8:], seq[endpoint])
		seq[endpoint]++
	}
	opts, events := withEvents(Options{WriteTimeout: 300 * time.Millisecond, ReconnectMin: time.Minute, ReconnectMax: time.Minute})
	push := dialPush(t, stalled.Endpoint()+","+live.Endpoint(), opts)
	waitEvent(t, ctx, events, Connected)
	waitEvent(t, ctx, events, Connected)

	var mu sync.Mutex
	seen := map[int]bool{}
	nextStamp := map[*Peer]uint64{}
	n := -1 // known once sending stops
	all := make(chan struct{})
	record := func(m Message) {
		mu.Lock()
		defer mu.Unlock()
		if seen[number(m)] {
			t.Errorf("message %d delivered twice", number(m))
		}
		if stamp := binary.BigEndian.Uint64(m.Frames[1][8:]); stamp != nextStamp[m.Peer] {
			t.Errorf("message %d stamped %d at %s, want %d: stamps not contiguous", number(m), stamp, m.Peer.Addr, nextStamp[m.Peer])
		}
		nextStamp[m.Peer]++
		seen[number(m)] = true
		if len(seen) == n {
			close(all)
		}
	}
	drainCtx, stopDrain := context.WithCancel(ctx)
	var drainers sync.WaitGroup
	drain := func(p *Puller) {
		drainers.Add(1)
		go func() {
			defer drainers.Done()
			for {
				m, err := p.Recv(drainCtx)
				if err != nil {
					return
				}
				record(m)
			}
		}()
	}
	drain(live)

	// Send until the stalled connection's write has timed out.
	const size = 4096
	sent := 0
	for push.Stats().Requeued == 0 {
		if err := push.Send(ctx, &hooked{frames: numbered("INFO", sent, size), route: stamp}); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	if ev := waitEvent(t, ctx, events, Disconnected); ev.Endpoint != stalled.Endpoint() {
		t.Fatalf("disconnect of %s, want %s", ev.Endpoint, stalled.Endpoint())
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n = sent
	if len(seen) == n {
		close(all)
	}
	mu.Unlock()
	// What the stalled collector took in is still in its socket.
	drain(stalled)
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("%d of %d messages arrived", len(seen), n)
	}
	stopDrain()
	drainers.Wait()
	// Every message is stamped once net: the unwritten ones were unstamped.
	// (The writers' last stamps happened before the Flush that returned.)
	if seq[0]+seq[1] != uint64(n) {
		t.Errorf("stamps %d + %d for %d messages", seq[0], seq[1], n)
	}
	if st := push.Stats(); st.Sent != uint64(n) || st.Pending != 0 {
		t.Fatalf("pusher stats %+v, want %d sent", st, n)
	}
}

// A message is routed to the endpoint it goes to, and finished exactly
// once for every accepted message: written, or abandoned at Close.
func TestPushRoutesAndFinishesEachMessage(t *testing.T) {
	ctx := testsupport.Context(t)
	a := listenPull(t, "tcp://127.0.0.1:0", Options{})
	b := listenPull(t, testsupport.IPC(t, "b.sock"), Options{})
	var mu sync.Mutex
	done := map[int]bool{}
	route := func(endpoint int, frames [][]byte, undo bool) {
		if undo {
			frames[1][8] = 0xff
			return
		}
		frames[1][8] = byte(endpoint) // messages carry where they went
	}
	finish := func(frames [][]byte, written bool) {
		mu.Lock()
		defer mu.Unlock()
		i := int(binary.BigEndian.Uint64(frames[1]))
		if _, twice := done[i]; twice {
			t.Errorf("Finish called twice for message %d", i)
		}
		done[i] = written
	}
	message := func(i int) Outgoing {
		return &hooked{frames: numbered("INFO", i, 16), route: route, finish: finish}
	}
	opts, events := withEvents(Options{})
	push := dialPush(t, a.Endpoint()+","+b.Endpoint(), opts)
	waitEvent(t, ctx, events, Connected)
	waitEvent(t, ctx, events, Connected)
	const n = 2000
	for i := range n {
		if err := push.Send(ctx, message(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	type arrival struct{ at, stamped int }
	arrivals := make(chan arrival, n)
	drainCtx, stopDrain := context.WithCancel(ctx)
	var drainers sync.WaitGroup
	for idx, p := range []*Puller{a, b} {
		drainers.Add(1)
		go func() {
			defer drainers.Done()
			for {
				m, err := p.Recv(drainCtx)
				if err != nil {
					return
				}
				arrivals <- arrival{idx, int(m.Frames[1][8])}
			}
		}()
	}
	for range n {
		select {
		case a := <-arrivals:
			if a.at != a.stamped {
				t.Fatalf("message arrived at endpoint %d, stamped for %d", a.at, a.stamped)
			}
		case <-ctx.Done():
			t.Fatal("not all messages arrived")
		}
	}
	stopDrain()
	drainers.Wait()
	mu.Lock()
	if len(done) != n {
		t.Fatalf("Finish called for %d of %d messages", len(done), n)
	}
	mu.Unlock()

	// With no peer, Close abandons what is queued and says so through Finish.
	a.Close()
	b.Close()
	waitEvent(t, ctx, events, Disconnected)
	waitEvent(t, ctx, events, Disconnected)
	for i := n; i < n+10; i++ {
		if !push.TrySend(message(i)) {
			t.Fatal("queue full")
		}
	}
	push.Close()
	mu.Lock()
	defer mu.Unlock()
	for i := n; i < n+10; i++ {
		if written, ok := done[i]; !ok || written {
			t.Fatalf("message %d: Finish called %v, written %v; want abandoned", i, ok, written)
		}
	}
	if st := push.Stats(); st.Abandoned != 10 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Closing a puller keeps what it had read: Recv returns all of it, then
// ErrClosed.
func TestPullerCloseKeepsWhatWasRead(t *testing.T) {
	ctx := testsupport.Context(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{RecvQueue: 10})
	push := dialPush(t, pull.Endpoint(), Options{})
	const n = 100
	for i := range n {
		if err := push.Send(ctx, Plain(numbered("INFO", i, 16))); err != nil {
			t.Fatal(err)
		}
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait until the puller has read every message (its queue holds 10; the
	// connection holds the next one), then close it.
	for pull.Stats().Messages < 11 {
		waitTick(t, ctx)
	}
	pull.Close()
	read := pull.Stats().Messages
	got := 0
	for {
		m, err := pull.Recv(ctx)
		if err == ErrClosed {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if number(m) != got {
			t.Fatalf("message %d arrived as %d", got, number(m))
		}
		got++
	}
	if uint64(got) != read {
		t.Fatalf("read %d messages before Close, Recv returned %d", read, got)
	}
}

// hooked is an Outgoing that hands what the pusher tells it to the test:
// route is called with undo false for Route and true for Unroute.
type hooked struct {
	frames [][]byte
	route  func(endpoint int, frames [][]byte, undo bool)
	finish func(frames [][]byte, written bool)
}

func (m *hooked) Route(endpoint int) {
	if m.route != nil {
		m.route(endpoint, m.frames, false)
	}
}

func (m *hooked) Frames() [][]byte { return m.frames }

func (m *hooked) Unroute(endpoint int) {
	if m.route != nil {
		m.route(endpoint, m.frames, true)
	}
}

func (m *hooked) Finish(written bool) {
	if m.finish != nil {
		m.finish(m.frames, written)
	}
}
