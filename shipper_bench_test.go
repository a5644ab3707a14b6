package zmqlog

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/wire"
)

// A typical production JSON log line from zap (about 160 bytes).
var benchEntry = []byte(`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","method":"GET","path":"/v1/orders","status":200,"duration":0.0123}`)

// BenchmarkShipNoCollector: Ship with no collector anywhere, the budget
// full almost at once. Reports the median, the 99.9th percentile and the
// slowest single call: run with -benchtime 1000000x for "worst of 1M
// calls". The worst call on a shared machine is the OS or the GC taking
// the CPU away; the percentiles show the shipper itself.
func BenchmarkShipNoCollector(b *testing.B) {
	dir := b.TempDir()
	s, err := NewShipper("ipc://"+dir+"/none.sock", WithFlushTimeout(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		s.Ship("INFO.api", benchEntry)
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	st := s.Stats()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "worst-ns")
	b.ReportMetric(float64(st.Dropped)/float64(b.N)*100, "%dropped")
}

// BenchmarkShipThroughput: one goroutine ships entries through a real
// TCP loopback listener that decodes every batch, against the same
// entries sent one per 2-frame ZeroMQ message over our own socket layer
// (the per-entry baseline), in the same run.
func BenchmarkShipThroughput(b *testing.B) {
	drain := func(b *testing.B, pull *zsock.Puller, n int) {
		ctx := context.Background()
		for got := 0; got < n; {
			m, err := pull.Recv(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			batch, err := wire.Decode(m.Frames)
			if err != nil {
				b.Error(err)
				return
			}
			got += batch.Count
		}
	}
	listen := func(b *testing.B) *zsock.Puller {
		ep, _ := zsock.ParseEndpoint("tcp://127.0.0.1:0", true)
		pull, err := zsock.ListenPull(ep, zsock.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return pull
	}

	b.Run("batched", func(b *testing.B) {
		pull := listen(b)
		defer pull.Close()
		s, err := NewShipper(pull.Endpoint(), WithBlock(time.Minute)) // measure delivery, not drops
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		done := make(chan struct{})
		b.ResetTimer()
		go func() { defer close(done); drain(b, pull, b.N) }()
		for range b.N {
			s.Ship("INFO.api", benchEntry)
		}
		<-done
		b.StopTimer()
		st := s.Stats()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		b.ReportMetric(float64(st.BytesSent)/float64(st.Sent)-float64(len(benchEntry)+len("INFO.api")), "overhead-B/entry")
	})

	b.Run("one-per-message", func(b *testing.B) {
		pull := listen(b)
		defer pull.Close()
		ep, _ := zsock.ParseEndpoint(pull.Endpoint(), false)
		push := zsock.DialPush([]zsock.Endpoint{ep}, zsock.Options{})
		defer push.Close()
		ctx := context.Background()
		topic := []byte("INFO.api")
		done := make(chan struct{})
		b.ResetTimer()
		go func() { defer close(done); drain(b, pull, b.N) }()
		for range b.N {
			push.Send(ctx, zsock.Plain{topic, benchEntry})
		}
		<-done
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}
