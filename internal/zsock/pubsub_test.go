package zsock

import (
	"context"
	"slices"
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

// waitTopics waits until the publisher has n subscribers whose topic sets
// are all want.
func waitTopics(t *testing.T, ctx context.Context, pub *Publisher, n int, want ...string) {
	t.Helper()
	slices.Sort(want)
	for {
		st := pub.Stats()
		ok := len(st.Subscribers) == n
		for _, s := range st.Subscribers {
			got := slices.Clone(s.Topics)
			slices.Sort(got)
			ok = ok && slices.Equal(got, want)
		}
		if ok {
			return
		}
		waitTick(t, ctx)
	}
}

func TestPubSubFiltersByPrefixAtThePublisher(t *testing.T) {
	ctx := testContext(t)
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
	ctx := testContext(t)
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
	ctx := testContext(t)
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
	ctx := testContext(t)
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
	ctx := testContext(t)
	ep := ipcEndpoint(t, "pub.sock")
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
	ctx := testContext(t)
	a := listenPub(t, "tcp://127.0.0.1:0", Options{})
	b := listenPub(t, ipcEndpoint(t, "b.sock"), Options{})
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
