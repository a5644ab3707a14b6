package zsock

import (
	"context"
	"fmt"
	"io"
	"net"
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
