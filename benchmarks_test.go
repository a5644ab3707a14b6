package zmqlog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/cputime"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/slogzmq"
	"github.com/zmqlog/zmqlog/zapzmq"
)

// Messages per second per core, the figure a user quotes. Every
// competitor logs the same entries from one goroutine; the ones that ship
// send to a collector in another process (it decodes and counts, so its
// work is not in ours). Each reports entries/s (wall clock, until
// everything is written to the connection), entries/cpu-s: entries per
// CPU-second of this whole process (getrusage), which is what logging
// costs the app, and caller-cpu-ns/op: the calling thread's CPU time per
// entry, the part the logging call itself costs. Besides io.Discard, the
// ceiling, zap writes to a local file as users do when an agent ships
// their logs. The libzmq (cgo) competitor lives in benchmarks/libzmq,
// its own module, so this one stays pure Go.

// measure holds a run's starting points: wall clock, the process's CPU
// time, and the calling thread's CPU time (the cost in the caller).
type measure struct {
	start           time.Time
	process, caller time.Duration
	locked          bool
}

// begin starts measuring. With lock, the goroutine keeps its thread so the
// thread's CPU time is the caller's; the naive zmq4 competitor runs
// unlocked, since it hands every send to other goroutines and a locked
// thread slows it several times over.
func begin(lock bool) measure {
	if lock {
		runtime.LockOSThread()
	}
	return measure{time.Now(), cputime.Process(), cputime.Thread(), lock}
}

// callerDone records the caller's CPU time when the logging loop ends.
func (m *measure) callerDone() {
	m.caller = cputime.Thread() - m.caller
	if m.locked {
		runtime.UnlockOSThread()
	}
}

func report(b *testing.B, m measure) {
	b.ReportMetric(float64(b.N)/time.Since(m.start).Seconds(), "entries/s")
	b.ReportMetric(float64(b.N)/(cputime.Process()-m.process).Seconds(), "entries/cpu-s")
	if m.locked {
		b.ReportMetric(float64(m.caller.Nanoseconds())/float64(b.N), "caller-cpu-ns/op")
	}
}

// checkDelivered stops the collector process and fails the benchmark if it
// did not receive every entry.
func checkDelivered(b *testing.B, d *testcollector.Drain, want int) {
	if got := d.Stop(); got != uint64(want) {
		b.Errorf("collector received %d entries, want %d", got, want)
	}
}

func zapFields(i int) []zap.Field {
	return []zap.Field{zap.String("path", "/v1/orders"), zap.Int("status", 200), zap.Int("attempt", i)}
}

func zapEncoder() zapcore.Encoder { return zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()) }

func BenchmarkZap(b *testing.B) {
	logAll := func(b *testing.B, core zapcore.Core) measure {
		_, naive := core.(*naiveCore)
		logger := zap.New(core).With(zap.String("service", "checkout"))
		b.ResetTimer()
		m := begin(!naive)
		for i := range b.N {
			logger.Info("request served", zapFields(i)...)
		}
		m.callerDone()
		return m
	}

	// The ceiling: zap encoding to io.Discard.
	b.Run("zap-iocore-discard", func(b *testing.B) {
		m := logAll(b, zapcore.NewCore(zapEncoder(), zapcore.AddSync(io.Discard), zapcore.DebugLevel))
		report(b, m)
	})

	// What users would do instead of shipping: log to a local file and let
	// an agent ship it. First through zap's BufferedWriteSyncer (256 KiB,
	// written out when full and every 30s; Stop writes the rest). Its
	// Sync does not fsync here, as zapzmq's Sync waits for the kernel to
	// take the bytes, not for the collector's disk.
	b.Run("zap-file-buffered", func(b *testing.B) {
		ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(writerOnly{benchFile(b)})}
		m := logAll(b, zapcore.NewCore(zapEncoder(), ws, zapcore.DebugLevel))
		if err := ws.Stop(); err != nil {
			b.Fatal(err)
		}
		report(b, m)
	})

	// Then a file written once per entry: zapcore.AddSync over an
	// *os.File, which is what zap does for stdout and stderr.
	b.Run("zap-file-unbuffered", func(b *testing.B) {
		m := logAll(b, zapcore.NewCore(zapEncoder(), zapcore.AddSync(benchFile(b)), zapcore.DebugLevel))
		report(b, m)
	})

	// Through zapzmq to a collector in another process, every entry
	// delivered (WithBlock: measure delivery, not drops).
	ship := func(b *testing.B, d *testcollector.Drain, opts ...zmqlog.Option) {
		core, err := zapzmq.NewCore(d.Endpoint, zapzmq.WithEncoder(zapEncoder()),
			zapzmq.WithShipperOptions(append([]zmqlog.Option{zmqlog.WithBlock(time.Minute)}, opts...)...))
		if err != nil {
			b.Fatal(err)
		}
		m := logAll(b, core)
		if err := core.Sync(); err != nil {
			b.Fatal(err)
		}
		report(b, m)
		b.StopTimer()
		core.Close()
		checkDelivered(b, d, b.N)
	}
	b.Run("zapzmq", func(b *testing.B) { ship(b, testcollector.StartDrain(b)) })

	// The same over CURVE: every batch boxed (Salsa20/Poly1305) on its way.
	b.Run("zapzmq-curve", func(b *testing.B) {
		server, client := curvePair(b), curvePair(b)
		ship(b, testcollector.StartCurveDrain(b, server.Secret),
			zmqlog.WithCurveKeys(server.Public.String(), client.Public.String(), client.Secret.String()))
	})

	// The floor: what a user gets from go-zeromq/zmq4's own PUSH socket,
	// one entry per [topic, entry] message.
	b.Run("naive-zmq4", func(b *testing.B) {
		d := testcollector.StartDrain(b)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		push := zmq4.NewPush(ctx)
		defer push.Close()
		if err := push.Dial(d.Endpoint); err != nil {
			b.Fatal(err)
		}
		m := logAll(b, &naiveCore{LevelEnabler: zapcore.DebugLevel, enc: zapEncoder(), push: push})
		report(b, m)
		b.StopTimer()
		checkDelivered(b, d, b.N)
	})
}

// BenchmarkZapParallel: 4 and 16 goroutines logging through one logger at
// once on GOMAXPROCS=2 (set here, whatever -cpu says), zapzmq against zap
// encoding to io.Discard, whose goroutines share nothing but zap's pools.
// It reports entries/s (wall clock, until zapzmq's collector has
// everything: ns/op is its inverse) and entries/cpu-s of the process; no
// caller CPU, since the callers are many goroutines on few threads.
func BenchmarkZapParallel(b *testing.B) {
	logParallel := func(b *testing.B, goroutines int, core zapcore.Core) measure {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
		b.SetParallelism(goroutines / 2) // goroutines = parallelism × GOMAXPROCS
		logger := zap.New(core).With(zap.String("service", "checkout"))
		b.ResetTimer()
		m := begin(false)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				logger.Info("request served", zapFields(i)...)
			}
		})
		return m
	}
	for _, goroutines := range []int{4, 16} {
		b.Run(fmt.Sprintf("g%d/zap-iocore-discard", goroutines), func(b *testing.B) {
			m := logParallel(b, goroutines, zapcore.NewCore(zapEncoder(), zapcore.AddSync(io.Discard), zapcore.DebugLevel))
			report(b, m)
		})
		b.Run(fmt.Sprintf("g%d/zapzmq", goroutines), func(b *testing.B) {
			d := testcollector.StartDrain(b)
			core, err := zapzmq.NewCore(d.Endpoint, zapzmq.WithEncoder(zapEncoder()),
				zapzmq.WithShipperOptions(zmqlog.WithBlock(time.Minute))) // measure delivery, not drops
			if err != nil {
				b.Fatal(err)
			}
			m := logParallel(b, goroutines, core)
			if err := core.Sync(); err != nil {
				b.Fatal(err)
			}
			report(b, m)
			b.StopTimer()
			core.Close()
			checkDelivered(b, d, b.N)
		})
	}
}

func BenchmarkSlog(b *testing.B) {
	logAll := func(b *testing.B, h slog.Handler) measure {
		logger := slog.New(h).With("service", "checkout")
		ctx := context.Background()
		b.ResetTimer()
		m := begin(true)
		for i := range b.N {
			logger.LogAttrs(ctx, slog.LevelInfo, "request served",
				slog.String("path", "/v1/orders"), slog.Int("status", 200), slog.Int("attempt", i))
		}
		m.callerDone()
		return m
	}

	b.Run("slog-json-discard", func(b *testing.B) {
		m := logAll(b, slog.NewJSONHandler(io.Discard, nil))
		report(b, m)
	})

	b.Run("slogzmq", func(b *testing.B) {
		d := testcollector.StartDrain(b)
		h, err := slogzmq.NewHandler(d.Endpoint, &slogzmq.Options{Shipper: []zmqlog.Option{zmqlog.WithBlock(time.Minute)}})
		if err != nil {
			b.Fatal(err)
		}
		m := logAll(b, h)
		if err := h.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		report(b, m)
		b.StopTimer()
		h.Close()
		checkDelivered(b, d, b.N)
	})
}

// benchFile creates a file in the benchmark's temporary directory, closed
// when the benchmark ends.
func benchFile(b *testing.B) *os.File {
	f, err := os.Create(filepath.Join(b.TempDir(), "app.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// writerOnly hides a file's Sync (fsync) from zapcore.AddSync, which then
// syncs as a no-op.
type writerOnly struct{ io.Writer }

// naiveCore is the zap core a user would write around go-zeromq/zmq4:
// encode, send the entry as [topic, entry], wait for the send.
type naiveCore struct {
	zapcore.LevelEnabler
	enc  zapcore.Encoder
	push zmq4.Socket
}

func (c *naiveCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.enc = c.enc.Clone()
	for _, f := range fields {
		f.AddTo(clone.enc)
	}
	return &clone
}

func (c *naiveCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *naiveCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	buf, err := c.enc.EncodeEntry(e, fields)
	if err != nil {
		return err
	}
	entry := append([]byte(nil), buf.Bytes()...)
	buf.Free()
	return c.push.SendMulti(zmq4.NewMsgFrom([]byte(e.Level.CapitalString()), entry))
}

func (c *naiveCore) Sync() error { return nil }

func curvePair(b *testing.B) zcert.KeyPair {
	p, err := zcert.GenerateKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	return p
}
