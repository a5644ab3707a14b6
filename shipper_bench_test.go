package zmqlog

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testcollector"
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

// BenchmarkShipParallel: 4 goroutines call Ship at once on GOMAXPROCS=2,
// shipping to a collector in another process, beside the least any
// shared batch costs: a mutex guarding an append of the same entry into a
// 64 KiB buffer, reused when full. Each reports the median, the 99.9th
// percentile and the slowest call of all goroutines (run with -benchtime
// 1000000x for "worst of 1M calls"). The budget holds every entry of the
// run, so no call is refused or waits for the collector: the figures are
// the calls' own cost and their contention with each other and with the
// shipper goroutine, and %dropped says so (it must be 0).
func BenchmarkShipParallel(b *testing.B) {
	const goroutines = 4
	run := func(b *testing.B, ship func(topic string, entry []byte)) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
		b.SetParallelism(goroutines / 2) // goroutines = parallelism × GOMAXPROCS
		// Each goroutine's latencies, written through before the clock
		// starts so that no page fault lands in a measured call.
		lats := make([][]time.Duration, goroutines)
		for g := range lats {
			lats[g] = make([]time.Duration, b.N)
			for i := range lats[g] {
				lats[g][i] = -1
			}
		}
		var next atomic.Int32
		var counts [goroutines]int
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			g := int(next.Add(1) - 1)
			lat, n := lats[g], 0
			for pb.Next() {
				t0 := time.Now()
				ship("INFO.api", benchEntry)
				lat[n] = time.Since(t0)
				n++
			}
			counts[g] = n
		})
		b.StopTimer()
		var all []time.Duration
		for g, lat := range lats {
			all = append(all, lat[:counts[g]]...)
		}
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(all[len(all)*999/1000].Nanoseconds()), "p99.9-ns")
		b.ReportMetric(float64(all[len(all)-1].Nanoseconds()), "worst-ns")
	}

	b.Run("ship", func(b *testing.B) {
		drain := testcollector.StartDrain(b)
		// Room for the whole run, so that no call is refused and none waits.
		budget := max(8<<20, 2*b.N*wire.EntrySize("INFO.api", benchEntry))
		s, err := NewShipper(drain.Endpoint, WithBudget(budget))
		if err != nil {
			b.Fatal(err)
		}
		run(b, s.Ship)
		if err := s.Close(); err != nil {
			b.Error(err)
		}
		st := s.Stats()
		if st.Dropped > 0 {
			b.Errorf("%d of %d entries dropped: the figures are not all shipping", st.Dropped, st.Shipped)
		}
		drain.StopAndCheck(b, st.Shipped, st.Sent, st.Dropped)
	})

	b.Run("mutex-copy", func(b *testing.B) {
		var mu sync.Mutex
		buf := make([]byte, 0, 64<<10)
		run(b, func(topicName string, entry []byte) {
			mu.Lock()
			if len(buf)+len(topicName)+len(entry) > cap(buf) {
				buf = buf[:0]
			}
			buf = append(buf, topicName...)
			buf = append(buf, entry...)
			mu.Unlock()
		})
	})
}
