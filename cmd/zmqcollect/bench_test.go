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
	"github.com/zmqlog/zmqlog/internal/procstat"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// BenchmarkCollector runs the zmqcollect binary and measures, for b.N
// entries shipped in batches by two producers: entries/s received into
// the store (each is written to the file within the 200ms flush
// interval; the benchmark waits until all are), the collector process's
// CPU per entry (from /proc), entries/s delivered to one subscriber that takes
// everything (and the share of entries it got: the rest it missed, and
// the collector counted), and the collector's peak RSS (VmHWM). The
// producers and the subscriber run in this process, on the same two
// cores as the collector. $ZMQCOLLECT_BENCH_BIN runs another build in its
// place, for a baseline measured under the same load.
func BenchmarkCollector(b *testing.B) {
	useBenchBinary(b)
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

	cpuBefore := procstat.ProcessCPU(b, c.cmd.Process.Pid)
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
	// The store file, not /metrics, says when every entry is stored: a
	// scrape costs the collector CPU this measures (its lines are
	// entries_stored_total: one per entry, no rotation at this size).
	procstat.FollowLines(c.file).WaitFor(b, ctx, int(baseStored)+b.N)
	<-subDone
	b.StopTimer()
	// The collector's own CPU per entry, which the other processes on
	// these cores disturb far less than its entries per second.
	b.ReportMetric((procstat.ProcessCPU(b, c.cmd.Process.Pid)-cpuBefore).Seconds()*1e6/float64(b.N), "collector-cpu-µs/entry")
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

// BenchmarkZmqcollectHandshakes measures what a connecting client costs
// the zmqcollect process, NULL beside CURVE: b.N clients connect one after
// another (each waits for its handshake to complete, then leaves). It
// reports the collector's CPU per handshake, read from /proc, and so how
// many handshakes a second one core of the collector can take. The
// clients run in this process, on the same two cores.
func BenchmarkZmqcollectHandshakes(b *testing.B) {
	for _, mech := range []string{"null", "curve"} {
		b.Run(mech, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dir := b.TempDir()
			var args []string
			var curve *zsock.CurveConfig
			if mech == "curve" {
				server, err := zcert.GenerateKeyPair()
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := zcert.WriteFiles(dir, "collector", server); err != nil {
					b.Fatal(err)
				}
				client, err := zcert.GenerateKeyPair()
				if err != nil {
					b.Fatal(err)
				}
				args = []string{"--curve-secret", dir + "/collector.key_secret", "--curve-any-client"}
				curve = &zsock.CurveConfig{SecretKey: client.Secret, ServerKey: server.Public}
			}
			// The per-host handshake rate off: the clients all dial from
			// one host, and this measures the collector's cost, not the limit.
			c := startCollector(b, ctx, append(args, "--idle-ping", "0", "--handshake-rate", "0")...)
			ep, err := zsock.ParseEndpoints(c.pull)
			if err != nil {
				b.Fatal(err)
			}
			connected := make(chan struct{}, 1)
			opts := zsock.Options{Curve: curve, OnEvent: func(e zsock.Event) {
				if e.Kind == zsock.Connected {
					connected <- struct{}{}
				}
			}}
			before := procstat.ProcessCPU(b, c.cmd.Process.Pid)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				p := zsock.DialPush(ep, opts)
				<-connected
				p.Close()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cpu := procstat.ProcessCPU(b, c.cmd.Process.Pid) - before
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "handshakes/s")
			b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "collector-cpu-µs/handshake")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "handshakes/collector-cpu-s")
			c.terminate(b, ctx)
		})
	}
}
