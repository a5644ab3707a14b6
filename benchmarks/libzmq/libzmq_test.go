// Package libzmq compares zapzmq with what a user would write by hand with
// libzmq (github.com/pebbe/zmq4, cgo, Debian's libzmq3-dev): a zap core
// that sends each entry as a [topic, entry] message on a PUSH socket.
//
//	cd benchmarks/libzmq && go test -run '^$' -bench ZapToCollector -benchtime 2s
//
// Both send to the zmqcollect binary (built from this repository, storing
// nothing), which counts what it received; the benchmark checks every
// entry arrived, and reports entries/s and entries per CPU-second of the
// benchmark process.
//
// BenchmarkFanInLibzmq is the other side: what a libzmq PULL socket costs
// per message when a thousand producers each send a few messages a
// second, beside zmqcollect's cost in the same run, so the part of the
// collector's cost that is ours can be told from libzmq's.
package libzmq

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/zapzmq"
)

// buildZmqcollect builds this repository's zmqcollect into a temporary
// directory and returns its path.
func buildZmqcollect(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "zmqcollect")
	build := exec.Command("go", "build", "-o", bin, "./cmd/zmqcollect")
	build.Dir = "../.." // in the main module, with its dependencies
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building zmqcollect: %v\n%s", err, out)
	}
	return bin
}

// collector is zmqcollect running as a child process.
type collector struct {
	cmd           *exec.Cmd
	pull, metrics string
}

// startZmqcollect runs bin on loopback ports of its choosing, PUB off,
// metrics on, with args added, and reads where it listens from its log;
// ctx bounds that wait. The process is stopped (SIGTERM, then killed
// after 10s) when the benchmark ends.
func startZmqcollect(b *testing.B, ctx context.Context, bin string, args ...string) *collector {
	b.Helper()
	cmd := exec.Command(bin, append([]string{"--pull", "tcp://127.0.0.1:0", "--pub", "", "--metrics", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &collector{cmd: cmd}
	said := make(chan string, 256)
	go func() {
		defer close(said)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case said <- sc.Text():
			default: // nobody listens any more: drain
			}
		}
	}()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
		for range said {
		}
		cmd.Wait()
		timer.Stop()
	})
	for c.pull == "" || c.metrics == "" {
		select {
		case line, ok := <-said:
			if !ok {
				b.Fatal("zmqcollect exited")
			}
			for _, m := range endpointField.FindAllStringSubmatch(line, -1) {
				if m[1] == "pull" {
					c.pull = m[2]
				} else {
					c.metrics = m[2]
				}
			}
		case <-ctx.Done():
			b.Fatal("zmqcollect said nothing in time")
		}
	}
	return c
}

// endpointField finds zmqcollect's PULL endpoint and metrics URL in the
// lines it logs at start.
var endpointField = regexp.MustCompile(`(pull|url)=(\S+)`)

// metric scrapes the collector's /metrics for one series.
func (c *collector) metric(b *testing.B, name string) float64 {
	b.Helper()
	resp, err := http.Get(c.metrics)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	b.Fatalf("no metric %s in: %.500s", name, body)
	return 0
}

func (c *collector) received(b *testing.B) float64 {
	return c.metric(b, "zmqlog_collector_entries_received_total")
}

// waitReceived waits until the collector has n more entries than base.
func (c *collector) waitReceived(b *testing.B, base float64, n int) {
	deadline := time.Now().Add(time.Minute)
	for c.received(b)-base < float64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("collector received %v of %d entries", c.received(b)-base, n)
		}
		time.Sleep(time.Millisecond) // polling a counter: a benchmark, not a test
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkZapToCollector(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c := startZmqcollect(b, ctx, buildZmqcollect(b), "--file", "")
	cancel()
	enc := func() zapcore.Encoder { return zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()) }
	run := func(b *testing.B, core zapcore.Core, flush func()) {
		logger := zap.New(core).With(zap.String("service", "checkout"))
		base := c.received(b)
		b.ResetTimer()
		start, cpu0 := time.Now(), processCPU()
		for i := range b.N {
			logger.Info("request served", zap.String("path", "/v1/orders"), zap.Int("status", 200), zap.Int("attempt", i))
		}
		flush()
		c.waitReceived(b, base, b.N)
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
		b.ReportMetric(float64(b.N)/(processCPU()-cpu0).Seconds(), "entries/cpu-s")
	}

	b.Run("zapzmq", func(b *testing.B) {
		core, err := zapzmq.NewCore(c.pull, zapzmq.WithEncoder(enc()), zapzmq.WithShipperOptions(zmqlog.WithBlock(time.Minute)))
		if err != nil {
			b.Fatal(err)
		}
		defer core.Close()
		run(b, core, func() { core.Sync() })
	})

	b.Run("libzmq-per-entry", func(b *testing.B) {
		push, err := zmq.NewSocket(zmq.PUSH)
		if err != nil {
			b.Fatal(err)
		}
		defer push.Close()
		push.SetLinger(5 * time.Second)
		push.SetSndhwm(100000)
		if err := push.Connect(c.pull); err != nil {
			b.Fatal(err)
		}
		run(b, &libzmqCore{LevelEnabler: zapcore.DebugLevel, enc: enc(), push: push}, func() {})
	})
}

// libzmqCore is the zap core a user would write with libzmq: encode and
// send each entry as [LEVEL, entry]. libzmq queues it (up to the send
// high-water mark) and its I/O thread writes it.
type libzmqCore struct {
	zapcore.LevelEnabler
	enc  zapcore.Encoder
	push *zmq.Socket
}

func (c *libzmqCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.enc = c.enc.Clone()
	for _, f := range fields {
		f.AddTo(clone.enc)
	}
	return &clone
}

func (c *libzmqCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *libzmqCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	buf, err := c.enc.EncodeEntry(e, fields)
	if err != nil {
		return err
	}
	defer buf.Free()
	_, err = c.push.SendMessage(e.Level.CapitalString(), buf.Bytes())
	return err
}

func (c *libzmqCore) Sync() error { return nil }
