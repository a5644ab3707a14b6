package vlsink

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// fakeVL is an /insert/jsonline that records the lines it takes; fail,
// if set, answers a request instead (a status code), or 0 to take it.
type fakeVL struct {
	*httptest.Server
	mu    sync.Mutex
	seen  map[float64]int // n → times received
	lines int
	fail  func() int
}

func newFakeVL(t *testing.T, fail func() int) *fakeVL {
	f := &fakeVL{seen: map[float64]int{}, fail: fail}
	f.Server = httptest.NewServer(http.HandlerFunc(f.insert))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeVL) insert(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/insert/jsonline" || r.Header.Get("Content-Type") != "application/stream+json" ||
		r.URL.Query().Get("_stream_fields") != StreamFields || r.URL.Query().Get("_time_field") != "ts,time" {
		http.Error(w, "not a JSON-lines insert: "+r.URL.String()+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
		return
	}
	if f.fail != nil {
		if code := f.fail(); code != 0 {
			http.Error(w, "failing on purpose", code)
			return
		}
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	var ns []float64
	for sc.Scan() {
		var e struct{ N float64 }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ns = append(ns, e.N)
	}
	f.mu.Lock()
	for _, n := range ns {
		f.seen[n]++
		f.lines++
	}
	f.mu.Unlock()
}

// check reports the lines received, distinct and in all.
func (f *fakeVL) counts() (distinct, lines int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen), f.lines
}

func waitSent(t *testing.T, ctx context.Context, s *Sink, n uint64) {
	t.Helper()
	testsupport.WaitFor(t, ctx, "the sink to send every line", func() bool {
		st := s.Stats()
		return st.Sent+st.Dropped["rejected"] >= n && st.LagEntries == 0
	})
}

// The cursor survives a restart, and a rotation while the sink was
// stopped: the next start sends exactly the rest, each line once.
func TestCursorCarriesOverRestartAndRotation(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := newFakeVL(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "store.jsonl")
	cfg := Config{URLs: []string{vl.URL}, StoreFile: file, CursorFile: file + ".vlcursor", Linger: 5 * time.Millisecond, BatchBytes: 16 << 10}
	w := newStoreWriter(t, file, 1)
	s := startSink(t, cfg)
	w.sink = s
	w.write(t, 3000)
	waitSent(t, ctx, s, 3000)
	s.Close(time.Second)

	w.sink = nil
	w.write(t, 2000)
	if err := w.lj.Rotate(); err != nil {
		t.Fatal(err)
	}
	w.write(t, 1000)
	s = startSink(t, cfg)
	w.sink = s
	w.write(t, 500)
	waitSent(t, ctx, s, 3500)
	if distinct, lines := vl.counts(); distinct != 6500 || lines != 6500 {
		t.Fatalf("VictoriaLogs got %d lines, %d distinct; want 6500 once each", lines, distinct)
	}
}

// A store file removed by the rotation before the sink read it is
// counted, and the sink goes on with the next file.
func TestFileRotatedOutWhileStoppedIsCounted(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := newFakeVL(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "store.jsonl")
	cfg := Config{URLs: []string{vl.URL}, StoreFile: file, CursorFile: file + ".vlcursor", Linger: 5 * time.Millisecond}
	w := newStoreWriter(t, file, 1)
	s := startSink(t, cfg)
	w.sink = s
	w.write(t, 100)
	waitSent(t, ctx, s, 100)
	s.Close(time.Second)

	w.sink = nil
	w.write(t, 100) // after the cursor, in the file about to go
	if err := w.lj.Rotate(); err != nil {
		t.Fatal(err)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "store-*.jsonl"))
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	if err := os.Remove(backups[0]); err != nil { // as MaxBackups would
		t.Fatal(err)
	}
	w.write(t, 300)
	s = startSink(t, cfg)
	w.sink = s
	waitSent(t, ctx, s, 300)
	if st := s.Stats(); st.LostFiles != 1 {
		t.Fatalf("lost files %d, want 1", st.LostFiles)
	}
	if distinct, lines := vl.counts(); distinct != 400 || lines != 400 {
		t.Fatalf("VictoriaLogs got %d lines, %d distinct; want the 400 still in the store", lines, distinct)
	}
}

// Requests that fail are retried until the server takes them; one it
// refuses for good (a 4xx) is dropped and counted, not retried for ever.
func TestRetriesFailuresAndCountsRefusals(t *testing.T) {
	ctx := testsupport.Context(t)
	var mu sync.Mutex
	answers := []int{503, 503, 502, 400}
	vl := newFakeVL(t, func() int {
		mu.Lock()
		defer mu.Unlock()
		if len(answers) == 0 {
			return 0
		}
		a := answers[0]
		answers = answers[1:]
		return a
	})
	dir := t.TempDir()
	file := filepath.Join(dir, "store.jsonl")
	w := newStoreWriter(t, file, 1)
	s := startSink(t, Config{URLs: []string{vl.URL}, StoreFile: file, CursorFile: file + ".vlcursor", Linger: 5 * time.Millisecond, InFlight: 1})
	w.sink = s
	w.write(t, 200)
	waitSent(t, ctx, s, 200)
	st := s.Stats()
	_, lines := vl.counts()
	if st.Retries != 3 || st.Dropped["rejected"] == 0 || int(st.Dropped["rejected"])+lines != 200 || st.Sent != uint64(lines) {
		t.Fatalf("retries %d, rejected %d, sent %d, received %d: want 3 retries and every line either sent or rejected", st.Retries, st.Dropped["rejected"], st.Sent, lines)
	}
}

// Gzip bodies arrive whole.
func TestGzipBodies(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := newFakeVL(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "store.jsonl")
	w := newStoreWriter(t, file, 1)
	s := startSink(t, Config{URLs: []string{vl.URL}, StoreFile: file, CursorFile: file + ".vlcursor", Linger: 5 * time.Millisecond, Gzip: true})
	w.sink = s
	w.write(t, 5000)
	waitSent(t, ctx, s, 5000)
	if distinct, lines := vl.counts(); distinct != 5000 || lines != 5000 {
		t.Fatalf("got %d lines, %d distinct", lines, distinct)
	}
}

// VictoriaLogs is down for longer than the rotation keeps files: the sink
// holds the files the rotation removes, up to two, and counts the entries
// of those it lets go; once VictoriaLogs is back, every entry written is
// either in it, once, or counted as rotated out.
func TestEntriesRotatedOutWhileBehindAreCounted(t *testing.T) {
	ctx := testsupport.Context(t)
	var mu sync.Mutex
	up := false
	vl := newFakeVL(t, func() int {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			return 503
		}
		return 0
	})
	dir := t.TempDir()
	file := filepath.Join(dir, "store.jsonl")
	w := newStoreWriter(t, file, 1)
	w.lj = &lumberjack.Logger{Filename: file, MaxSize: 1, MaxBackups: 1}
	t.Cleanup(func() { w.lj.Close() })
	s := startSink(t, Config{URLs: []string{vl.URL}, StoreFile: file, CursorFile: file + ".vlcursor", Linger: 5 * time.Millisecond})
	w.sink = s
	const n = 60000 // about 8 files of 1 MB; the rotation keeps 2
	for range n / 1000 {
		w.write(t, 1000)
		// Not synchronisation but the write rate: under 3 MB/s, so each
		// file lives some 700ms, several of the sink's looks (every
		// 100ms), even on a loaded machine. A file made and removed
		// between two looks would be lost uncounted, as the package
		// documents.
		time.Sleep(50 * time.Millisecond)
	}
	testsupport.WaitFor(t, ctx, "entries counted as rotated out", func() bool { return s.Stats().Dropped["rotated_out"] > 0 })
	mu.Lock()
	up = true
	mu.Unlock()
	testsupport.WaitFor(t, ctx, "every entry sent or counted", func() bool {
		st := s.Stats()
		return st.Sent+st.Dropped["rotated_out"] == n && st.LagEntries == 0
	})
	st := s.Stats()
	distinct, lines := vl.counts()
	if distinct != lines || uint64(lines) != st.Sent {
		t.Fatalf("VictoriaLogs got %d lines, %d distinct; the sink says %d sent", lines, distinct, st.Sent)
	}
	t.Logf("%d sent, %d rotated out, %d files lost", st.Sent, st.Dropped["rotated_out"], st.LostFiles)
}
