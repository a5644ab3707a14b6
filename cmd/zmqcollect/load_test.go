package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// steadyLoad is a real producer shipping a steady stream to a collector
// and a real subscriber waiting for its last entry, for the tests that
// attack the collector meanwhile.
type steadyLoad struct {
	s        *zmqlog.Shipper
	slowest  slowestCall
	stop     chan struct{}
	produced chan int
	sawEnd   chan bool
}

// startSteadyLoad connects the producer and the subscriber, waits until
// the collector has both, and starts the stream.
func startSteadyLoad(t *testing.T, ctx context.Context, c *collectorProc) *steadyLoad {
	t.Helper()
	sub := testcollector.Subscribe(t, c.pub, zsock.Options{}, "INFO")
	s, err := zmqlog.NewShipper(c.pull, zmqlog.WithApp("steady"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	testsupport.WaitFor(t, ctx, "the producer and the subscriber to connect", func() bool {
		return c.metric(t, "zmqlog_collector_connections") >= 1 && c.metric(t, "zmqlog_collector_subscribers") >= 1
	})
	l := &steadyLoad{s: s, stop: make(chan struct{}), produced: make(chan int), sawEnd: make(chan bool, 1)}
	go func() {
		n := 0
		line := []byte(`{"level":"info","msg":"business as usual"}`)
		for {
			select {
			case <-l.stop:
				s.Ship("INFO", []byte(`{"level":"info","msg":"end"}`))
				l.produced <- n + 1
				return
			default:
			}
			for range 250 {
				l.slowest.ship(s, "INFO", line)
			}
			n += 250
			time.Sleep(5 * time.Millisecond) // a steady load, not a flood
		}
	}()
	go func() {
		for {
			m, err := sub.Recv(ctx)
			if err != nil {
				l.sawEnd <- false
				return
			}
			if strings.Contains(string(m.Frames[1]), `"end"`) {
				l.sawEnd <- true
				return
			}
		}
	}()
	return l
}

// finish ends the stream, flushes it, and checks the subscriber got its
// last entry; it returns how many entries were shipped.
func (l *steadyLoad) finish(t *testing.T, ctx context.Context) int {
	t.Helper()
	close(l.stop)
	n := <-l.produced
	if err := l.s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !<-l.sawEnd {
		t.Fatal("the normal subscriber did not get the producer's last entry")
	}
	return n
}
