package zsock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"runtime"
	"strings"
	"testing"
	"time"
)

func listenPub(t *testing.T, ep string, opts Options) *Publisher {
	t.Helper()
	p, err := ListenPub(mustParse(t, ep, true), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dialSub(t *testing.T, eps string, topics []string, opts Options) *Subscriber {
	t.Helper()
	list, err := ParseEndpoints(eps)
	if err != nil {
		t.Fatal(err)
	}
	s := DialSub(list, topics, opts)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPubSubFiltersByPrefixAtThePublisher(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{})
	sub := dialSub(t, pub.Endpoint(), []string{"ERROR", "FATAL"}, Options{})
	waitTopics(t, ctx, pub, 1, "ERROR", "FATAL")

	topics := []string{"DEBUG", "ERROR", "INFO", "FATAL", "ERROR+4", "WARN"}
	want := []string{}
	for i := range 600 {
		topic := topics[i%len(topics)]
		if n := pub.Publish(numbered(topic, i, 32)); (n == 1) != (topic[0] == 'E' || topic[0] == 'F') {
			t.Fatalf("Publish(%s) queued for %d subscribers", topic, n)
		}
		if topic[0] == 'E' || topic[0] == 'F' {
			want = append(want, topic)
		}
	}
	for i, m := range recvN(t, ctx, sub, len(want)) {
		if string(m.Frames[0]) != want[i] {
			t.Fatalf("message %d has topic %q, want %q", i, m.Frames[0], want[i])
		}
	}
	// The writer counts a message as sent after its write returns, which
	// can be just after the subscriber read it.
	for pub.Stats().Subscribers[0].Sent < uint64(len(want)) {
		waitTick(t, ctx)
	}
	st := pub.Stats()
	if st.Subscribers[0].Sent != uint64(len(want)) || st.Dropped != 0 || sub.Stats().Filtered != 0 {
		t.Fatalf("publisher sent %d (want %d, filtered at the publisher); stats %+v; sub %+v", st.Subscribers[0].Sent, len(want), st, sub.Stats())
	}

	// Subscriptions change at run time.
	sub.Subscribe("INFO")
	sub.Unsubscribe("ERROR")
	waitTopics(t, ctx, pub, 1, "FATAL", "INFO")
	pub.Publish(numbered("ERROR", 1, 8))
	pub.Publish(numbered("INFO", 2, 8))
	if m := recvN(t, ctx, sub, 1)[0]; string(m.Frames[0]) != "INFO" {
		t.Fatalf("after re-subscribing got %q, want INFO", m.Frames[0])
	}
}

func TestPublisherCountsSubscriptionsFromBothZMTPVersions(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{})
	r := dialRaw(t, pub.Endpoint())
	r.handshake("SUB")
	r.write(frame(0, []byte("\x01ERROR")))                    // ZMTP 3.0 subscribe
	r.write(frame(flagCommand, []byte("\x09SUBSCRIBEERROR"))) // ZMTP 3.1, same topic again
	r.write(frame(flagCommand, []byte("\x09SUBSCRIBEWARN")))
	r.write(frame(flagCommand, []byte("\x06CANCELERROR")))
	waitTopics(t, ctx, pub, 1, "ERROR", "WARN") // still one ERROR left
	r.write(frame(0, []byte("\x00ERROR")))
	waitTopics(t, ctx, pub, 1, "WARN")
	pub.Publish([][]byte{[]byte("ERROR"), []byte("no")})
	pub.Publish([][]byte{[]byte("WARNING"), []byte("yes")})
	topic, flags := r.readFrame()
	body, _ := r.readFrame()
	if string(topic) != "WARNING" || flags&flagMore == 0 || string(body) != "yes" {
		t.Fatalf("got %q %q", topic, body)
	}
}

func TestPublisherIgnoresDataFromSubscribers(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{})
	r := dialRaw(t, pub.Endpoint())
	r.handshake("SUB")
	r.write(frame(0, []byte("\x07not a subscription")))
	r.write(frame(0, []byte("\x01ERROR")))
	waitTopics(t, ctx, pub, 1, "ERROR")
	if st := pub.Stats(); st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A subscriber that never reads loses messages (counted) while Publish
// never waits and the other subscriber gets every message.
func TestSlowSubscriberCostsOnlyItself(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{SendQueue: 100})
	slow := dialRaw(t, pub.Endpoint()) // subscribes, then never reads
	slow.handshake("SUB")
	slow.write(frame(0, []byte("\x01")))
	fast := dialSub(t, pub.Endpoint(), []string{""}, Options{})
	waitTopics(t, ctx, pub, 2, "")

	const chunk, chunks = 50, 400 // 20000 messages of 1 KiB: more than the slow one's socket buffers hold
	for c := range chunks {
		for i := range chunk {
			pub.Publish(numbered("INFO", c*chunk+i, 1024))
		}
		// Pace by the fast subscriber, so only the slow one can fall behind.
		for i, m := range recvN(t, ctx, fast, chunk) {
			if number(m) != c*chunk+i {
				t.Fatalf("fast subscriber: message %d arrived as %d", c*chunk+i, number(m))
			}
		}
	}
	var st PublisherStats
	var slowStatus, fastStatus SubscriberStatus
	for { // the fast one has everything; its counter follows the write
		st = pub.Stats()
		for _, s := range st.Subscribers {
			if s.Peer == slow.nc.LocalAddr().String() {
				slowStatus = s
			} else {
				fastStatus = s
			}
		}
		if fastStatus.Sent == chunk*chunks {
			break
		}
		waitTick(t, ctx)
	}
	if fastStatus.Dropped != 0 || fastStatus.Sent != chunk*chunks {
		t.Errorf("fast subscriber: %+v", fastStatus)
	}
	if slowStatus.Dropped == 0 || slowStatus.Queued > 100 || st.Dropped != slowStatus.Dropped {
		t.Errorf("slow subscriber: %+v; publisher dropped %d", slowStatus, st.Dropped)
	}
	if slowStatus.Sent+slowStatus.Dropped+uint64(slowStatus.Queued) > chunk*chunks {
		t.Errorf("slow subscriber accounts for more messages than were published: %+v", slowStatus)
	}
}

func TestSubscriberResubscribesAfterPublisherRestart(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "pub.sock")
	pub := listenPub(t, ep, Options{})
	opts, events := withEvents(Options{ReconnectMax: 100 * time.Millisecond})
	sub := dialSub(t, ep, []string{"ERROR"}, opts)
	waitTopics(t, ctx, pub, 1, "ERROR")
	pub.Publish(numbered("ERROR", 1, 8))
	recvN(t, ctx, sub, 1)

	pub.Close()
	waitEvent(t, ctx, events, Disconnected)
	pub = listenPub(t, ep, Options{})
	waitTopics(t, ctx, pub, 1, "ERROR")
	pub.Publish(numbered("DEBUG", 2, 8))
	pub.Publish(numbered("ERROR", 3, 8))
	if m := recvN(t, ctx, sub, 1)[0]; number(m) != 3 {
		t.Fatalf("after restart got message %d, want 3", number(m))
	}
	if st := sub.Stats(); st.Endpoints[0].Connects != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubscriberMergesPublishers(t *testing.T) {
	ctx := testsupport.Context(t)
	a := listenPub(t, "tcp://127.0.0.1:0", Options{})
	b := listenPub(t, testsupport.IPC(t, "b.sock"), Options{})
	sub := dialSub(t, a.Endpoint()+","+b.Endpoint(), []string{""}, Options{})
	waitTopics(t, ctx, a, 1, "")
	waitTopics(t, ctx, b, 1, "")
	a.Publish(numbered("A", 1, 8))
	b.Publish(numbered("B", 2, 8))
	got := map[string]bool{}
	for _, m := range recvN(t, ctx, sub, 2) {
		got[string(m.Frames[0])] = true
	}
	if !got["A"] || !got["B"] {
		t.Fatalf("got %v", got)
	}
}

// slowSubscriber connects a raw SUB peer that subscribes to topic and then
// never reads, so the publisher's writer for it stalls once the socket
// buffers are full.
func slowSubscriber(t *testing.T, pub *Publisher, topic string) *rawPeer {
	t.Helper()
	r := dialRaw(t, pub.Endpoint())
	r.handshake("SUB")
	r.write(frame(0, append([]byte{1}, topic...)))
	return r
}

// heapInUse returns the heap in use after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// fresh returns a message whose body is a fresh buffer of size bytes, as
// a received batch is: nothing else refers to it.
func fresh(topic string, size int) [][]byte {
	return [][]byte{[]byte(topic), make([]byte, size)}
}

// One peer sending 20,000 subscriptions (195 KiB) is disconnected as soon
// as it passes the limit, and counted; another subscriber is served
// meanwhile and after. A peer naming too many topic bytes in a few
// subscriptions goes the same way.
func TestPublisherDisconnectsSubscriberOverSubscriptionLimits(t *testing.T) {
	ctx := testsupport.Context(t)
	opts, events := withEvents(Options{})
	pub := listenPub(t, "tcp://127.0.0.1:0", opts)
	good := dialSub(t, pub.Endpoint(), []string{"ERROR"}, Options{})
	waitTopics(t, ctx, pub, 1, "ERROR")

	many := dialRaw(t, pub.Endpoint())
	many.handshake("SUB")
	var flood []byte
	for i := range 20000 {
		flood = append(flood, frame(0, fmt.Appendf(nil, "\x01topic-%05d", i))...)
	}
	// The publisher hangs up part way through: the write may fail.
	go many.nc.Write(flood)
	if err := many.waitClosed(); err != nil {
		t.Fatalf("20,000 subscriptions: %v", err)
	}
	e := waitEvent(t, ctx, events, Rejected)
	if !errors.Is(e.Err, ErrOverSubscribed) || !strings.Contains(e.Err.Error(), "1024 subscriptions") ||
		!strings.Contains(e.Err.Error(), `"topic-01024"`) || e.Peer != many.nc.LocalAddr().String() {
		t.Fatalf("rejected %s: %v", e.Peer, e.Err)
	}

	big := dialRaw(t, pub.Endpoint())
	big.handshake("SUB")
	topic := bytes.Repeat([]byte("x"), 40<<10)
	big.write(frame(flagCommand, append([]byte("\x09SUBSCRIBE"), topic...)))
	go big.nc.Write(frame(0, append([]byte{1}, topic...))) // 80 KiB named: over 64 KiB
	if err := big.waitClosed(); err != nil {
		t.Fatalf("80 KiB of topics: %v", err)
	}
	if e := waitEvent(t, ctx, events, Rejected); !errors.Is(e.Err, ErrOverSubscribed) || !strings.Contains(e.Err.Error(), "65536 topic bytes") {
		t.Fatalf("rejected %s: %v", e.Peer, e.Err)
	}

	awaitSubscriptions(t, ctx, pub, "the over-subscribed subscriber to leave", func(st PublisherStats) bool { return len(st.Subscribers) == 1 })
	if st := pub.Stats(); st.OverSubscribed != 2 {
		t.Fatalf("stats %+v", st)
	}
	pub.Publish(numbered("ERROR", 7, 8))
	if m := recvN(t, ctx, good, 1)[0]; number(m) != 7 {
		t.Fatalf("the other subscriber got message %d, want 7", number(m))
	}
}

// Many subscribers, each within its own limits, cannot together make the
// publisher hold more subscriptions than MaxPublisherSubscriptionBytes:
// the one whose subscription would pass it is disconnected and counted,
// with an error naming the limit; the others are served; repeating a
// topic costs nothing; what a subscriber held is given back when it
// leaves.
func TestPublisherBoundsSubscriptionsOverAllSubscribers(t *testing.T) {
	ctx := testsupport.Context(t)
	opts, events := withEvents(Options{
		MaxPublisherSubscriptionBytes: subscriptionCost("ERROR") + subscriptionCost("topic-0") + subscriptionCost("topic-1"),
	})
	pub := listenPub(t, "tcp://127.0.0.1:0", opts)
	good := dialSub(t, pub.Endpoint(), []string{"ERROR"}, Options{})
	waitTopics(t, ctx, pub, 1, "ERROR")

	first := dialRaw(t, pub.Endpoint())
	first.handshake("SUB")
	first.write(frame(0, []byte("\x01topic-0")))
	first.write(frame(0, []byte("\x01topic-1")))
	first.write(frame(0, []byte("\x01topic-0"))) // a repeat: nothing more held
	second := dialRaw(t, pub.Endpoint())
	second.handshake("SUB")
	for pub.Counters().SubscriptionBytes != opts.MaxPublisherSubscriptionBytes {
		waitTick(t, ctx)
	}
	second.write(frame(0, []byte("\x01topic-2")))
	if err := second.waitClosed(); err != nil {
		t.Fatalf("a subscription past the publisher's bound: %v", err)
	}
	e := waitEvent(t, ctx, events, Rejected)
	if !errors.Is(e.Err, ErrOverSubscribed) || !strings.Contains(e.Err.Error(), "MaxPublisherSubscriptionBytes") ||
		!strings.Contains(e.Err.Error(), `"topic-2"`) || e.Peer != second.nc.LocalAddr().String() {
		t.Fatalf("rejected %s: %v", e.Peer, e.Err)
	}
	if st := pub.Counters(); st.OverSubscribed != 1 || st.SubscriptionBytes != opts.MaxPublisherSubscriptionBytes {
		t.Fatalf("counters %+v", st)
	}
	pub.Publish(numbered("ERROR", 7, 8))
	if m := recvN(t, ctx, good, 1)[0]; number(m) != 7 {
		t.Fatalf("the other subscriber got message %d, want 7", number(m))
	}

	// The first leaves: its subscriptions' bytes are free for the next.
	first.nc.Close()
	awaitSubscriptions(t, ctx, pub, "the first subscriber's bytes given back", func(st PublisherStats) bool {
		return st.SubscriptionBytes == subscriptionCost("ERROR")
	})
	third := dialRaw(t, pub.Endpoint())
	third.handshake("SUB")
	third.write(frame(0, []byte("\x01topic-2")))
	third.write(frame(0, []byte("\x01topic-3")))
	awaitSubscriptions(t, ctx, pub, "two subscribers holding every byte", func(st PublisherStats) bool {
		return len(st.Subscribers) == 2 && st.SubscriptionBytes == opts.MaxPublisherSubscriptionBytes
	})
	if pub.Publish(numbered("topic-3", 8, 8)) != 1 {
		t.Fatal("a subscription made with the room given back does not match")
	}
}

// Subscriptions up to the limits are kept, and cancelling gives room
// back: a subscriber at its limit is not disconnected for re-subscribing
// what it cancelled.
func TestPublisherSubscriptionLimitCountsWhatIsInForce(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{MaxSubscriptions: 3, MaxSubscriptionBytes: 12})
	r := dialRaw(t, pub.Endpoint())
	r.handshake("SUB")
	r.write(frame(0, []byte("\x01INFO")))
	r.write(frame(0, []byte("\x01INFO"))) // counted twice: 2 subscriptions, 8 bytes
	r.write(frame(0, []byte("\x01WARN"))) // 3 subscriptions, 12 bytes: at both limits
	r.write(frame(0, []byte("\x00INFO")))
	r.write(frame(0, []byte("\x00NONE"))) // never subscribed: no room given back
	r.write(frame(0, []byte("\x01ERR")))  // 3 subscriptions, 11 bytes
	waitTopics(t, ctx, pub, 1, "ERR", "INFO", "WARN")
	r.write(frame(0, []byte("\x00ERR")))
	r.write(frame(0, []byte("\x01ERROR"))) // 13 bytes: over
	if err := r.waitClosed(); err != nil {
		t.Fatal(err)
	}
	for pub.Stats().OverSubscribed != 1 {
		waitTick(t, ctx)
	}
}

// Subscribers that never read keep alive no more than their byte bounds,
// each and all together, however big and many the messages published for
// them; the publisher shows what its queues hold.
func TestSlowSubscribersKeepAliveAtMostTheirByteBounds(t *testing.T) {
	ctx := testsupport.Context(t)
	const perSub, total = 1 << 20, 3 << 19 // 1 MiB each, 1.5 MiB together
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{
		SendQueue: 10000, SendQueueBytes: perSub, PublisherQueueBytes: total, WriteTimeout: time.Minute,
	})
	slowSubscriber(t, pub, "")
	slowSubscriber(t, pub, "")
	waitTopics(t, ctx, pub, 2, "")

	before := heapInUse()
	// Fill both, kernel buffers first, then the queues, until each drops;
	// then 50 MiB more. Each message is in a buffer of its own, as the
	// entries of received batches are.
	for st := pub.Stats(); st.Subscribers[0].Dropped == 0 || st.Subscribers[1].Dropped == 0; st = pub.Stats() {
		pub.Publish(fresh("INFO", 256<<10))
	}
	for range 200 {
		pub.Publish(fresh("INFO", 256<<10))
	}
	checkHeldWithinBounds(t, pub, before, perSub, total, "publishing 50 MiB to stalled subscribers")
}

// checkHeldWithinBounds checks that pub's stalled subscribers each hold
// some messages and at most perSub bytes, that together they hold what
// the publisher counts and at most total, and that the heap grew by at
// most 8 MiB since it was before while doing what.
func checkHeldWithinBounds(t *testing.T, pub *Publisher, before uint64, perSub, total int64, doing string) {
	t.Helper()
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap grew %d KiB", grown>>10)
	st := pub.Stats()
	sum := int64(0)
	for _, s := range st.Subscribers {
		if s.QueuedBytes > perSub || s.Queued == 0 {
			t.Errorf("subscriber %s %v: %d messages, %d bytes queued; bound %d", s.Peer, s.Topics, s.Queued, s.QueuedBytes, perSub)
		}
		sum += s.QueuedBytes
	}
	if st.QueuedBytes > total || st.QueuedBytes != sum {
		t.Errorf("publisher holds %d bytes, its subscribers %d; bound %d", st.QueuedBytes, sum, total)
	}
	if grown > 8<<20 {
		t.Errorf("the heap grew %d MiB while %s", grown>>20, doing)
	}
}

// Publish copies what it queues: the caller may overwrite its buffers as
// soon as Publish returns, and the subscriber still gets what was
// published.
func TestPublishCopiesSoTheCallerMayReuseFrames(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{})
	sub := dialSub(t, pub.Endpoint(), []string{""}, Options{})
	waitTopics(t, ctx, pub, 1, "")
	buf, frames := make([]byte, 4+8), make([][]byte, 2) // reused for every message
	const n = 1000
	for i := range n {
		copy(buf, "INFO")
		binary.BigEndian.PutUint64(buf[4:], uint64(i))
		frames[0], frames[1] = buf[:4], buf[4:]
		if pub.Publish(frames) != 1 {
			t.Fatalf("message %d not queued", i)
		}
		copy(buf, "XXXXXXXXXXXX")
		frames[0], frames[1] = buf[4:], buf[:4]
	}
	for i, m := range recvN(t, ctx, sub, n) {
		if string(m.Frames[0]) != "INFO" || number(m) != i {
			t.Fatalf("message %d arrived as %q %d", i, m.Frames[0], number(m))
		}
	}
}

// A subscriber's queue costs what it holds: idle subscribers of a
// publisher with a deep queue (the collector's 10,000) do not each pay
// for it up front.
func TestIdleSubscribersDoNotPayForTheirQueueBound(t *testing.T) {
	ctx := testsupport.Context(t)
	pub := listenPub(t, "tcp://127.0.0.1:0", Options{SendQueue: 10000})
	const n = 100
	before := heapInUse()
	for range n {
		slowSubscriber(t, pub, "ERROR")
	}
	waitTopics(t, ctx, pub, n, "ERROR")
	// 10,000 slots of a [][]byte are 240 KiB; the connection's own
	// buffers are counted in too.
	per := (int64(heapInUse()) - int64(before)) / n
	t.Logf("each idle subscriber costs %d KiB", per>>10)
	if per > 200<<10 {
		t.Fatalf("each idle subscriber costs %d KiB", per>>10)
	}
}

// Every message matched for a subscriber is sent or counted as dropped,
// including what is still queued when it leaves or the publisher closes.
func TestQueuedMessagesAreCountedDroppedWhenSubscriberGoes(t *testing.T) {
	for _, how := range []string{"subscriber leaves", "publisher closes"} {
		t.Run(how, func(t *testing.T) {
			ctx := testsupport.Context(t)
			pub := listenPub(t, "tcp://127.0.0.1:0", Options{SendQueueBytes: 1 << 20, WriteTimeout: time.Minute})
			slow := slowSubscriber(t, pub, "")
			waitTopics(t, ctx, pub, 1, "")
			// Publish until the queue refuses with messages still in it. A
			// refusal while the writer still drains into the kernel's
			// buffers can find the queue empty a moment later; once those
			// buffers are full the writer blocks and what is queued stays.
			published, refused := 0, 0
			for pub.Stats().Subscribers[0].Queued == 0 {
				for pub.Publish(fresh("INFO", 64<<10)) == 1 {
					published++
				}
				refused++
			}
			if how == "subscriber leaves" {
				slow.nc.Close()
				awaitSubscriptions(t, ctx, pub, "the subscriber to leave", func(st PublisherStats) bool { return len(st.Subscribers) == 0 })
			} else {
				pub.Close()
			}
			st := pub.Stats()
			// published were queued; the refused were dropped at once.
			if st.Sent+st.Dropped != uint64(published+refused) || st.QueuedBytes != 0 {
				t.Fatalf("%d queued and %d refused, then %d sent and %d dropped; %d bytes still held", published, refused, st.Sent, st.Dropped, st.QueuedBytes)
			}
		})
	}
}
