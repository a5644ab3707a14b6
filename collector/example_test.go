package collector_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/collector"
)

// A collector on a loopback port, echoing what it stores to stdout, and a
// shipper sending it two entries: one JSON object, stored as it is, and
// one plain line, stored wrapped in an object.
func Example() {
	c, err := collector.New(collector.Config{
		Pull: "tcp://127.0.0.1:0", NoPub: true, NoFile: true, Stdout: os.Stdout,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	s, err := zmqlog.NewShipper(c.PullEndpoint(), zmqlog.WithApp("example"))
	if err != nil {
		fmt.Println(err)
		stop()
		<-done
		return
	}
	s.Ship("INFO", []byte(`{"level":"info","msg":"hello"}`))
	s.Ship("WARN.example", []byte("disk almost full\n"))
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Flush(fctx); err != nil { // written to the collector's socket
		fmt.Println(err)
	}
	s.Close()

	stop() // Run drains what was already sent, stores it, and returns
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	st := c.Stats()
	fmt.Println("received", st.Received, "lost in transit", st.Gaps)
	// Output:
	// {"level":"info","msg":"hello"}
	// {"level":"WARN","topic":"WARN.example","msg":"disk almost full","wrapped":true}
	// received 2 lost in transit 0
}
