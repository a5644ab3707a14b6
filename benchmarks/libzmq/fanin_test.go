package libzmq

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/procstat"
	"github.com/zmqlog/zmqlog/wire"
)

// sinkEnv, when set in the environment, makes this test binary run as
// the libzmq sink of BenchmarkFanInLibzmq instead of running tests: a
// process of its own, so its CPU is read apart from the producers'.
// Its value is the sink's mode (sinkC, sinkRecv or sinkStore).
const sinkEnv = "ZMQLOG_FANIN_SINK"

const (
	// sinkC receives every message and counts its entries (read from a
	// batch's header) in a loop written in C (csink.go): what libzmq
	// itself costs.
	sinkC = "c"
	// sinkRecv does the same in Go through github.com/pebbe/zmq4, as a
	// Go program would: a cgo call and a copy into Go memory per frame.
	sinkRecv = "recv"
	// sinkStore also decodes each batch and appends every entry as a
	// line to a file, buffered in 256 KiB writes as zmqcollect's store
	// is: the least work a collector that keeps its entries can do.
	sinkStore = "store"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(sinkEnv); mode != "" {
		os.Exit(runSink(mode, os.Getenv(sinkEnv+"_FILE")))
	}
	os.Exit(m.Run())
}

// runSink is the sink process. It binds a PULL socket on loopback and
// says "endpoint E" on stdout. Each "expect N" line on stdin asks it to
// say "reached ENTRIES MESSAGES" once N more entries have arrived; it
// says so from its receive loop, so the benchmark waits without polling
// (polling would cost the sink CPU inside the measurement). It exits
// when stdin closes.
func runSink(mode, file string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "sink:", err); return 1 }
	if mode == sinkC {
		endpoint, err := cSinkOpen()
		if err != nil {
			return fail(err)
		}
		fmt.Printf("endpoint %s\n", endpoint)
		go func() { // the receive loop; it ends with the process
			fmt.Printf("error %v\n", cSinkLoop())
		}()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "expect "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				cSinkExpect(n)
			}
		}
		return 0
	}
	pull, err := zmq.NewSocket(zmq.PULL)
	if err != nil {
		return fail(err)
	}
	if err := pull.Bind("tcp://127.0.0.1:*"); err != nil {
		return fail(err)
	}
	endpoint, err := pull.GetLastEndpoint()
	if err != nil {
		return fail(err)
	}
	var store *lineStore
	if mode == sinkStore {
		f, err := os.Create(file)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		store = &lineStore{w: f, buf: make([]byte, 0, 256<<10)}
		defer store.flush()
	} else if mode != sinkRecv {
		return fail(fmt.Errorf("%s=%q: not %q, %q or %q", sinkEnv, mode, sinkC, sinkRecv, sinkStore))
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	say("endpoint %s", endpoint)

	var target atomic.Int64 // entries to reach; 0: nobody waits
	var entries, messages atomic.Int64
	go func() { // the receive loop; it ends with the process
		for {
			frames, err := pull.RecvMessageBytes(0)
			if err != nil {
				if zmq.AsErrno(err) == zmq.Errno(syscall.EINTR) {
					continue
				}
				say("error %v", err)
				return
			}
			n := 1 // a plain [topic, entry] or [entry] message
			if wire.IsBatch(frames) {
				n = wire.Count(frames[0])
			}
			if store != nil {
				b, err := wire.Decode(frames)
				if err != nil {
					say("error %v", err)
					return
				}
				for _, data := range b.Entries() {
					store.add(data)
				}
			}
			messages.Add(1)
			e := entries.Add(int64(n))
			if t := target.Load(); t > 0 && e >= t && target.CompareAndSwap(t, 0) {
				say("reached %d %d", e, messages.Load())
			}
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "expect "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			t := entries.Load() + n
			target.Store(t)
			// Whichever of this and the receive loop sees the target
			// reached first clears it and says so.
			if entries.Load() >= t && target.CompareAndSwap(t, 0) {
				say("reached %d %d", entries.Load(), messages.Load())
			}
		}
	}
	return 0
}

// lineStore appends entries as lines and writes them out in 256 KiB
// writes, as zmqcollect's store does (its flush interval aside).
type lineStore struct {
	w   io.Writer
	buf []byte
}

func (s *lineStore) add(line []byte) {
	if len(s.buf)+len(line)+1 > cap(s.buf) {
		s.flush()
	}
	s.buf = append(append(s.buf, line...), '\n')
}

func (s *lineStore) flush() {
	s.w.Write(s.buf)
	s.buf = s.buf[:0]
}

// fanInSink is what BenchmarkFanInLibzmq drives: a process receiving on
// a PULL endpoint that can wait for a number of entries.
type fanInSink interface {
	pid() int
	endpoint() string
	// waitFor returns once n more entries than before the call have
	// arrived, asking the sink nothing that costs it CPU; expect(n) must
	// have been called first, before sending. messages then says in how
	// many messages they came.
	expect(b *testing.B, n int)
	waitFor(b *testing.B, ctx context.Context)
	messages(b *testing.B) float64
}

// libzmqSink is runSink running as a child of the benchmark.
type libzmqSink struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	addr  string
	// what the sink had received at the last waitFor, and the messages
	// since the one before
	reached, since float64
}

func startLibzmqSink(b *testing.B, ctx context.Context, mode string) *libzmqSink {
	b.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), sinkEnv+"="+mode, sinkEnv+"_FILE="+filepath.Join(b.TempDir(), "store.jsonl"))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &libzmqSink{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	b.Cleanup(func() {
		// Closing stdin ends the sink; a sink that hangs is killed.
		stdin.Close()
		timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
		for range s.lines { // read all before Wait closes the pipe
		}
		cmd.Wait()
		timer.Stop()
	})
	line := s.line(b, ctx)
	addr, ok := strings.CutPrefix(line, "endpoint ")
	if !ok {
		b.Fatalf("sink said %q, not its endpoint", line)
	}
	s.addr = addr
	return s
}

func (s *libzmqSink) line(b *testing.B, ctx context.Context) string {
	b.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			b.Fatal("the libzmq sink exited")
		}
		return l
	case <-ctx.Done():
		b.Fatal("the libzmq sink said nothing in time")
	}
	return ""
}

func (s *libzmqSink) pid() int         { return s.cmd.Process.Pid }
func (s *libzmqSink) endpoint() string { return s.addr }

func (s *libzmqSink) expect(b *testing.B, n int) {
	if _, err := fmt.Fprintf(s.stdin, "expect %d\n", n); err != nil {
		b.Fatal(err)
	}
}

func (s *libzmqSink) waitFor(b *testing.B, ctx context.Context) {
	b.Helper()
	line := s.line(b, ctx)
	var entries, messages float64
	if _, err := fmt.Sscanf(line, "reached %g %g", &entries, &messages); err != nil {
		b.Fatalf("sink said %q, not what it reached", line)
	}
	s.since = messages - s.reached
	s.reached = messages
}

func (s *libzmqSink) messages(*testing.B) float64 { return s.since }

// zmqcollectSink is the built zmqcollect storing every entry, started as
// BenchmarkZmqcollectFanIn (cmd/zmqcollect) starts it.
type zmqcollectSink struct {
	*collector
	stored       *procstat.Lines // its store file: one line per entry
	baseStored   int
	baseMessages float64
	want         int
}

func startZmqcollectSink(b *testing.B, ctx context.Context, bin string) *zmqcollectSink {
	b.Helper()
	file := filepath.Join(b.TempDir(), "store.jsonl")
	c := startZmqcollect(b, ctx, bin, "--file", file, "--max-size", "100000", "--max-conns-per-host", "4096")
	return &zmqcollectSink{collector: c, stored: procstat.FollowLines(file)}
}

const batchesMetric = `zmqlog_collector_messages_total{kind="batch"}`

func (c *zmqcollectSink) pid() int         { return c.cmd.Process.Pid }
func (c *zmqcollectSink) endpoint() string { return c.pull }

func (c *zmqcollectSink) expect(b *testing.B, n int) {
	c.baseStored = c.stored.Count(b)
	c.baseMessages = c.metric(b, batchesMetric)
	c.want = n
}

// waitFor follows the store file rather than poll /metrics: a scrape with
// a thousand producers costs zmqcollect about 20 ms of CPU, which would
// be counted as the load's (as in BenchmarkZmqcollectFanIn). Each entry
// is in the file within zmqcollect's flush interval of its arrival.
func (c *zmqcollectSink) waitFor(b *testing.B, ctx context.Context) {
	b.Helper()
	c.stored.WaitFor(b, ctx, c.baseStored+c.want)
}

func (c *zmqcollectSink) messages(b *testing.B) float64 {
	return c.metric(b, batchesMetric) - c.baseMessages
}

// BenchmarkFanInLibzmq is the baseline for BenchmarkZmqcollectFanIn
// (cmd/zmqcollect): the same fan-in shapes (N zmqlog shippers with
// default options in this process, each logging 200-byte entries at a
// steady rate) sent to three receivers, each a process of its own whose
// CPU is read from /proc:
//
//   - sink=libzmq: a libzmq PULL socket that receives every message and
//     counts its entries in a loop written in C: what libzmq itself costs
//     per message, the floor for any collector built on it;
//   - sink=libzmq-go: the same loop in Go through github.com/pebbe/zmq4
//     (a cgo call and a copy per frame), as a Go program would write it;
//   - sink=libzmq-go-store: that, also decoding every batch and appending
//     each entry as a line to a file in 256 KiB writes;
//   - sink=zmqcollect: the built zmqcollect, storing and accounting every
//     entry, as BenchmarkZmqcollectFanIn runs it.
//
// For b.N entries in all it reports the receiver's CPU per message and
// per entry, its share of a core while the load ran, the entries per
// message, its threads' context switches per message (the wake-ups a
// message costs), and how much of the intended rate the producers kept. Before the clock starts every shipper sends one entry and the
// benchmark waits for all of them, so the handshakes are not measured.
//
//	cd benchmarks/libzmq && go test -run '^$' -bench FanInLibzmq -benchtime 100000x
func BenchmarkFanInLibzmq(b *testing.B) {
	bin := buildZmqcollect(b)
	entry := []byte(`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","method":"GET","path":"/v1/orders","status":200,"took":0.0042,"n":1}`)
	for _, shape := range []struct{ producers, rate int }{{1000, 10}, {1000, 100}, {100, 1000}} {
		for _, sink := range []string{"libzmq", "libzmq-go", "libzmq-go-store", "zmqcollect"} {
			b.Run(fmt.Sprintf("producers=%d/rate=%d/sink=%s", shape.producers, shape.rate, sink), func(b *testing.B) {
				// The load takes b.N/(producers×rate) seconds; bound the
				// whole run, setup and drain included, a good deal above.
				load := time.Duration(float64(b.N) / float64(shape.producers*shape.rate) * float64(time.Second))
				ctx, cancel := context.WithTimeout(context.Background(), 2*load+2*time.Minute)
				defer cancel()
				var s fanInSink
				switch sink {
				case "libzmq":
					s = startLibzmqSink(b, ctx, sinkC)
				case "libzmq-go":
					s = startLibzmqSink(b, ctx, sinkRecv)
				case "libzmq-go-store":
					s = startLibzmqSink(b, ctx, sinkStore)
				default:
					s = startZmqcollectSink(b, ctx, bin)
				}
				shippers := make([]*zmqlog.Shipper, shape.producers)
				defer func() {
					for _, sh := range shippers {
						if sh != nil {
							sh.Close()
						}
					}
				}()
				for i := range shippers {
					sh, err := zmqlog.NewShipper(s.endpoint(), zmqlog.WithApp(fmt.Sprint("svc-", i)), zmqlog.WithBlock(time.Minute))
					if err != nil {
						b.Fatal(err)
					}
					shippers[i] = sh
				}
				// Every connection is up once every shipper's first entry
				// has arrived.
				s.expect(b, shape.producers)
				for _, sh := range shippers {
					sh.Ship("INFO.api", entry)
				}
				s.waitFor(b, ctx)

				s.expect(b, b.N)
				cpu0 := procstat.ThreadsCPU(b, s.pid())
				switches0 := procstat.ContextSwitches(b, s.pid())
				b.ResetTimer()
				start := time.Now()
				procstat.PaceAll(ctx, b.N, shape.producers, shape.rate, func(i int) { shippers[i].Ship("INFO.api", entry) })
				elapsed := time.Since(start) // the load's length
				s.waitFor(b, ctx)
				cpu := procstat.ThreadsCPU(b, s.pid()) - cpu0
				switches := procstat.ContextSwitches(b, s.pid()) - switches0
				b.StopTimer()
				messages := s.messages(b)
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/messages, "sink-cpu-µs/message")
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "sink-cpu-µs/entry")
				b.ReportMetric(cpu.Seconds()/elapsed.Seconds()*100, "%sink-core")
				b.ReportMetric(float64(b.N)/messages, "entries/message")
				b.ReportMetric(float64(switches)/messages, "ctx-switches/message")
				// Below 100, the producers fell behind their rate (a busy
				// machine starves them): fewer, fuller messages, and a run
				// that is not the shape its name says.
				b.ReportMetric(load.Seconds()/elapsed.Seconds()*100, "%rate-kept")
			})
		}
	}
}
