package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/procstat"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// BenchmarkZmqcollectFanIn is the fan-in sweep of issue 18: the built
// zmqcollect, every entry stored and accounted, and N shippers in this
// process, each logging 200-byte entries at a steady rate. Real fleets
// are many services at low rates, and the collector's cost follows its
// messages, not its entries: at a low rate each batch holds few entries.
// For b.N entries in all it reports the collector process's CPU per
// entry (from /proc, until every entry is in the store file), its share
// of a core while the load ran, the
// entries per message it received, its threads' context switches per
// message (each one a thread that went to sleep or was preempted: the
// wake-ups a message costs), and its heap and goroutine stacks in use per
// producer connection at the end of the load, over what it used before
// the producers connected.
//
//	go test -run '^$' -bench ZmqcollectFanIn -benchtime 300000x ./cmd/zmqcollect
func BenchmarkZmqcollectFanIn(b *testing.B) {
	useBenchBinary(b)
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
			heap0 := c.metric(b, "go_memstats_heap_inuse_bytes")
			stack0 := c.metric(b, "go_memstats_stack_inuse_bytes")
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
			// The end of the load is awaited on the store file, not on
			// /metrics: a scrape with a thousand producers costs the
			// collector about 20 ms of CPU, a tenth of what the 1000 ×
			// 100/s shape measures.
			stored := procstat.FollowLines(c.file)
			// Every connection is up once every shipper's first entry is
			// stored: a thousand handshakes (about 195 µs of the
			// collector's CPU each) are not the steady state this
			// measures, and BenchmarkFanInLibzmq's sinks are measured
			// after the same warm-up. Measured at 1000 × 100/s,
			// -benchtime 100000x: 3.5, 3.5, 4.0 µs an entry with it
			// against 4.0, 4.2, 4.7 without.
			warm := stored.Count(b) + shape.producers
			for _, s := range shippers {
				s.Ship("INFO.api", entry)
			}
			warmCtx, warmed := context.WithTimeout(ctx, time.Minute) // a producer that cannot connect fails the run
			stored.WaitFor(b, warmCtx, warm)
			warmed()
			baseStored := stored.Count(b)
			baseBatches := c.metric(b, `zmqlog_collector_messages_total{kind="batch"}`)
			cpu0 := procstat.ProcessCPU(b, c.cmd.Process.Pid)
			switches0 := procstat.ContextSwitches(b, c.cmd.Process.Pid)
			b.ResetTimer()
			start := time.Now()
			procstat.PaceAll(ctx, b.N, shape.producers, shape.rate, func(i int) { shippers[i].Ship("INFO.api", entry) })
			elapsed := time.Since(start) // the load's length; its last entries are stored within the flush interval
			stored.WaitFor(b, ctx, baseStored+b.N)
			cpu := procstat.ProcessCPU(b, c.cmd.Process.Pid) - cpu0
			switches := procstat.ContextSwitches(b, c.cmd.Process.Pid) - switches0
			b.StopTimer()
			heap := c.metric(b, "go_memstats_heap_inuse_bytes") - heap0
			stack := c.metric(b, "go_memstats_stack_inuse_bytes") - stack0
			batches := c.metric(b, `zmqlog_collector_messages_total{kind="batch"}`) - baseBatches
			b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "collector-cpu-µs/entry")
			b.ReportMetric(cpu.Seconds()/elapsed.Seconds()*100, "%collector-core")
			b.ReportMetric(float64(b.N)/batches, "entries/message")
			b.ReportMetric(float64(switches)/batches, "ctx-switches/message")
			b.ReportMetric(heap/float64(shape.producers)/1024, "heap-KiB/conn")
			b.ReportMetric(stack/float64(shape.producers)/1024, "stack-KiB/conn")
			for _, s := range shippers {
				s.Close()
			}
			c.terminate(b, ctx)
		})
	}
}

// BenchmarkZmqcollectLatency measures what the pace costs a person
// watching: one producer logs at a steady rate, a subscriber on the
// collector's PUB port takes every entry, and each entry's time from Ship
// to the subscriber is recorded (both in this process, one clock). It
// reports the median, p99 and worst, with the default pace and with none.
//
//	go test -run '^$' -bench ZmqcollectLatency -benchtime 500x ./cmd/zmqcollect
func BenchmarkZmqcollectLatency(b *testing.B) {
	useBenchBinary(b)
	for _, pace := range []string{"default", "0"} {
		b.Run("rate=100/pace="+pace, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := startCollector(b, ctx, "--file", "")
			sub := testcollector.Subscribe(b, c.pub, zsock.Options{}, "INFO")
			opts := []zmqlog.Option{zmqlog.WithApp("lat")}
			if pace == "0" {
				opts = append(opts, zmqlog.WithPace(0))
			}
			s, err := zmqlog.NewShipper(c.pull, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// The subscription is in place once a probe comes back.
			for {
				s.Ship("INFO.probe", []byte(`{"probe":true}`))
				short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
				_, err := sub.Recv(short)
				stop()
				if err == nil {
					break
				}
			}
			for { // drain the probes
				short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
				_, err := sub.Recv(short)
				stop()
				if err != nil {
					break
				}
			}
			start := time.Now()
			lat := make([]time.Duration, 0, b.N)
			got := make(chan struct{})
			go func() {
				defer close(got)
				for len(lat) < b.N {
					m, err := sub.Recv(ctx)
					if err != nil {
						return
					}
					var ns int64
					fmt.Sscanf(string(m.Frames[1]), `{"sent":%d}`, &ns)
					lat = append(lat, time.Since(start)-time.Duration(ns))
				}
			}()
			b.ResetTimer()
			t := time.NewTicker(10 * time.Millisecond) // 100 entries/s
			for range b.N {
				<-t.C
				s.Ship("INFO.lat", fmt.Appendf(nil, `{"sent":%d}`, time.Since(start).Nanoseconds()))
			}
			t.Stop()
			<-got
			b.StopTimer()
			if len(lat) < b.N {
				b.Fatalf("the subscriber got %d of %d", len(lat), b.N)
			}
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "worst-ms")
			c.terminate(b, ctx)
		})
	}
}

// useBenchBinary makes $ZMQCOLLECT_BENCH_BIN, if set, the zmqcollect the
// benchmark drives instead of this tree's: an older build, for a baseline
// from the same session.
func useBenchBinary(b *testing.B) {
	if bin := os.Getenv("ZMQCOLLECT_BENCH_BIN"); bin != "" {
		saved := bins["."]
		bins["."] = bin
		b.Cleanup(func() { bins["."] = saved })
	}
}
