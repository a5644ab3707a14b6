package vlsink

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/cputime"
	"github.com/zmqlog/zmqlog/internal/vltest"
)

// benchEntries is one run's load: zap-like lines with their producer
// stamp, about 150 bytes each.
const benchEntries = 200000

func benchLines() []byte {
	stamp := Stamp("bench", "h1", 42)
	var buf []byte
	now := float64(time.Now().UnixNano()) / 1e9
	for i := range benchEntries {
		ts := strconv.FormatFloat(now+float64(i)/1e6, 'f', 6, 64)
		line := fmt.Appendf(nil, `{"level":"info","ts":%s,"caller":"bench/main.go:42","msg":"request served","n":%d,"status":200,"path":"/api/v1/items"}`, ts, i)
		buf = append(AppendLine(buf, stamp, line), '\n')
	}
	return buf
}

// BenchmarkVictoriaLogs sends the same lines to the same VictoriaLogs
// three ways in each iteration, one after the other so that they share
// its state and the machine's: a bare HTTP client posting them (4
// requests of 1 MiB in flight, the sink's defaults: the ceiling), the
// sink following them in a store file, and the sink with gzip. It reports
// entries/s for each, the sink's share of the bare client's rate, and the
// process's CPU per entry (VictoriaLogs runs in its own process, so that
// is the sender's cost), and bytes on the wire per entry.
func BenchmarkVictoriaLogs(b *testing.B) {
	vl := vltest.Start(b)
	lines := benchLines()
	var bodies [][]byte
	for rest := lines; len(rest) > 0; {
		n := min(len(rest), 1<<20)
		if i := bytes.LastIndexByte(rest[:n], '\n'); i >= 0 && n < len(rest) {
			n = i + 1
		}
		bodies = append(bodies, rest[:n])
		rest = rest[n:]
	}
	// The bare client: net/http as the sink sets it up (timeouts, idle
	// connections for 4 in flight), with nothing else of the sink's.
	client := newClient([]string{vl.URL}, time.Minute, 4, false).http
	defer client.CloseIdleConnections()
	url := vl.URL + "/insert/jsonline?" + insertParams

	bare := func() func() {
		return func() {
			work := make(chan []byte)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for body := range work {
						resp, err := client.Post(url, "application/stream+json", bytes.NewReader(body))
						if err != nil {
							b.Error(err)
							continue
						}
						io.Copy(io.Discard, resp.Body) // so the connection is reused
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Error(resp.Status)
						}
					}
				})
			}
			for _, body := range bodies {
				work <- body
			}
			close(work)
			wg.Wait()
		}
	}
	var wire [2]uint64
	// sink prepares a store holding the lines, written while the sink was
	// behind, and returns the timed part: following it into VictoriaLogs.
	sink := func(gz bool) func() func() {
		return func() func() {
			// The store as the sink finds it after an outage: the lines in
			// a rotated file from the cursor on, and a new live file.
			dir := b.TempDir()
			file := filepath.Join(dir, "store.jsonl")
			if err := os.WriteFile(file, lines, 0o600); err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(file)
			if err != nil {
				b.Fatal(err)
			}
			id := idOf(fi)
			if err := saveCursor(file+".vlcursor", 0o600, position{Path: file, Dev: id.Dev, Ino: id.Ino}); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(file, filepath.Join(dir, "store-2026-01-02T03-04-05.000.jsonl")); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				b.Fatal(err)
			}
			s, err := New(Config{URLs: []string{vl.URL}, StoreFile: file, CursorFile: file + ".vlcursor", Gzip: gz})
			if err != nil {
				b.Fatal(err)
			}
			return func() {
				// Close sends everything there is, then stops: no polling
				// to wake the process while it works.
				s.Start()
				s.Close(time.Minute)
				st := s.Stats()
				if st.Sent != benchEntries {
					b.Fatalf("sent %d of %d", st.Sent, benchEntries)
				}
				wire[map[bool]int{false: 0, true: 1}[gz]] += st.WireBytes
			}
		}
	}
	ways := []struct {
		name    string
		prepare func() func()
	}{{"bare", bare}, {"sink", sink(false)}, {"gzip", sink(true)}}
	var elapsed, cpu [3]time.Duration
	// A fresh VictoriaLogs is slow to take its first lines (it creates
	// its stream and index structures): warm it up untimed, or the first
	// way would pay for that.
	bare()()
	b.ResetTimer()
	for range b.N {
		// Each way twice, in the order a b c c b a: VictoriaLogs slows as
		// it merges what earlier runs sent, and this way every one meets
		// as much of that as the others.
		for _, i := range []int{0, 1, 2, 2, 1, 0} {
			run := ways[i].prepare()
			runtime.GC() // the setup's garbage is not the way's cost
			start, cpu0 := time.Now(), cputime.Process()
			run()
			elapsed[i] += time.Since(start)
			cpu[i] += cputime.Process() - cpu0
		}
	}
	total := float64(2 * benchEntries * b.N)
	for i, w := range ways {
		b.ReportMetric(total/elapsed[i].Seconds(), w.name+"-entries/s")
		b.ReportMetric(float64(cpu[i].Nanoseconds())/total, w.name+"-cpu-ns/entry")
	}
	b.ReportMetric(elapsed[0].Seconds()/elapsed[1].Seconds(), "sink/bare")
	b.ReportMetric(float64(wire[0])/total, "sink-wire-B/entry")
	b.ReportMetric(float64(wire[1])/total, "gzip-wire-B/entry")
	b.ReportMetric(0, "ns/op")
}
