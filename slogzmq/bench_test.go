package slogzmq

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/zmqlog/zmqlog/internal/cputime"
	"github.com/zmqlog/zmqlog/internal/testcollector"
)

// BenchmarkHandler: the cost of one slog call in the calling goroutine,
// for slog.JSONHandler writing to io.Discard and for slogzmq with a
// collector on TCP loopback in another process, same attributes, same
// run. caller-cpu-ns/op is the calling thread's CPU time alone
// (getrusage RUSAGE_THREAD), which the shipper's goroutine competing for
// one of two cores does not inflate.
func BenchmarkHandler(b *testing.B) {
	run := func(b *testing.B, h slog.Handler) {
		logger := slog.New(h).With("service", "checkout", "pid", 4242)
		ctx := context.Background()
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b.ResetTimer()
		cpu0 := cputime.Thread()
		for i := range b.N {
			logger.LogAttrs(ctx, slog.LevelInfo, "request served",
				slog.String("path", "/v1/orders"), slog.Int("status", 200), slog.Int("attempt", i))
		}
		b.ReportMetric(float64(cputime.Thread()-cpu0)/float64(b.N), "caller-cpu-ns/op")
	}

	b.Run("slog-json-discard", func(b *testing.B) {
		run(b, slog.NewJSONHandler(io.Discard, nil))
	})

	b.Run("slogzmq", func(b *testing.B) {
		drain := testcollector.StartDrain(b)
		h, err := NewHandler(drain.Endpoint, nil)
		if err != nil {
			b.Fatal(err)
		}
		run(b, h)
		b.StopTimer()
		h.Close()
		st := h.Shipper().Stats()
		drain.StopAndCheck(b, st.Shipped, st.Sent, st.Dropped)
	})
}
