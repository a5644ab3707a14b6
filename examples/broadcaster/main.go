// broadcaster receives from apps and re-publishes every entry as
// [topic, entry], with the level first in the topic, for any ZeroMQ SUB:
// zmqtail, pyzmq, libzmq. It stores nothing.
//
//	go run ./examples/broadcaster --pull tcp://127.0.0.1:5557 --pub tcp://127.0.0.1:5558
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/zmqlog/zmqlog/collector"
)

func main() {
	pull := flag.String("pull", "tcp://127.0.0.1:5557", "where apps send")
	pub := flag.String("pub", "tcp://127.0.0.1:5558", "where subscribers connect")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, err := collector.New(collector.Config{Pull: *pull, Pub: *pub, NoFile: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "apps send to %s, subscribers connect to %s\n", c.PullEndpoint(), c.PubEndpoint())
	if err := c.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
