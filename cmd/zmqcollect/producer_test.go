package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
)

// The producer process: this test binary re-run by startProducer. It
// ships its entries as fast as it can through a default Shipper, shuts
// down within a minute, and prints a producerReport as JSON on stdout.
const producerEnv = "ZMQLOG_TEST_PRODUCER"

type producerJob struct {
	Endpoint string
	App      string
	Entries  int
}

type producerReport struct {
	App                    string
	Shipped, Sent, Dropped uint64
	Slowest                time.Duration // the slowest Ship call
	PeakRSSKiB             int64         // the producer's own VmHWM
}

func runProducerIfAsked() {
	spec := os.Getenv(producerEnv)
	if spec == "" {
		return
	}
	var job producerJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(2)
	}
	s, err := zmqlog.NewShipper(job.Endpoint, zmqlog.WithApp(job.App))
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(2)
	}
	var slowest slowestCall
	buf := make([]byte, 0, 256)
	for n := range job.Entries {
		buf = fmt.Appendf(buf[:0], `{"level":"info","msg":"flood","app":%q,"n":%d,"pad":"%s"}`, job.App, n, pad)
		slowest.ship(s, "INFO", buf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err = s.Shutdown(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
	}
	st := s.Stats()
	// Its own peak, not rusage's: Linux carries the parent's peak into a
	// child's ru_maxrss when a vfork-style child execs.
	json.NewEncoder(os.Stdout).Encode(producerReport{App: job.App, Shipped: st.Shipped, Sent: st.Sent, Dropped: st.Dropped, Slowest: time.Duration(slowest.ns.Load()), PeakRSSKiB: peakRSS(os.Getpid()) >> 10})
	os.Exit(0)
}

var pad = strings.Repeat("x", 60)

// producerProc is a running producer process.
type producerProc struct {
	cmd *exec.Cmd
	out *bufio.Scanner
}

func startProducer(t testing.TB, ctx context.Context, job producerJob) *producerProc {
	t.Helper()
	spec, _ := json.Marshal(job)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), producerEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &producerProc{cmd: cmd, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// wait returns the producer's report once it has exited.
func (p *producerProc) wait(t testing.TB) producerReport {
	t.Helper()
	var r producerReport
	if !p.out.Scan() {
		t.Fatal("producer printed no report")
	}
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		t.Fatalf("producer report %q: %v", p.out.Text(), err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("producer exited with %v", err)
	}
	return r
}

// slowestCall keeps the longest time a Ship call took, across goroutines:
// the figure that says whether the app ever waited.
type slowestCall struct{ ns atomic.Int64 }

func (sc *slowestCall) ship(s *zmqlog.Shipper, topic string, entry []byte) {
	began := time.Now()
	s.Ship(topic, entry)
	d := int64(time.Since(began))
	for {
		cur := sc.ns.Load()
		if d <= cur || sc.ns.CompareAndSwap(cur, d) {
			return
		}
	}
}

func (sc *slowestCall) String() string { return time.Duration(sc.ns.Load()).String() }
