package zapzmq

import (
	"io"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/cputime"
	"github.com/zmqlog/zmqlog/internal/testcollector"
)

// BenchmarkCore: the cost of one log call in the calling goroutine, for
// zap's ioCore encoding to io.Discard (the ceiling for any zap core) and
// for zapzmq with a collector receiving on TCP loopback in another
// process, with the same encoder, context fields and call fields, in the
// same run. Besides wall-clock ns/op it reports caller-cpu-ns/op, the CPU
// time of the calling thread alone (getrusage RUSAGE_THREAD): on a
// two-core machine the shipper's goroutine competes with the caller for
// a core, which wall time counts and CPU time does not.
//
// The logger, its fields and the shipper's settings are those of the
// root package's BenchmarkZap, whose figures the README gives, so that
// the two measure the same thing. They did not: this one had a second
// context field and the default drop-newest policy, and checked only that
// the collector got what the shipper sent. When the collector (sharing
// the second core with the shipper on a two-core machine) fell behind,
// it refused entries at the gate (5-19% in some runs), each refusal
// skipping the copy, the batch and the wake-up, and a run's figure mixed
// shipping with refusing, while BenchmarkZap, blocking, counted every
// entry delivered. Now the shipper blocks (WithBlock) and the collector
// must receive every entry.
func BenchmarkCore(b *testing.B) {
	enc := func() zapcore.Encoder { return zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()) }
	run := func(b *testing.B, core zapcore.Core) {
		logger := zap.New(core).With(zap.String("service", "checkout"))
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b.ResetTimer()
		cpu0 := cputime.Thread()
		for i := range b.N {
			logger.Info("request served", zap.String("path", "/v1/orders"), zap.Int("status", 200), zap.Int("attempt", i))
		}
		b.ReportMetric(float64(cputime.Thread()-cpu0)/float64(b.N), "caller-cpu-ns/op")
	}

	b.Run("zap-iocore-discard", func(b *testing.B) {
		run(b, zapcore.NewCore(enc(), zapcore.AddSync(io.Discard), zapcore.DebugLevel))
	})

	b.Run("zapzmq", func(b *testing.B) {
		drain := testcollector.StartDrain(b)
		core, err := NewCore(drain.Endpoint, WithEncoder(enc()),
			WithShipperOptions(zmqlog.WithBlock(time.Minute))) // measure delivery, not drops
		if err != nil {
			b.Fatal(err)
		}
		run(b, core)
		b.StopTimer()
		core.Close()
		st := core.Shipper().Stats()
		if st.Sent != uint64(b.N) {
			b.Errorf("the shipper sent %d entries of %d (%d dropped)", st.Sent, b.N, st.Dropped)
		}
		drain.StopAndCheck(b, st.Shipped, st.Sent, st.Dropped)
	})
}
