package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testcollector"
)

// The collector is killed (SIGKILL) mid-stream and restarted: producers
// reconnect by themselves, and entries stored + the producers' drop counts
// + the collector's gap counts account for every entry produced. The count
// may only err towards reporting a loss that did not happen: entries the
// first collector stored after its last state save are counted again as
// gaps by the second. That is bounded by what it received in one flush
// interval (200ms) plus the save; the test allows half a second's worth.
func TestCollectorKilledAndRestartedLosesNothingUncounted(t *testing.T) {
	ctx := testcollector.Context(t)
	dir := t.TempDir()
	pull := "ipc://" + filepath.Join(dir, "in.sock")
	file := filepath.Join(dir, "store.jsonl")
	args := []string{"--pull", pull, "--file", file, "--pub", ""}
	first := startCollector(t, ctx, args...)

	const producers = 3
	stop := make(chan struct{})
	var wg sync.WaitGroup
	shippers := make([]*zmqlog.Shipper, producers)
	for p := range producers {
		s, err := zmqlog.NewShipper(pull, zmqlog.WithApp(fmt.Sprint("p", p)), zmqlog.WithReconnect(10*time.Millisecond, 50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		shippers[p] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				s.Ship("INFO", []byte(fmt.Sprintf(`{"p":%d,"n":%d,"pad":"%s"}`, p, n, strings.Repeat("x", 80))))
				if n%1000 == 999 {
					time.Sleep(time.Millisecond) // a steady load, not a flood: this test is about the restart
				}
			}
		}()
	}

	start := time.Now()
	for first.metric(t, "zmqlog_collector_entries_received_total") < 100000 {
		select {
		case <-ctx.Done():
			t.Fatal("load did not arrive")
		case <-time.After(5 * time.Millisecond):
		}
	}
	receivedBeforeKill := first.metric(t, "zmqlog_collector_entries_received_total")
	rate := receivedBeforeKill / time.Since(start).Seconds()
	first.cmd.Process.Kill()
	<-first.done
	first.done = nil

	second := startCollector(t, ctx, args...)
	for second.metric(t, "zmqlog_collector_entries_received_total") < 50000 {
		select {
		case <-ctx.Done():
			t.Fatal("producers did not come back")
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(stop)
	wg.Wait()
	var produced, dropped uint64
	for _, s := range shippers {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.Flush(fctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		st := s.Stats()
		if st.Queued != 0 || st.Reconnects == 0 {
			t.Fatalf("producer stats %+v: want nothing queued and a reconnect", st)
		}
		produced += st.Shipped
		dropped += st.Dropped
		s.Close()
	}
	second.terminate(t, ctx)

	files, _ := filepath.Glob(filepath.Join(dir, "store*.jsonl"))
	stored := 0
	for _, f := range files {
		stored += len(fileLines(t, f))
	}
	gaps := second.stopped["gaps"]
	accounted := uint64(stored) + dropped + gaps
	t.Logf("produced %d; stored %d, dropped by producers %d, gaps %d; received before the kill %.0f at %.0f entries/s",
		produced, stored, dropped, gaps, receivedBeforeKill, rate)
	if accounted < produced {
		t.Fatalf("%d entries unaccounted for: stored %d + dropped %d + gaps %d < produced %d", produced-accounted, stored, dropped, gaps, produced)
	}
	if over := accounted - produced; float64(over) > rate/2 {
		t.Fatalf("over-reported %d entries, more than half a second's worth (%.0f)", over, rate/2)
	}
}

// Ten producer processes ship 100k entries each as fast as they can: the
// store holds exactly the entries the producers report as sent, each
// producer's in the order shipped, and the collector counts no gaps.
func TestFloodOfProducerProcessesStoresExactlyWhatWasSent(t *testing.T) {
	ctx := testcollector.Context(t)
	c := startCollector(t, ctx)
	const producers, entries = 10, 100000
	procs := make([]*producerProc, producers)
	for i := range procs {
		procs[i] = startProducer(t, ctx, producerJob{Endpoint: c.pull, App: fmt.Sprint("flood", i), Entries: entries})
	}
	sent := map[string]uint64{}
	var total producerReport
	for _, p := range procs {
		r := p.wait(t)
		if r.Shipped != entries || r.Sent+r.Dropped != r.Shipped {
			t.Fatalf("producer %s: %+v, want %d shipped, each sent or dropped", r.App, r, entries)
		}
		sent[r.App] = r.Sent
		total.Shipped += r.Shipped
		total.Sent += r.Sent
		total.Dropped += r.Dropped
		total.Slowest = max(total.Slowest, r.Slowest)
		total.PeakRSSKiB = max(total.PeakRSSKiB, r.PeakRSSKiB)
	}
	// Everything sent has been written to the collector's connection;
	// SIGTERM makes it store all it read before exiting.
	collectorRSS := peakRSS(c.cmd.Process.Pid)
	c.terminate(t, ctx)

	// Rotated files ("store-<time>.jsonl") sort before the live one, oldest first.
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(c.file), "store*.jsonl"))
	stored := map[string]uint64{}
	last := map[string]int{}
	for _, f := range files {
		for _, line := range fileLines(t, f) {
			var e struct {
				App string
				N   int
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("stored line %q: %v", line, err)
			}
			if n, seen := last[e.App]; seen && e.N <= n {
				t.Fatalf("%s: entry %d stored after %d", e.App, e.N, n)
			}
			last[e.App] = e.N
			stored[e.App]++
		}
	}
	var storedTotal uint64
	for app, n := range sent {
		if stored[app] != n {
			t.Errorf("%s: stored %d entries, the producer reports %d sent", app, stored[app], n)
		}
		storedTotal += stored[app]
	}
	t.Logf("produced %d, sent %d, stored %d, dropped by producers %d, gaps %d; slowest Ship %v; peak RSS: collector %d MiB, producer %d MiB; %d store files",
		total.Shipped, total.Sent, storedTotal, total.Dropped, c.stopped["gaps"], total.Slowest, collectorRSS>>20, total.PeakRSSKiB>>10, len(files))
	if c.stopped["gaps"] != 0 || c.stopped["received"] != total.Sent {
		t.Fatalf("collector stopped with %v, want %d received and no gaps", c.stopped, total.Sent)
	}
}
