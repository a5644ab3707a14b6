package zsock

import (
	"context"
	"testing"

	"github.com/go-zeromq/zmq4"
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
				push.Send(ctx, [][]byte{topic, body})
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
