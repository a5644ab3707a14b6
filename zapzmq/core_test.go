package zapzmq

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

func TestMain(m *testing.M) {
	testcollector.RunDrainIfAsked() // benchmarks' collector process
	goleak.VerifyTestMain(m)
}

func openCore(t *testing.T, endpoint string, opts ...Option) *Core {
	t.Helper()
	c, err := NewCore(endpoint, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// What the collector receives is byte for byte what zap's own JSON encoder
// writes for the same entries (less the line ending), under the level's
// topic.
func TestEntriesAreZapsOwnEncoding(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	core := openCore(t, col.Endpoint(), WithApp("svc"))
	var ref bytes.Buffer
	refCore := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&ref), zapcore.DebugLevel)
	logger := zap.New(zapcore.NewTee(refCore, core), zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel))

	logger.Debug("debug", zap.Int("n", 1))
	logger.Info("info", zap.String("s", "x"), zap.Duration("d", time.Second))
	child := logger.Named("child").With(zap.String("request", "r-1"), zap.Strings("tags", []string{"a", "b"}))
	child.Warn("warn", zap.Error(errors.New("disk slow")))
	child.Named("grandchild").Error("error with stacktrace")
	logger.DPanic("dpanic") // production logger: logged, no panic
	func() {
		defer func() { recover() }()
		logger.Panic("panic", zap.Bool("b", true))
	}()
	if err := logger.Sync(); err != nil {
		t.Fatal(err)
	}

	want := strings.Split(strings.TrimSuffix(ref.String(), "\n"), "\n")
	topics := []string{"DEBUG.svc", "INFO.svc", "WARN.svc", "ERROR.svc", "DPANIC.svc", "PANIC.svc"}
	got := col.ReceiveN(ctx, len(want))
	for i, e := range got {
		if e.Data != want[i] {
			t.Errorf("entry %d:\n got %s\nwant %s", i, e.Data, want[i])
		}
		if e.Topic != topics[i] {
			t.Errorf("entry %d topic %q, want %q", i, e.Topic, topics[i])
		}
	}
	if !strings.Contains(got[3].Data, `"stacktrace":"`) || !strings.Contains(got[3].Data, `"logger":"child.grandchild"`) ||
		!strings.Contains(got[3].Data, `"caller":"zapzmq/core_test.go:`) {
		t.Errorf("error entry lacks stacktrace, logger or caller: %s", got[3].Data)
	}
	if got[0].Producer.App != "svc" {
		t.Errorf("producer %+v", got[0].Producer)
	}
}

func TestTeeKeepsTheExistingOutput(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	obs, logs := observer.New(zapcore.InfoLevel)
	logger := zap.New(obs)

	logger = logger.WithOptions(Tee(openCore(t, col.Endpoint())))
	logger.Info("to both", zap.Int("n", 7))

	if logs.Len() != 1 || logs.All()[0].Message != "to both" {
		t.Fatalf("existing core got %v", logs.All())
	}
	if e := col.ReceiveN(ctx, 1)[0]; !strings.Contains(e.Data, `"msg":"to both","n":7`) || e.Topic != "INFO" {
		t.Fatalf("collector got %+v", e)
	}
}

func TestAtomicLevelChangesWhatIsShipped(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	core := openCore(t, col.Endpoint(), WithLevel(level))
	logger := zap.New(core)
	logger.Debug("hidden")
	level.SetLevel(zapcore.DebugLevel)
	logger.Debug("shown")
	if e := col.ReceiveN(ctx, 1)[0]; !strings.Contains(e.Data, `"msg":"shown"`) {
		t.Fatalf("got %+v", e)
	}
	if core.Level() != zapcore.DebugLevel {
		t.Fatalf("Level() = %v", core.Level())
	}
}

func TestConsoleEncoderAndSharedShipper(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	owner := openCore(t, col.Endpoint(), WithApp("a"))
	cfg := zap.NewDevelopmentEncoderConfig()
	cfg.TimeKey = ""
	console, err := NewShipperCore(owner.Shipper(), WithApp("b"), WithEncoder(zapcore.NewConsoleEncoder(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	zap.New(console).Warn("careful", zap.Int("n", 2))
	e := col.ReceiveN(ctx, 1)[0]
	if e.Data != "WARN\tcareful\t{\"n\": 2}" || e.Topic != "WARN.b" {
		t.Fatalf("got %q under %q", e.Data, e.Topic)
	}
	if err := console.Close(); err != nil { // does not close the shared shipper
		t.Fatal(err)
	}
	zap.New(owner).Info("still shipping")
	col.ReceiveN(ctx, 1)
}

// With no collector the app never waits: Write returns at once, and what
// does not fit is dropped and counted.
func TestNoCollectorNeverBlocks(t *testing.T) {
	core := openCore(t, testsupport.IPC(t, "absent.sock"), WithFlushTimeout(10*time.Millisecond),
		WithShipperOptions(zmqlog.WithFlushTimeout(time.Millisecond)))
	logger := zap.New(core)
	for range 100000 {
		logger.Info("nobody listens", zap.String("pad", strings.Repeat("p", 100)))
	}
	st := core.Shipper().Stats()
	if st.Shipped != 100000 || st.DroppedByLevel["INFO"] == 0 || st.Shipped != st.Sent+st.Dropped+uint64(st.Queued) {
		t.Fatalf("stats %+v", st)
	}
	if err := logger.Sync(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with no collector: %v, want a deadline error", err)
	}
}

// A program that logs Fatal right after it starts: the entry reaches the
// collector before the process exits.
func TestFatalEntryReachesTheCollector(t *testing.T) {
	if endpoint := os.Getenv("ZAPZMQ_FATAL_TO"); endpoint != "" {
		core, err := NewCore(endpoint, WithApp("dying"))
		if err != nil {
			os.Exit(3)
		}
		zap.New(core).Fatal("last words", zap.Int("code", 42))
		os.Exit(4) // not reached
	}
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFatalEntryReachesTheCollector$")
	cmd.Env = append(os.Environ(), "ZAPZMQ_FATAL_TO="+col.Endpoint())
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("subprocess: %v, want zap's exit status 1", err)
	}
	e := col.ReceiveN(ctx, 1)[0]
	if e.Topic != "FATAL.dying" || !strings.Contains(e.Data, `"msg":"last words","code":42`) {
		t.Fatalf("got %+v", e)
	}
}

// Per entry the core allocates nothing beyond what zap's ioCore does with
// the same encoder writing to io.Discard.
func TestAllocationsMatchZapsIOCore(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	core := openCore(t, col.Endpoint())
	drained := make(chan struct{})
	// Keep the budget from filling, so batches are reused. The drain
	// allocates once per batch (hundreds of entries), not per entry;
	// AllocsPerRun counts every goroutine's allocations.
	drainCtx, stopDrain := context.WithCancel(ctx)
	go func() {
		defer close(drained)
		for {
			if _, err := col.Pull.Recv(drainCtx); err != nil {
				return
			}
		}
	}()
	defer func() { stopDrain(); <-drained }()
	fields := []zap.Field{zap.String("path", "/v1/orders"), zap.Int("status", 200), zap.Duration("took", time.Millisecond)}
	discard := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.DebugLevel))
	ours := zap.New(core)
	base := testing.AllocsPerRun(10000, func() { discard.Info("request served", fields...) })
	got := testing.AllocsPerRun(10000, func() { ours.Info("request served", fields...) })
	if got > base {
		t.Fatalf("%v allocations per entry, zap's ioCore to io.Discard makes %v", got, base)
	}
}

// Shutdown with an expired context returns at once, even with entries
// queued for a collector that is not there, and counts them as dropped.
func TestShutdownWithExpiredContext(t *testing.T) {
	core, err := NewCore(testsupport.IPC(t, "absent.sock"), WithShipperOptions(zmqlog.WithFlushTimeout(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	zap.New(core).Info("queued, never sent")
	expired, cancel := context.WithCancel(testsupport.Context(t))
	cancel()
	if err := core.Shutdown(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want the context's error", err)
	}
	if st := core.Shipper().Stats(); st.DroppedClosed != 1 || st.Queued != 0 {
		t.Fatalf("stats %+v: want the entry counted as dropped at close", st)
	}
}

// Options that cannot apply are errors, not silence: shipper options
// given to a core over a shipper made already, and a sync timeout that
// is not positive.
func TestOptionsThatCannotApplyAreErrors(t *testing.T) {
	owner := openCore(t, "tcp://127.0.0.1:1")
	if _, err := NewShipperCore(owner.Shipper(), WithShipperOptions(zmqlog.WithApp("x"))); err == nil || !strings.Contains(err.Error(), "WithShipperOptions") {
		t.Errorf("NewShipperCore with shipper options: %v, want an error naming WithShipperOptions", err)
	}
	for _, d := range []time.Duration{-time.Second} {
		if _, err := NewShipperCore(owner.Shipper(), WithFlushTimeout(d)); err == nil || !strings.Contains(err.Error(), d.String()) {
			t.Errorf("WithFlushTimeout(%v): %v, want an error naming it", d, err)
		}
		if c, err := NewCore("tcp://127.0.0.1:1", WithFlushTimeout(d)); err == nil {
			c.Close()
			t.Errorf("NewCore with WithFlushTimeout(%v): no error", d)
		}
	}
}

// A bad endpoint is reported in the user's terms: the endpoint and what
// is wrong with it, not the chain of internal packages it went through.
func TestBadEndpointErrorNamesTheEndpoint(t *testing.T) {
	_, err := NewCore("tcp://127.0.0.1")
	if err == nil || !strings.HasPrefix(err.Error(), `zmqlog: bad endpoint "tcp://127.0.0.1": want host:port`) || strings.Contains(err.Error(), "zsock") {
		t.Fatalf("NewCore(tcp://127.0.0.1): %v", err)
	}
}
