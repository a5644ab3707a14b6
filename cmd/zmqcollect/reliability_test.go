package main

import (
	"context"
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
