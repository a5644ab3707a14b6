package zapzmq

import (
	"io"
	"runtime"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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
func BenchmarkCore(b *testing.B) {
	enc := func() zapcore.Encoder { return zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()) }
	run := func(b *testing.B, core zapcore.Core) {
		logger := zap.New(core).With(zap.String("service", "checkout"), zap.Int("pid", 4242))
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
		core, err := NewCore(drain.Endpoint, WithEncoder(enc()))
		if err != nil {
			b.Fatal(err)
		}
		run(b, core)
		b.StopTimer()
		core.Close()
		st := core.Shipper().Stats()
		drain.StopAndCheck(b, st.Shipped, st.Sent, st.Dropped)
	})
}
