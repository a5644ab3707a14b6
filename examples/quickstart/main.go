// Quickstart: everything in one terminal. An embedded collector on
// loopback, one zap app and one slog app logging at several levels, and
// the colored tail of the stream; after a few seconds (or Ctrl-C) it
// prints what was sent, received, stored and dropped.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"go.uber.org/zap"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/slogzmq"
	"github.com/zmqlog/zmqlog/tail"
	"github.com/zmqlog/zmqlog/zapzmq"
)

func main() {
	duration := flag.Duration("duration", 3*time.Second, "how long the apps log")
	pull := flag.String("pull", "tcp://127.0.0.1:0", "where the embedded collector receives (port 0: any free port)")
	pub := flag.String("pub", "tcp://127.0.0.1:0", "where the embedded collector publishes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	color := isatty.IsTerminal(os.Stdout.Fd()) && os.Getenv("NO_COLOR") == ""
	if err := run(ctx, os.Stdout, color, *duration, *pull, *pub); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, color bool, duration time.Duration, pullEP, pubEP string) error {
	dir, err := os.MkdirTemp("", "zmqlog-quickstart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// 1. The collector: stores to a file, re-publishes by level.
	col, err := collector.New(collector.Config{
		Pull: pullEP, Pub: pubEP, File: filepath.Join(dir, "quickstart.jsonl"),
		Heartbeat: 100 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	colCtx, stopCollector := context.WithCancel(context.Background())
	defer stopCollector()
	colDone := make(chan error, 1)
	go func() { colDone <- col.Run(colCtx) }()
	fmt.Fprintf(out, "collector: apps send to %s, subscribers connect to %s\n\n", col.PullEndpoint(), col.PubEndpoint())

	// 2. The tail: every entry, pretty and in color on a terminal.
	printer := tail.NewPrinter(out, tail.Options{Color: color})
	tailCtx, stopTail := context.WithCancel(context.Background())
	defer stopTail()
	ready := make(chan struct{})
	var readyOnce atomic.Bool
	var shown atomic.Int64
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		tail.Follow(tailCtx, col.PubEndpoint(), nil, func(topic string, entry []byte) {
			if topic == collector.HeartbeatTopic {
				if readyOnce.CompareAndSwap(false, true) {
					close(ready) // subscribed: the heartbeat got through
				}
				return
			}
			printer.Print(topic, entry)
			shown.Add(1)
		})
	}()
	select {
	case <-ready:
	case <-ctx.Done():
	}

	// 3. Two apps: zap and slog, each with one line of wiring.
	core, err := zapzmq.NewCore(col.PullEndpoint(), zapzmq.WithApp("shop"))
	if err != nil {
		return err
	}
	zapLogger := zap.NewNop().WithOptions(zapzmq.Tee(core)).Named("orders")
	h, err := slogzmq.NewHandler(col.PullEndpoint(), &slogzmq.Options{App: "billing", Level: slog.LevelDebug})
	if err != nil {
		return err
	}
	slogLogger := slog.New(h).With("region", "eu-west")

	deadline := time.NewTimer(duration)
	defer deadline.Stop()
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
loop:
	for i := 1; ; i++ {
		select {
		case <-deadline.C:
			break loop
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		zapLogger.Info("order placed", zap.Int("order", 1000+i), zap.Float64("total", 12.5*float64(i%7+1)))
		slogLogger.Debug("invoice drafted", "invoice", fmt.Sprintf("INV-%d", i))
		if i%3 == 0 {
			zapLogger.Warn("stock low", zap.String("sku", "SKU-42"), zap.Int("left", 10-i%10))
		}
		if i%4 == 0 {
			slogLogger.Error("card declined", "invoice", fmt.Sprintf("INV-%d", i), "code", 51)
		}
		if i%7 == 0 {
			zapLogger.Error("payment service timeout", zap.Duration("after", 2*time.Second))
		}
	}

	// 4. Shut down in order: apps flush, the collector stores, the tail
	// shows what is left; then the numbers.
	core.Close()
	h.Close()
	zst, sst := core.Shipper().Stats(), h.Shipper().Stats()
	sent := zst.Sent + sst.Sent
	waitUntil(func() bool { return col.Stats().Received >= sent && shown.Load() >= int64(sent) }, 2*time.Second)
	stopCollector()
	if err := <-colDone; err != nil {
		return err
	}
	stopTail()
	<-tailDone
	cst := col.Stats()
	fmt.Fprintf(out, "\nshop (zap):     shipped %d, sent %d, dropped %d\n", zst.Shipped, zst.Sent, zst.Dropped)
	fmt.Fprintf(out, "billing (slog): shipped %d, sent %d, dropped %d\n", sst.Shipped, sst.Sent, sst.Dropped)
	fmt.Fprintf(out, "collector:      received %d, stored %d, lost in transit %d, published %d; the tail showed %d\n",
		cst.Received, cst.Stored, cst.Gaps, cst.Published, shown.Load())
	return nil
}

// waitUntil polls cond until it holds or the time is up: the apps have
// flushed, so the last entries are at most a moment away.
func waitUntil(cond func() bool, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}
