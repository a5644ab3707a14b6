package vlsink

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/vltest"
)

// storeWriter writes zap-like lines into a lumberjack-rotated store, as
// the collector's store does, and tells the sink.
type storeWriter struct {
	lj   *lumberjack.Logger
	sink *Sink
	n    int
	app  string
}

func newStoreWriter(t *testing.T, file string, maxMB int) *storeWriter {
	w := &storeWriter{lj: &lumberjack.Logger{Filename: file, MaxSize: maxMB}, app: "writer"}
	t.Cleanup(func() { w.lj.Close() })
	if _, err := w.lj.Write(nil); err != nil { // makes the file, as openStore does
		t.Fatal(err)
	}
	return w
}

// write stores n lines in writes of 256 lines, each line stamped.
func (w *storeWriter) write(t *testing.T, n int) {
	stamp := Stamp(w.app, "h1", 42)
	buf := make([]byte, 0, 64<<10)
	for range n {
		ts := strconv.FormatFloat(float64(time.Now().UnixNano())/1e9, 'f', 6, 64)
		line := fmt.Appendf(nil, `{"level":"info","ts":%s,"msg":"entry","n":%d,"pad":"%060d"}`, ts, w.n, 0)
		buf = append(AppendLine(buf, stamp, line), '\n')
		w.n++
		if w.n%256 == 0 {
			w.flush(t, &buf)
		}
	}
	w.flush(t, &buf)
}

func (w *storeWriter) flush(t *testing.T, buf *[]byte) {
	if len(*buf) == 0 {
		return
	}
	if _, err := w.lj.Write(*buf); err != nil {
		t.Fatal(err)
	}
	*buf = (*buf)[:0]
	if w.sink != nil {
		w.sink.Written()
	}
}

func startSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close(0) })
	return s
}

// The sink follows the store across rotations: every line written
// reaches VictoriaLogs once, with its producer as fields.
func TestFollowsRotatedStoreIntoVictoriaLogs(t *testing.T) {
	ctx := testsupport.Context(t)
	vl := vltest.Start(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "store.jsonl")
	w := newStoreWriter(t, file, 1)
	s := startSink(t, Config{URLs: []string{vl.URL}, StoreFile: file, CursorFile: file + ".vlcursor", Linger: 20 * time.Millisecond})
	w.sink = s
	const n = 30000 // about 4 MB: four rotations
	w.write(t, n)
	testsupport.WaitFor(t, ctx, "every line acknowledged", func() bool { return s.Stats().Sent >= n })
	got := vl.WaitCount(t, ctx, `zmqlog.app:=writer zmqlog.host:=h1 zmqlog.pid:=42`, n)
	if got != n {
		t.Fatalf("VictoriaLogs holds %d entries, want %d", got, n)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "store-*.jsonl"))
	if len(backups) < 3 {
		t.Fatalf("the store rotated %d times, want at least 3 for this test to mean anything", len(backups))
	}
	if st := s.Stats(); st.LostFiles != 0 || st.LagEntries != 0 {
		t.Fatalf("stats %+v", st)
	}
}
