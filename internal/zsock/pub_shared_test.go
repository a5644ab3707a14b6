package zsock

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// sharedFixture is a publisher with no listener and subscribers with the
// given topics and per-queue byte bounds, and a block of n messages
// ("INFO.api", "ERROR.db", "DEBUG" in turn) in one buffer, as a received
// batch would hold them.
type sharedFixture struct {
	p    *Publisher
	subs []*subscriber
}

func newSharedFixture(t *testing.T, maxBytes int64, topics ...string) sharedFixture {
	t.Helper()
	p := newPublisher(Options{}.withDefaults())
	p.a = &acceptor{} // for Counters; no listener
	f := sharedFixture{p: p}
	for _, topic := range topics {
		s := &subscriber{q: newSendQueue(p.opts.SendQueue, maxBytes, &p.budget)}
		if err := p.change(s, subscriptionChange{subscribe: true, topic: topic}); err != nil {
			t.Fatal(err)
		}
		f.subs = append(f.subs, s)
	}
	return f
}

func sharedBlockOf(n int) (msgs [][][]byte, pinned int64) {
	buf := make([]byte, 0, n*32)
	for i := range n {
		topic := [...]string{"INFO.api", "ERROR.db", "DEBUG"}[i%3]
		start := len(buf)
		buf = append(buf, topic...)
		mid := len(buf)
		buf = fmt.Appendf(buf, `{"n":%d}`, i)
		msgs = append(msgs, [][]byte{buf[start:mid:mid], buf[mid:len(buf):len(buf)]})
	}
	return msgs, int64(cap(buf)) + 1<<20 // as if the batch were a MiB larger
}

// holds reports whether q's oldest message is msgs[i] itself, not a copy.
func sharesStorage(m queuedMessage, src [][]byte) bool {
	f := m.appendFrames(nil)
	return len(f) == 2 && &f[1][0] == &src[1][0]
}

// A queue that keeps any of a shared block's messages is charged the
// whole block once, however few of them it holds, on top of each
// message's own overhead; the charge goes back with the last of them, and
// the messages are the caller's, not copies.
func TestPublishSharedChargesEachQueueTheWholeBlockOnce(t *testing.T) {
	f := newSharedFixture(t, 64<<20, "", "INFO", "ERROR.db")
	msgs, pinned := sharedBlockOf(300)
	if got := f.p.PublishShared(msgs[:1], pinned); got != 1 { // one INFO entry of a large block
		t.Fatalf("reached subscribers with %d messages, want 1", got)
	}
	perMessage := int64(2 * frameOverhead)
	for i, want := range []int64{pinned + perMessage, pinned + perMessage, 0} {
		if got := f.subs[i].q.size(); got != want {
			t.Errorf("subscriber %d: one message of a %d-byte block counts %d bytes, want %d", i, pinned, got, want)
		}
	}
	// The rest of the block, from the same call's block: charged no more.
	msgs2, pinned2 := sharedBlockOf(300)
	f = newSharedFixture(t, 64<<20, "", "INFO", "ERROR.db")
	f.p.PublishShared(msgs2, pinned2)
	want := []int64{pinned2 + 300*perMessage, pinned2 + 100*perMessage, pinned2 + 100*perMessage}
	total := int64(0)
	for i, s := range f.subs {
		if got := s.q.size(); got != want[i] {
			t.Errorf("subscriber %d: holds %d bytes, want %d", i, got, want[i])
		}
		total += want[i]
	}
	if got := f.p.Counters().QueuedBytes; got != total {
		t.Errorf("the publisher counts %d bytes queued, want %d", got, total)
	}
	// Taken and released in parts: the block's charge goes with its last message.
	q := f.subs[0].q
	batch := q.take(nil, 100*messageCost(msgs2[0]))
	if !sharesStorage(batch[0], msgs2[0]) {
		t.Error("the queue holds a copy of a shared message")
	}
	n := len(batch)
	q.release(batch)
	if got := q.size(); got != pinned2+int64(300-n)*perMessage {
		t.Errorf("after releasing %d of 300 messages: %d bytes, want %d", n, got, pinned2+int64(300-n)*perMessage)
	}
	for q.len() > 0 {
		q.release(q.take(nil, 1<<20))
	}
	if got := q.size(); got != 0 {
		t.Errorf("after releasing every message: %d bytes", got)
	}
	// Thrown away with the queue: the charges go back too.
	for _, s := range f.subs[1:] {
		s.q.discard()
	}
	if got := f.p.Counters().QueuedBytes; got != 0 {
		t.Errorf("with every queue empty the publisher counts %d bytes", got)
	}
}

// A queue never holds more than its bound: where a block's charge does
// not fit, its messages are copied, as PublishEach copies them, while
// those fit.
func TestPublishSharedCopiesWhereTheBlockDoesNotFit(t *testing.T) {
	msgs, pinned := sharedBlockOf(30)
	f := newSharedFixture(t, pinned/2, "")
	if got := f.p.PublishShared(msgs, pinned); got != len(msgs) {
		t.Fatalf("reached the subscriber with %d of %d messages", got, len(msgs))
	}
	q := f.subs[0].q
	want := int64(0)
	for _, m := range msgs {
		want += messageCost(m)
	}
	if got := q.size(); got != want {
		t.Errorf("holds %d bytes, want %d (copies)", got, want)
	}
	for i, m := range q.take(nil, 1<<20) {
		if sharesStorage(m, msgs[i]) {
			t.Fatalf("message %d shares the caller's storage: its %d-byte block is over the queue's bound of %d", i, pinned, pinned/2)
		}
	}
}

// A subscriber that takes little of each block (ERROR, one message in
// three, of a block a MiB larger than its messages) is charged its first
// block, and gets copies after it: the queue's room goes to entries, not
// to the blocks they came in.
func TestPublishSharedCopiesForASubscriberThatTakesLittle(t *testing.T) {
	f := newSharedFixture(t, 64<<20, "ERROR")
	msgs, pinned := sharedBlockOf(30)
	f.p.PublishShared(msgs, pinned)
	q := f.subs[0].q
	if got, want := q.size(), pinned+10*2*frameOverhead; got != want {
		t.Fatalf("after the first block: %d bytes, want %d", got, want)
	}
	msgs2, pinned2 := sharedBlockOf(30)
	f.p.PublishShared(msgs2, pinned2)
	want := pinned + 10*2*frameOverhead
	for i := 1; i < len(msgs2); i += 3 {
		want += messageCost(msgs2[i])
	}
	if got := q.size(); got != want {
		t.Errorf("after the second block: %d bytes, want %d (its messages copied, its block not charged)", got, want)
	}
}

// freshBlock returns n messages with the given topics in turn, each a
// view into one fresh buffer of blockSize bytes, as the entries of a
// received batch are, and what they pin.
func freshBlock(n, blockSize int, topics ...string) ([][][]byte, int64) {
	buf := make([]byte, blockSize)
	step := blockSize / n
	msgs := make([][][]byte, n)
	for i := range msgs {
		msgs[i] = [][]byte{[]byte(topics[i%len(topics)]), buf[i*step : (i+1)*step : (i+1)*step]}
	}
	return msgs, int64(blockSize)
}

// Through real, stalled subscribers: however many 256 KiB blocks are
// published shared, the blocks their queued entries keep alive stay
// within the byte bounds, each and all together, for a subscriber that
// takes every entry and for one that takes one entry of each block; and
// everything is given back when they leave. Charged by the entry instead
// of by the block, the ERROR subscriber's few hundred bytes an entry
// would pin a 256 KiB block each, and the heap would grow by all 50 MiB.
func TestSharedBlocksKeepAliveAtMostTheByteBounds(t *testing.T) {
	ctx := testsupport.Context(t)
	const perSub, total = 1 << 20, 3 << 19 // 1 MiB each, 1.5 MiB together
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{
		SendQueue: 100000, SendQueueBytes: perSub, PublisherQueueBytes: total, WriteTimeout: time.Minute,
	})
	every := slowSubscriber(t, pub, "")
	errors := slowSubscriber(t, pub, "ERROR")
	awaitSubscriptions(t, ctx, pub, "both subscriptions", func(st PublisherStats) bool {
		return len(st.Subscribers) == 2 && len(st.Subscribers[0].Topics) == 1 && len(st.Subscribers[1].Topics) == 1
	})

	before := heapInUse()
	const blockSize, perBlock = 256 << 10, 256 // entries of 1 KiB
	topics := append([]string{"ERROR"}, slices.Repeat([]string{"INFO"}, perBlock-1)...)
	for st := pub.Stats(); st.Subscribers[0].Dropped == 0 || st.Subscribers[1].Dropped == 0; st = pub.Stats() {
		pub.PublishShared(freshBlock(perBlock, blockSize, topics...))
		if st.Published > 10000*perBlock {
			t.Fatalf("after %d messages a subscriber's queue still refused nothing: %+v", st.Published, st.Subscribers)
		}
	}
	for range 200 {
		pub.PublishShared(freshBlock(perBlock, blockSize, topics...))
	}
	checkHeldWithinBounds(t, pub, before, perSub, total, "publishing 50 MiB in shared blocks to stalled subscribers")

	every.nc.Close()
	errors.nc.Close()
	awaitSubscriptions(t, ctx, pub, "the subscribers to leave", func(st PublisherStats) bool { return len(st.Subscribers) == 0 })
	if st := pub.Stats(); st.QueuedBytes != 0 || st.Sent+st.Dropped == 0 {
		t.Errorf("after both left: %d bytes still held; %d sent, %d dropped", st.QueuedBytes, st.Sent, st.Dropped)
	}
}
