package zmqlog_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/collector"
)

// A shipper sends entries to a collector (here one on a loopback port)
// and says what became of them: Shipped == Sent + Dropped + Queued.
func ExampleShipper() {
	c, err := collector.New(collector.Config{Pull: "tcp://127.0.0.1:0", NoPub: true, NoFile: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { stop(); <-done }()

	s, err := zmqlog.NewShipper(c.PullEndpoint(), zmqlog.WithApp("checkout"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	s.Ship("INFO.checkout", []byte(`{"level":"info","msg":"order placed"}`))
	s.Ship("ERROR.checkout", []byte(`{"level":"error","msg":"card declined"}`))

	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Flush(fctx); err != nil {
		fmt.Println(err)
	}
	st := s.Stats()
	fmt.Println("shipped", st.Shipped, "sent", st.Sent, "dropped", st.Dropped, "queued", st.Queued)
	// Output: shipped 2 sent 2 dropped 0 queued 0
}
