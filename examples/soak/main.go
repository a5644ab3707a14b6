// Soak runs a collector and several zap apps as separate processes for a
// while, and prints every second what flows and what each process costs:
//
//	go run ./examples/soak -duration 60s
//
//	   t  in/s      stored/s  to-sub/s  dropped  gaps  RSS MiB: collector producers soak
//	  2s  200731    199812    200031    0        0              14        14 15     15
//	  3s  200443    199551    199945    0        0              14        14 15     14
//
// in/s is what the producers logged, stored/s what the collector wrote
// to its file, to-sub/s what reached this process's subscriber; dropped
// is the producers' running count of entries given up on (-rate sets
// each producer's pace, 100k entries/s by default; -rate 0 floods), gaps the
// collector's count of entries lost in transit. At the end the producers
// flush and exit, then the collector, and soak checks that the store holds
// exactly what the producers report as sent (exit status 1 if not).
//
// Each process is this program again, told its role by the environment;
// everything goes through the public API and loopback TCP.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/tail"
	"github.com/zmqlog/zmqlog/zapzmq"
)

const (
	roleEnv = "ZMQLOG_SOAK_ROLE" // "collector" or "producer"
	argEnv  = "ZMQLOG_SOAK_ARG"  // the store directory, or the pull endpoint
	appEnv  = "ZMQLOG_SOAK_APP"
	rateEnv = "ZMQLOG_SOAK_RATE"
)

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(child(role))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// producerStats is what a producer prints each second, and once more
// (Final) after it has flushed.
type producerStats struct {
	Shipped, Sent, Dropped uint64
	Final                  bool
	PeakRSSKiB             int64 // in the final report
}

// collectorStats is what the collector child prints after it stopped.
type collectorStats struct {
	Received, Stored, Gaps, Published, SubscriberDropped uint64
}

// heartbeat is the part of the collector's heartbeat soak reads.
type heartbeat struct {
	Time                              time.Time
	Received, Stored, Published, Gaps uint64
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	duration := fs.Duration("duration", 60*time.Second, "how long the producers log")
	producers := fs.Int("producers", 2, "producer processes")
	rate := fs.Int("rate", 100000, "entries per second per producer; 0: as fast as it can")
	keep := fs.Bool("keep", false, "keep the store directory and print its path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *producers < 1 || *duration <= 0 || *rate < 0 {
		return errors.New("-producers must be at least 1, -duration positive, -rate not negative")
	}
	dir, err := os.MkdirTemp("", "zmqlog-soak")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(out, "store:", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	col, err := startChild("collector", map[string]string{argEnv: dir})
	if err != nil {
		return err
	}
	defer col.kill()
	var eps struct{ Pull, Pub string }
	if err := col.readJSON(&eps); err != nil {
		return fmt.Errorf("collector: %w", err)
	}

	// This process subscribes to everything: entries count as to-sub,
	// heartbeats give the collector's counters.
	var toSub atomic.Uint64
	// The last two heartbeats: the stored rate is taken between them, on
	// the collector's clock, so a heartbeat landing either side of our
	// tick does not show as a 0 then a double.
	var hbMu sync.Mutex
	var hb, prevHB heartbeat
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() {
		subDone <- tail.Follow(subCtx, eps.Pub, nil, func(topic string, entry []byte) {
			if topic != collector.HeartbeatTopic {
				toSub.Add(1)
				return
			}
			var h heartbeat
			if json.Unmarshal(entry, &h) == nil {
				hbMu.Lock()
				prevHB, hb = hb, h
				hbMu.Unlock()
			}
		})
	}()
	defer func() { stopSub(); <-subDone }()

	prods := make([]*childProc, *producers)
	latest := make([]atomic.Pointer[producerStats], *producers)
	reportsDone := make([]chan struct{}, *producers)
	for i := range prods {
		p, err := startChild("producer", map[string]string{argEnv: eps.Pull, appEnv: fmt.Sprint("soak-", i), rateEnv: strconv.Itoa(*rate)})
		if err != nil {
			return err
		}
		defer p.kill()
		prods[i] = p
		reportsDone[i] = make(chan struct{})
		go func() {
			defer close(reportsDone[i])
			for {
				var st producerStats
				if p.readJSON(&st) != nil {
					return
				}
				latest[i].Store(&st)
			}
		}()
	}

	fmt.Fprintf(out, "%4s  %-9s %-9s %-9s %-8s %-5s RSS MiB: collector producers%s soak\n", "t", "in/s", "stored/s", "to-sub/s", "dropped", "gaps", strings.Repeat(" ", 3*max(0, *producers-2)))
	began := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastIn, lastSub uint64
	lastAt := began
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-tick.C:
			var in, dropped uint64
			for i := range latest {
				if st := latest[i].Load(); st != nil {
					in += st.Shipped
					dropped += st.Dropped
				}
			}
			hbMu.Lock()
			h, prev := hb, prevHB
			hbMu.Unlock()
			storedRate := 0.0
			if span := h.Time.Sub(prev.Time).Seconds(); !prev.Time.IsZero() && span > 0 {
				storedRate = float64(h.Stored-prev.Stored) / span
			}
			sub := toSub.Load()
			dt := now.Sub(lastAt).Seconds()
			rss := []string{}
			for _, p := range prods {
				rss = append(rss, mib(residentKiB(p.cmd.Process.Pid, "VmRSS")))
			}
			fmt.Fprintf(out, "%3.0fs  %-9.0f %-9.0f %-9.0f %-8d %-5d          %-9s %-9s %s\n",
				now.Sub(began).Seconds(), float64(in-lastIn)/dt, storedRate, float64(sub-lastSub)/dt,
				dropped, h.Gaps, mib(residentKiB(col.cmd.Process.Pid, "VmRSS")), strings.Join(rss, " "), mib(residentKiB(os.Getpid(), "VmRSS")))
			lastIn, lastSub, lastAt = in, sub, now
			done = now.Sub(began) >= *duration
		}
	}

	// Producers first: each stops logging, flushes and reports.
	var total producerStats
	var producerPeak []string
	for i, p := range prods {
		p.stdin.Close()
		<-reportsDone[i] // its stdout has closed
		st := latest[i].Load()
		if st == nil || !st.Final {
			return fmt.Errorf("producer %d: no final report", i)
		}
		if err := p.cmd.Wait(); err != nil {
			return fmt.Errorf("producer %d: %w", i, err)
		}
		producerPeak = append(producerPeak, mib(st.PeakRSSKiB))
		total.Shipped += st.Shipped
		total.Sent += st.Sent
		total.Dropped += st.Dropped
	}
	collectorPeak := residentKiB(col.cmd.Process.Pid, "VmHWM")
	col.stdin.Close()
	var cs collectorStats
	if err := col.readJSON(&cs); err != nil {
		return fmt.Errorf("collector: no final report: %w", err)
	}
	if err := col.cmd.Wait(); err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	fmt.Fprintf(out, "produced %d, sent %d, dropped by producers %d; collector received %d, stored %d, gaps %d, published %d, subscriber drops %d\n",
		total.Shipped, total.Sent, total.Dropped, cs.Received, cs.Stored, cs.Gaps, cs.Published, cs.SubscriberDropped)
	fmt.Fprintf(out, "peak RSS MiB: collector %s, producers %s, soak %s\n", mib(collectorPeak), strings.Join(producerPeak, " "), mib(residentKiB(os.Getpid(), "VmHWM")))
	if cs.Stored != total.Sent || cs.Gaps != 0 || total.Shipped != total.Sent+total.Dropped {
		return fmt.Errorf("entries unaccounted for: sent %d, stored %d, gaps %d", total.Sent, cs.Stored, cs.Gaps)
	}
	fmt.Fprintln(out, "every entry accounted for: stored == sent, no gaps")
	return nil
}

// childProc is this program running as a collector or a producer. Its
// stdout carries JSON lines; closing its stdin tells it to finish.
type childProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startChild(role string, env map[string]string) (*childProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s: %w", role, err)
	}
	return &childProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}, nil
}

func (p *childProc) readJSON(v any) error {
	if !p.out.Scan() {
		if err := p.out.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	return json.Unmarshal(p.out.Bytes(), v)
}

// kill ends a child that is still running (after an error).
func (p *childProc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// residentKiB reads VmRSS (now) or VmHWM (peak) of a process, in KiB; -1
// where /proc is not there.
func residentKiB(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb
		}
	}
	return -1
}

func mib(kib int64) string {
	if kib < 0 {
		return "-"
	}
	return strconv.FormatInt(kib>>10, 10)
}

// child runs this process's role and returns its exit status.
func child(role string) int {
	// Closing stdin is the parent's "finish now".
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	var err error
	switch role {
	case "collector":
		err = runCollector(ctx, os.Getenv(argEnv))
	case "producer":
		rate, _ := strconv.Atoi(os.Getenv(rateEnv))
		err = runProducer(ctx, os.Getenv(argEnv), os.Getenv(appEnv), rate)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak %s: %v\n", role, err)
		return 1
	}
	return 0
}

func runCollector(ctx context.Context, dir string) error {
	c, err := collector.New(collector.Config{
		Pull:      "tcp://127.0.0.1:0",
		Pub:       "tcp://127.0.0.1:0",
		File:      dir + "/soak.jsonl",
		StateFile: dir + "/soak.jsonl.state",
		// A flood writes gigabytes a minute: keep the last few files only.
		MaxBackups: 3,
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(map[string]string{"pull": c.PullEndpoint(), "pub": c.PubEndpoint()})
	if err := c.Run(ctx); err != nil {
		return err
	}
	st := c.Stats()
	return enc.Encode(collectorStats{Received: st.Received, Stored: st.Stored, Gaps: st.Gaps, Published: st.Published, SubscriberDropped: st.SubscriberDropped})
}

func runProducer(ctx context.Context, pull, app string, rate int) error {
	core, err := zapzmq.NewCore(pull, zapzmq.WithApp(app))
	if err != nil {
		return err
	}
	log := zap.New(core).With(zap.String("service", app))
	enc := json.NewEncoder(os.Stdout)
	report := func(final bool) {
		st := core.Shipper().Stats()
		ps := producerStats{Shipped: st.Shipped, Sent: st.Sent, Dropped: st.Dropped, Final: final}
		if final {
			// Its own peak: a child's ru_maxrss can carry its parent's.
			ps.PeakRSSKiB = residentKiB(os.Getpid(), "VmHWM")
		}
		enc.Encode(ps)
	}
	// Reports come five times a second, so the parent's once-a-second
	// line is at most 200ms behind.
	report(false)
	nextReport := time.Now().Add(200 * time.Millisecond)
	began := time.Now()
	for n := 0; ctx.Err() == nil; {
		// With a rate, log what is due by now, then rest a millisecond.
		burst := 1000
		if rate > 0 {
			burst = int(time.Since(began).Seconds()*float64(rate)) - n
		}
		for range burst {
			switch {
			case n%100 == 0:
				log.Error("payment declined", zap.Int("n", n), zap.String("card", "visa"), zap.Duration("took", 42*time.Millisecond))
			case n%10 == 0:
				log.Warn("slow upstream", zap.Int("n", n), zap.String("upstream", "inventory"))
			default:
				log.Info("request served", zap.Int("n", n), zap.String("path", "/api/orders"), zap.Int("status", 200))
			}
			n++
		}
		if rate > 0 {
			time.Sleep(time.Millisecond)
		}
		if now := time.Now(); now.After(nextReport) {
			report(false)
			nextReport = now.Add(200 * time.Millisecond)
		}
	}
	err = core.Close() // flushes, within 5s
	report(true)
	return err
}
