package zsock

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

// queueStep is one thing done to a sendQueue and what must come of it.
type queueStep struct {
	op   string // "push", "take", "release" (what the last take returned), "discard"
	size int    // push: body bytes; take: byte limit
	want int    // push: 1 if queued, 0 if refused; take, discard: messages out
}

func TestSendQueue(t *testing.T) {
	push := func(size int, queued bool) queueStep {
		w := 0
		if queued {
			w = 1
		}
		return queueStep{op: "push", size: size, want: w}
	}
	take := func(limit int64, n int) queueStep { return queueStep{op: "take", size: int(limit), want: n} }
	release := func() queueStep { return queueStep{op: "release"} }
	discard := func(n int) queueStep { return queueStep{op: "discard", want: n} }
	msg := func(i, size int) [][]byte { return [][]byte{[]byte(strconv.Itoa(i)), make([]byte, size)} }
	cost := func(size int) int64 { return messageCost(msg(0, size)) } // for one-digit numbers
	tests := []struct {
		name     string
		maxCount int
		maxBytes int64
		budget   int64 // the publisher's, shared by all its queues
		steps    []queueStep
	}{
		{
			name: "bounded by count", maxCount: 2, maxBytes: 1 << 20, budget: 1 << 20,
			steps: []queueStep{push(1, true), push(1, true), push(1, false), take(1<<20, 2), push(1, true)},
		},
		{
			name: "bounded by its bytes", maxCount: 100, maxBytes: 3 * cost(1000), budget: 1 << 20,
			steps: []queueStep{push(1000, true), push(1000, true), push(2000, false), push(1000, true), push(0, false)},
		},
		{
			name: "bounded by the publisher's budget", maxCount: 100, maxBytes: 1 << 20, budget: cost(1000) + cost(10),
			steps: []queueStep{push(1000, true), push(1000, false), push(10, true), push(0, false)},
		},
		{
			name: "taken messages count until released", maxCount: 100, maxBytes: cost(1000), budget: 1 << 20,
			steps: []queueStep{push(1000, true), take(1<<20, 1), push(1000, false), release(), push(1000, true)},
		},
		{
			name: "take stops at its byte limit but takes at least one", maxCount: 100, maxBytes: 1 << 20, budget: 1 << 20,
			steps: []queueStep{
				push(100, true), push(100, true), push(100, true), push(100, true),
				take(1, 1), take(2*cost(100), 2), take(1<<20, 1), take(1<<20, 0),
			},
		},
		{
			name: "FIFO across the ring's wrap and growth", maxCount: 100, maxBytes: 1 << 20, budget: 1 << 20,
			steps: []queueStep{
				push(1, true), push(1, true), push(1, true), take(2*cost(1), 2), release(),
				push(1, true), push(1, true), push(1, true), push(1, true), push(1, true), push(1, true), push(1, true),
				push(1, true), push(1, true), push(1, true), push(1, true), push(1, true), push(1, true), push(1, true),
				push(1, true), push(1, true), push(1, true), push(1, true), take(1<<20, 19),
			},
		},
		{
			name: "discard counts what was queued", maxCount: 100, maxBytes: 1 << 20, budget: 1 << 20,
			steps: []queueStep{push(10, true), push(10, true), push(10, true), take(1, 1), discard(2), take(1<<20, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			budget := &byteBudget{limit: tt.budget}
			q := newSendQueue(tt.maxCount, tt.maxBytes, budget)
			var (
				model         []int64 // costs of the messages queued, oldest first
				taken         int64   // bytes the last take returned, until released
				takenMsgs     []queuedMessage
				pushed, next  int // numbers given to messages; the one take must return next
				refused, gone int // what the queue must count as dropped
			)
			for i, s := range tt.steps {
				switch s.op {
				case "push":
					m := ownedMessage{frames: msg(pushed, s.size), cost: cost(s.size)}
					if got := q.push(&m); got != (s.want == 1) {
						t.Fatalf("step %d: push of %d bytes = %v, want %v", i, s.size, got, s.want == 1)
					}
					if s.want == 1 {
						pushed++
						model = append(model, m.cost)
					} else {
						refused++
					}
				case "take":
					batch := q.take(nil, int64(s.size))
					takenMsgs = append(takenMsgs, batch...)
					if len(batch) != s.want {
						t.Fatalf("step %d: took %d messages, want %d", i, len(batch), s.want)
					}
					for _, m := range batch {
						if topic := m.appendFrames(nil)[0]; string(topic) != strconv.Itoa(next) {
							t.Fatalf("step %d: took message %s, want %d (FIFO)", i, topic, next)
						}
						next++
						taken += model[0]
						model = model[1:]
					}
				case "release":
					q.release(takenMsgs)
					taken, takenMsgs = 0, nil
				case "discard":
					if n := q.discard(); n != s.want {
						t.Fatalf("step %d: discarded %d messages, want %d", i, n, s.want)
					}
					next += len(model)
					gone += len(model)
					model = nil
				}
				held := taken
				for _, c := range model {
					held += c
				}
				if q.len() != len(model) || q.size() != held || budget.used.Load() != held {
					t.Fatalf("step %d: queue holds %d messages, %d bytes (budget %d); want %d, %d",
						i, q.len(), q.size(), budget.used.Load(), len(model), held)
				}
				if q.dropped() != uint64(refused+gone) {
					t.Fatalf("step %d: %d dropped, want %d", i, q.dropped(), refused+gone)
				}
			}
		})
	}
}

// The queue costs memory in proportion to what it holds: nothing up front
// whatever its bound, and the room a burst took goes back with the first
// message after a quiet second, while a load that comes in waves keeps
// its ring.
func TestSendQueueMemoryFollowsWhatItHolds(t *testing.T) {
	clock := time.Unix(0, 0)
	q := newSendQueue(10000, 1<<30, &byteBudget{limit: 1 << 30})
	q.now = func() time.Time { return clock }
	if cap(q.ring) != 0 {
		t.Fatalf("a new queue allocated %d slots", cap(q.ring))
	}
	m := ownedMessage{frames: [][]byte{[]byte("INFO")}, cost: 1}
	var batch []queuedMessage
	wave := func(n int) {
		for range n {
			q.push(&m)
		}
		for q.len() > 0 {
			batch = q.take(batch[:0], 1<<10)
		}
	}
	wave(5000)
	if c := cap(q.ring); c < 5000 || c > 2*5000 {
		t.Fatalf("held 5000 messages in %d slots", c)
	}
	// Waves of 5000 and of 10 within a second of each other keep the ring.
	big := &q.ring[0]
	for range 10 {
		clock = clock.Add(shrinkIdle / 3)
		wave(10)
		clock = clock.Add(shrinkIdle / 3)
		wave(5000)
	}
	if &q.ring[0] != big {
		t.Fatal("a load in waves reallocated the ring")
	}
	// After a quiet second, the next message gives the room back.
	clock = clock.Add(shrinkIdle)
	wave(1)
	if c := cap(q.ring); c > minRing {
		t.Fatalf("a second after the burst, holding 1 message at a time in %d slots", c)
	}
	// A steady load of 100 at a time keeps a ring of its size.
	for range 10 {
		clock = clock.Add(shrinkIdle)
		wave(100)
		if c := cap(q.ring); c < 100 || c > 4*100 {
			t.Fatalf("a steady load of 100 messages in %d slots", c)
		}
	}
}

// Publish's copy: made once whichever number of queues take the message,
// sharing no storage with the caller's frames, one allocation for a
// message of up to two frames, and giving back exactly the frames given.
func TestOwnedMessageCopiesOnce(t *testing.T) {
	for _, src := range [][][]byte{
		{},
		{[]byte("ERROR")},
		{[]byte("ERROR"), []byte(`{"msg":"x"}`)},
		{[]byte("ERROR"), {}},
		{{}, []byte("body")},
		{[]byte("ERROR"), []byte("a"), {}, []byte("bc")},
	} {
		m := ownedMessage{frames: src, cost: messageCost(src)}
		a, b := m.own(), m.own()
		got := a.appendFrames(nil)
		if len(got) != len(src) || a.cost != messageCost(src) {
			t.Fatalf("%q: copied as %q (cost %d)", src, got, a.cost)
		}
		for i := range src {
			if !bytes.Equal(got[i], src[i]) {
				t.Fatalf("%q: frame %d is %q", src, i, got[i])
			}
			if len(got[i]) > 0 && &got[i][0] == &src[i][0] {
				t.Fatalf("%q: frame %d shares the caller's storage", src, i)
			}
			// Appending to one frame must not overwrite the next.
			_ = append(got[i], 'X')
		}
		for i := range src {
			if !bytes.Equal(got[i], src[i]) {
				t.Fatalf("%q: appending to a frame overwrote frame %d: %q", src, i, got[i])
			}
		}
		if cap(a.buf) > 0 && &a.buf[:1][0] != &b.buf[:1][0] {
			t.Fatalf("%q: copied twice", src)
		}
	}
	two := [][]byte{[]byte("INFO"), make([]byte, 150)}
	if n := testing.AllocsPerRun(100, func() {
		m := ownedMessage{frames: two}
		m.own()
	}); n != 1 {
		t.Errorf("copying a two-frame message takes %v allocations, want 1", n)
	}
}
