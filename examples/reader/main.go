// reader is the smallest collector: it receives from any number of apps
// and prints every entry, one JSON object per line, to stdout.
//
//	go run ./examples/reader --pull tcp://127.0.0.1:5557
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
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, err := collector.New(collector.Config{Pull: *pull, NoPub: true, NoFile: true, Stdout: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "reading from", c.PullEndpoint())
	if err := c.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
