package procstat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"
	"time"
)

// Lines follows a file another process appends lines to (zmqcollect's
// store, one line per entry) and counts them, reading only what was added
// since the last look. It lets a benchmark wait for that process's work
// without asking it anything: a /metrics scrape of zmqcollect with a
// thousand producers costs it about 20 ms of CPU, which polling it would
// add to the CPU being measured. The file must not be rotated meanwhile.
type Lines struct {
	path string
	f    *os.File
	n    int
	buf  []byte
}

// FollowLines returns a Lines for path, which need not exist yet.
func FollowLines(path string) *Lines {
	return &Lines{path: path, buf: make([]byte, 64<<10)}
}

// Count returns the number of complete lines in the file so far.
func (l *Lines) Count(tb testing.TB) int {
	tb.Helper()
	if l.f == nil {
		f, err := os.Open(l.path)
		if errors.Is(err, fs.ErrNotExist) {
			return 0
		}
		if err != nil {
			tb.Fatal(err)
		}
		l.f = f
		tb.Cleanup(func() { f.Close() })
	}
	for {
		n, err := l.f.Read(l.buf)
		l.n += bytes.Count(l.buf[:n], []byte{'\n'})
		if err == io.EOF || n == 0 {
			return l.n
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// WaitFor returns once the file holds at least n lines; it fails the
// benchmark if ctx ends first.
func (l *Lines) WaitFor(tb testing.TB, ctx context.Context, n int) {
	tb.Helper()
	for l.Count(tb) < n {
		select {
		case <-ctx.Done():
			tb.Fatalf("%s holds %d lines, not the %d awaited", l.path, l.n, n)
		case <-time.After(2 * time.Millisecond): // polling a file: a benchmark, not a test
		}
	}
}
