package zsock

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// BenchmarkPushPull sends 2-frame messages (a 4-byte topic and a 100-byte
// entry) over TCP loopback from one sender goroutine to one receiver, with
// our sockets and with go-zeromq/zmq4's own PUSH/PULL, in the same run.
func BenchmarkPushPull(b *testing.B) {
	topic, body := []byte("INFO"), make([]byte, 100)

	b.Run("zsock", func(b *testing.B) {
		ctx := context.Background()
		pull, err := ListenPull(Endpoint{Transport: "tcp", Address: "127.0.0.1:0", raw: "tcp://127.0.0.1:0"}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer pull.Close()
		ep, _ := ParseEndpoint(pull.Endpoint(), false)
		push := DialPush([]Endpoint{ep}, Options{})
		defer push.Close()
		b.SetBytes(int64(len(topic) + len(body)))
		b.ResetTimer()
		go func() {
			for range b.N {
				push.Send(ctx, Plain{topic, body})
			}
		}()
		for range b.N {
			if _, err := pull.Recv(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})

	b.Run("zmq4", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pull := zmq4.NewPull(ctx)
		defer pull.Close()
		if err := pull.Listen("tcp://127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		push := zmq4.NewPush(ctx)
		defer push.Close()
		if err := push.Dial("tcp://" + pull.Addr().String()); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(topic) + len(body)))
		b.ResetTimer()
		go func() {
			for range b.N {
				// SendMulti: one writev per message, zmq4's fastest path.
				push.SendMulti(zmq4.NewMsgFrom(topic, body))
			}
		}()
		for range b.N {
			if _, err := pull.Recv(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkPublish measures Publish per entry for one subscriber holding
// 1, 100 and 10,000 subscriptions, side by side: matching must cost the
// topic's length, not the number of subscriptions. The subscriber asked
// for "ERROR" (and, past the first, for "INFO.xxxx" topics that match
// none of the entries); one entry in ten is an ERROR, which Publish copies
// and queues and the subscriber's writer sends over TCP loopback to a
// reader that discards it.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subscriptions=%d", n), func(b *testing.B) {
			pub, err := ListenPub(Endpoint{Transport: "tcp", Address: "127.0.0.1:0", raw: "tcp://127.0.0.1:0"},
				Options{MaxSubscriptions: n, MaxSubscriptionBytes: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			topics := []string{"ERROR"}
			for i := range n - 1 {
				topics = append(topics, fmt.Sprintf("INFO.%04x", i))
			}
			stop := benchSubscriber(b, pub, topics)
			defer stop()
			body := make([]byte, 150)
			info := [][]byte{[]byte("INFO.api.orders"), body}
			errorEntry := [][]byte{[]byte("ERROR.api.orders"), body}
			before := pub.Stats().Dropped
			b.ResetTimer()
			for i := range b.N {
				if i%10 == 9 {
					pub.Publish(errorEntry)
				} else {
					pub.Publish(info)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(pub.Stats().Dropped-before)/float64(max(b.N/10, 1))*100, "%errors-dropped")
		})
	}
}

// BenchmarkPublishBatch measures publishing a received batch's entries,
// the collector's shape, per entry: a Publish per entry beside one
// PublishEach for the batch, in the same run. Batches are 400 entries of
// 150 bytes (a 64 KiB producer batch), all for one subscriber that takes
// everything, whose writer sends them over TCP loopback to a reader that
// discards them. Each batch is published once the last one is written
// (its queue is empty), so nothing is dropped; the time per entry is the
// publishing goroutine's (matching, copying, queueing and waking the
// writer: what the collector's ingest pays), without the wait.
func BenchmarkPublishBatch(b *testing.B) {
	const perBatch = 400
	body := make([]byte, 150)
	msgs := make([][][]byte, perBatch)
	for i := range msgs {
		msgs[i] = [][]byte{[]byte("INFO.api.orders"), body}
	}
	for _, shape := range []struct {
		name    string
		publish func(p *Publisher, batch [][][]byte)
	}{
		{"publish-per-entry", func(p *Publisher, batch [][][]byte) {
			for _, m := range batch {
				p.Publish(m)
			}
		}},
		{"publish-each", func(p *Publisher, batch [][][]byte) { p.PublishEach(batch) }},
	} {
		b.Run(shape.name, func(b *testing.B) {
			pub, err := ListenPub(Endpoint{Transport: "tcp", Address: "127.0.0.1:0", raw: "tcp://127.0.0.1:0"}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			stop := benchSubscriber(b, pub, []string{""})
			defer stop()
			before := pub.Counters().Dropped
			b.ResetTimer()
			for n := 0; n < b.N; n += perBatch {
				shape.publish(pub, msgs[:min(perBatch, b.N-n)])
				b.StopTimer()
				for pub.budget.used.Load() > 0 { // written and released
					runtime.Gosched()
				}
				b.StartTimer()
			}
			b.StopTimer()
			if dropped := pub.Counters().Dropped - before; dropped > 0 {
				b.Fatalf("%d of %d entries dropped: the benchmark measures delivered entries", dropped, b.N)
			}
		})
	}
}

// BenchmarkSubscriptionApply measures applying one subscription change
// (a subscribe, then its cancel) for a subscriber already holding 1, 100
// and 10,000 subscriptions.
func BenchmarkSubscriptionApply(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subscriptions=%d", n), func(b *testing.B) {
			p := newPublisher(Options{MaxSubscriptions: n + 1, MaxSubscriptionBytes: 1 << 20}.withDefaults())
			s := &subscriber{}
			for i := range n {
				if err := p.change(s, subscriptionChange{subscribe: true, topic: fmt.Sprintf("INFO.%04x", i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				p.change(s, subscriptionChange{subscribe: i%2 == 0, topic: "INFO.api.orders"})
			}
		})
	}
}

// benchSubscriber connects a raw SUB peer to pub with the given
// subscriptions, waits until the publisher holds them all, and discards
// whatever the publisher sends. stop hangs up and waits for its reader.
func benchSubscriber(b *testing.B, pub *Publisher, topics []string) (stop func()) {
	b.Helper()
	ep, err := ParseEndpoint(pub.Endpoint(), false)
	if err != nil {
		b.Fatal(err)
	}
	nc, err := net.Dial(ep.network(), ep.Address)
	if err != nil {
		b.Fatal(err)
	}
	out := zmtpraw.Handshake("SUB")
	for _, t := range topics {
		out = append(out, frame(0, append([]byte{1}, t...))...)
	}
	if _, err := nc.Write(out); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(io.Discard, nc)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	awaitSubscriptions(b, ctx, pub, fmt.Sprintf("one subscriber holding %d topics", len(topics)), func(st PublisherStats) bool {
		return len(st.Subscribers) == 1 && len(st.Subscribers[0].Topics) == len(topics)
	})
	return func() {
		nc.Close()
		<-done
	}
}

// BenchmarkPushPull64KiB sends 64 KiB messages (the shipper's batch size)
// from one PUSH to one PULL over TCP loopback, in plaintext and with
// CURVE in the same run: what the MESSAGE boxes cost a producer's stream.
func BenchmarkPushPull64KiB(b *testing.B) {
	keys := newCurvePair(b)
	for _, mode := range []struct {
		name           string
		server, client *CurveConfig
	}{
		{"plaintext", nil, nil},
		{"curve", keys.serverConfig(), keys.clientConfig()},
	} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			// One host handshakes as fast as it can: the per-host rate
			// limit is off, the crypto is what is measured.
			pull, err := ListenPull(Endpoint{Transport: "tcp", Address: "127.0.0.1:0", raw: "tcp://127.0.0.1:0"}, Options{Curve: mode.server, HandshakeRate: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer pull.Close()
			ep, _ := ParseEndpoint(pull.Endpoint(), false)
			push := DialPush([]Endpoint{ep}, Options{Curve: mode.client})
			defer push.Close()
			body := make([]byte, 64<<10)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for range b.N {
					push.Send(ctx, Plain{body})
				}
			}()
			for range b.N {
				if _, err := pull.Recv(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkHandshake completes handshakes with a PULL socket over TCP
// loopback, one after another (client and server on the same machine,
// so each costs both sides' work), with NULL and CURVE in the same run.
func BenchmarkHandshake(b *testing.B) {
	keys := newCurvePair(b)
	for _, mode := range []struct {
		name           string
		server, client *CurveConfig
	}{
		{"null", nil, nil},
		{"curve", keys.serverConfig(), keys.clientConfig()},
	} {
		b.Run(mode.name, func(b *testing.B) {
			// One host handshakes as fast as it can: the per-host rate
			// limit is off, the crypto is what is measured.
			pull, err := ListenPull(Endpoint{Transport: "tcp", Address: "127.0.0.1:0", raw: "tcp://127.0.0.1:0"}, Options{Curve: mode.server, HandshakeRate: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer pull.Close()
			ep, _ := ParseEndpoint(pull.Endpoint(), false)
			opts := Options{Curve: mode.client, Heartbeat: -1}.withDefaults()
			b.ResetTimer()
			for range b.N {
				nc, err := net.Dial("tcp", ep.Address)
				if err != nil {
					b.Fatal(err)
				}
				c, err := handshake(context.Background(), nc, zmq4.Push, false, opts)
				if err != nil {
					b.Fatal(err)
				}
				c.close()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}
