package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// BenchmarkCollector runs the zmqcollect binary and measures, for b.N
// entries shipped in batches by two producers: entries/s received into
// the store (each is written to the file within the 200ms flush
// interval; the benchmark waits until all are), entries/s delivered to one subscriber that takes
// everything (and the share of entries it got: the rest it missed, and
// the collector counted), and the collector's peak RSS (VmHWM). The
// producers and the subscriber run in this process, on the same two
// cores as the collector.
func BenchmarkCollector(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := startCollector(b, ctx, "--max-size", "100000")
	sub := testcollector.Subscribe(b, c.pub, zsock.Options{}, "INFO") // not "": that would count heartbeats
	entry := []byte(`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","method":"GET","path":"/v1/orders","status":200}`)

	// The subscription reaches the collector after the connection: probe
	// until one arrives, then drain the probes.
	probe, err := zmqlog.NewShipper(c.pull, zmqlog.WithLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	for {
		probe.Ship("INFO", entry)
		short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err := sub.Recv(short)
		stop()
		if err == nil {
			break
		}
	}
	probe.Close()
	for {
		short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := sub.Recv(short)
		stop()
		if err != nil {
			break
		}
	}
	base := c.metric(b, "zmqlog_collector_entries_received_total")
	baseStored := c.metric(b, "zmqlog_collector_entries_stored_total")

	b.ResetTimer()
	start := time.Now()
	received, subElapsed := 0, time.Duration(0)
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for received < b.N {
			short, stop := context.WithTimeout(ctx, 2*time.Second)
			_, err := sub.Recv(short)
			stop()
			if err != nil {
				return // it missed some; the collector counts them
			}
			received++
			subElapsed = time.Since(start)
		}
	}()
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := zmqlog.NewShipper(c.pull, zmqlog.WithBlock(time.Minute), zmqlog.WithApp(fmt.Sprint("bench-", p)))
			if err != nil {
				b.Error(err)
				return
			}
			defer s.Close()
			n := b.N / 2
			if p == 0 {
				n += b.N % 2
			}
			for range n {
				s.Ship("INFO.api", entry)
			}
		}()
	}
	wg.Wait()
	for c.metric(b, "zmqlog_collector_entries_received_total")-base < float64(b.N) {
		time.Sleep(time.Millisecond) // polling a counter: this is a benchmark, not a test
	}
	storedIn := time.Since(start) // the store is written within its 200ms flush interval of receipt
	for c.metric(b, "zmqlog_collector_entries_stored_total")-baseStored < float64(b.N) {
		time.Sleep(10 * time.Millisecond)
	}
	<-subDone
	b.StopTimer()
	b.ReportMetric(float64(b.N)/storedIn.Seconds(), "stored-entries/s")
	if subElapsed > 0 {
		b.ReportMetric(float64(received)/subElapsed.Seconds(), "subscriber-entries/s")
	}
	b.ReportMetric(float64(received)/float64(b.N)*100, "%to-subscriber")
	b.ReportMetric(float64(peakRSS(c.cmd.Process.Pid))/(1<<20), "collector-peak-RSS-MiB")
	c.terminate(b, ctx)
}

// peakRSS reads a process's peak resident set size (VmHWM), in bytes.
func peakRSS(pid int) int64 { return procStatusBytes(pid, "VmHWM:") }

// procStatusBytes reads a size field (in kB) of /proc/PID/status, or -1.
func procStatusBytes(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}
