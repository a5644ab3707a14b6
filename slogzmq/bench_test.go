package slogzmq

import (
	"context"
	"fmt"
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
	benchmarkCompetitors(b, func(b *testing.B, h slog.Handler) {
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
	})
}

// BenchmarkPerRequest: the per-request logger shape of a server. Each op
// is one request: a logger derived with the request's three attributes
// (With, chained once or three times below the service's logger), then
// two records through it. A With costs its attributes once, so the
// figure must not grow with the depth of the chain nor with GOMAXPROCS
// (try -cpu 2,64), and stays beside slog.JSONHandler's.
func BenchmarkPerRequest(b *testing.B) {
	for _, depth := range []int{1, 3} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			benchmarkCompetitors(b, func(b *testing.B, h slog.Handler) {
				service := slog.New(h).With("service", "checkout", "pid", 4242)
				for d := 1; d < depth; d++ {
					service = service.With("layer", d, "region", "eu-west-1", "build", "2026.11")
				}
				ctx := context.Background()
				b.ReportAllocs()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ResetTimer()
				cpu0 := cputime.Thread()
				for i := range b.N {
					req := service.With("request_id", i, "user", "ann", "route", "/v1/orders")
					req.LogAttrs(ctx, slog.LevelInfo, "request received", slog.String("method", "POST"))
					req.LogAttrs(ctx, slog.LevelInfo, "request served", slog.Int("status", 200), slog.Int("bytes", 512))
				}
				b.ReportMetric(float64(cputime.Thread()-cpu0)/float64(b.N), "caller-cpu-ns/op")
			})
		})
	}
}

// benchmarkCompetitors runs one b.Run per handler, same loop, same run:
// slog.JSONHandler to io.Discard, and slogzmq shipping to a collector on
// TCP loopback in another process.
func benchmarkCompetitors(b *testing.B, run func(*testing.B, slog.Handler)) {
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
