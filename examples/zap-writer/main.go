// zap-writer logs with zap through zapzmq to a collector, at several
// levels, then prints what it shipped, sent and dropped.
//
//	go run ./cmd/zmqcollect &
//	go run ./examples/zap-writer --endpoint tcp://127.0.0.1:5557 --count 100
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/zapzmq"
)

func main() {
	endpoint := flag.String("endpoint", "tcp://127.0.0.1:5557", "collector(s) to send to, comma-separated")
	app := flag.String("app", "zap-writer", "app name in every topic")
	count := flag.Int("count", 20, "entries to log")
	every := flag.Duration("every", 50*time.Millisecond, "pause between entries")
	curveServer := flag.String("curve-server", "", "the collector's public CURVE certificate (NAME.key), to a collector started with --curve-secret")
	curveSecret := flag.String("curve-secret", "", "this app's secret CURVE certificate (NAME.key_secret, from zmqcollect keygen)")
	flag.Parse()

	opts := []zapzmq.Option{zapzmq.WithApp(*app)}
	if *curveServer != "" || *curveSecret != "" {
		opts = append(opts, zapzmq.WithShipperOptions(zmqlog.WithCurve(*curveServer, *curveSecret)))
	}
	core, err := zapzmq.NewCore(*endpoint, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The logger the program already has (here: development output to
	// stderr), plus shipping, in one line.
	logger, _ := zap.NewDevelopment()
	logger = logger.WithOptions(zapzmq.Tee(core))
	for i := range *count {
		switch i % 4 {
		case 0, 1:
			logger.Info("working", zap.Int("i", i))
		case 2:
			logger.Warn("slow step", zap.Int("i", i), zap.Duration("took", 300*time.Millisecond))
		case 3:
			logger.Error("step failed", zap.Int("i", i), zap.String("reason", "timeout"))
		}
		time.Sleep(*every)
	}
	if err := core.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	st := core.Shipper().Stats()
	fmt.Printf("shipped %d, sent %d, dropped %d\n", st.Shipped, st.Sent, st.Dropped)
}
