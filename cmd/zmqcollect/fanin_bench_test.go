package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
)

// BenchmarkZmqcollectFanIn is the fan-in sweep of issue 18: the built
// zmqcollect, every entry stored and accounted, and N shippers in this
// process, each logging 200-byte entries at a steady rate. Real fleets
// are many services at low rates, and the collector's cost follows its
// messages, not its entries: at a low rate each batch holds few entries.
// For b.N entries in all it reports the collector process's CPU per
// entry (from /proc), its share of a core while the load ran, and the
// entries per message it received.
//
//	go test -run '^$' -bench ZmqcollectFanIn -benchtime 300000x ./cmd/zmqcollect
func BenchmarkZmqcollectFanIn(b *testing.B) {
	for _, shape := range []struct {
		producers, rate int
		pace            string
	}{
		{1, 100000, "default"}, {100, 1000, "default"}, {1000, 100, "default"}, {1000, 10, "default"},
		// The same shapes with no pace: every partly filled batch leaves
		// after the linger, as before WithPace (the baseline).
		{100, 1000, "0"}, {1000, 100, "0"}, {1000, 10, "0"},
	} {
		b.Run(fmt.Sprintf("producers=%d/rate=%d/pace=%s", shape.producers, shape.rate, shape.pace), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := startCollector(b, ctx, "--max-size", "100000", "--max-conns-per-host", "4096", "--pub", "")
			entry := []byte(`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","method":"GET","path":"/v1/orders","status":200,"took":0.0042,"n":1}`)
			shippers := make([]*zmqlog.Shipper, shape.producers)
			for i := range shippers {
				opts := []zmqlog.Option{zmqlog.WithApp(fmt.Sprint("svc-", i)), zmqlog.WithBlock(time.Minute)}
				if shape.pace == "0" {
					opts = append(opts, zmqlog.WithPace(0))
				}
				s, err := zmqlog.NewShipper(c.pull, opts...)
				if err != nil {
					b.Fatal(err)
				}
				shippers[i] = s
			}
			baseEntries := c.metric(b, "zmqlog_collector_entries_received_total")
			baseBatches := c.metric(b, `zmqlog_collector_messages_total{kind="batch"}`)
			cpu0 := processCPU(b, c.cmd.Process.Pid)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, s := range shippers {
				n := b.N / shape.producers
				if i < b.N%shape.producers {
					n++
				}
				wg.Add(1)
				go func() { // paced: one tick each 10ms, rate/100 entries a tick
					defer wg.Done()
					per := max(1, shape.rate/100)
					every := 10 * time.Millisecond
					if shape.rate < 100 {
						per, every = 1, time.Second/time.Duration(shape.rate)
					}
					t := time.NewTicker(every)
					defer t.Stop()
					for sent := 0; sent < n; {
						<-t.C
						for k := 0; k < per && sent < n; k++ {
							s.Ship("INFO.api", entry)
							sent++
						}
					}
				}()
			}
			wg.Wait()
			for c.metric(b, "zmqlog_collector_entries_received_total")-baseEntries < float64(b.N) {
				time.Sleep(10 * time.Millisecond) // polling a counter: a benchmark, not a test
			}
			elapsed := time.Since(start)
			cpu := processCPU(b, c.cmd.Process.Pid) - cpu0
			b.StopTimer()
			batches := c.metric(b, `zmqlog_collector_messages_total{kind="batch"}`) - baseBatches
			b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "collector-cpu-µs/entry")
			b.ReportMetric(cpu.Seconds()/elapsed.Seconds()*100, "%collector-core")
			b.ReportMetric(float64(b.N)/batches, "entries/message")
			for _, s := range shippers {
				s.Close()
			}
			c.terminate(b, ctx)
		})
	}
}
