// slog-writer logs with log/slog through slogzmq to a collector, at
// several levels, then prints what it shipped, sent and dropped.
//
//	go run ./cmd/zmqcollect &
//	go run ./examples/slog-writer --endpoint tcp://127.0.0.1:5557 --count 100
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/slogzmq"
)

func main() {
	endpoint := flag.String("endpoint", "tcp://127.0.0.1:5557", "collector(s) to send to, comma-separated")
	app := flag.String("app", "slog-writer", "app name in every topic")
	count := flag.Int("count", 20, "records to log")
	every := flag.Duration("every", 50*time.Millisecond, "pause between records")
	curveServer := flag.String("curve-server", "", "the collector's public CURVE certificate (NAME.key), to a collector started with --curve-secret")
	curveSecret := flag.String("curve-secret", "", "this app's secret CURVE certificate (NAME.key_secret, from zmqcollect keygen)")
	flag.Parse()

	opts := &slogzmq.Options{App: *app, Level: slog.LevelDebug}
	if *curveServer != "" || *curveSecret != "" {
		opts.Shipper = append(opts.Shipper, zmqlog.WithCurve(*curveServer, *curveSecret))
	}
	h, err := slogzmq.NewHandler(*endpoint, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	slogzmq.AddToDefault(h) // the default logger keeps writing to stderr, and ships
	for i := range *count {
		switch i % 4 {
		case 0:
			slog.Debug("cache miss", "key", fmt.Sprint("user:", i))
		case 1:
			slog.Info("request served", "i", i, "status", 200)
		case 2:
			slog.Warn("retrying", "i", i, "attempt", 2)
		case 3:
			slog.Error("request failed", "i", i, "status", 503)
		}
		time.Sleep(*every)
	}
	if err := h.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	st := h.Shipper().Stats()
	fmt.Printf("shipped %d, sent %d, dropped %d\n", st.Shipped, st.Sent, st.Dropped)
}
