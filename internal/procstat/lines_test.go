package procstat

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A benchmark waits on Lines for what a process has written: lines that
// arrive in pieces are counted once each, only when complete, and a file
// that does not exist yet holds none.
func TestLinesCountsWhatIsAppended(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.jsonl")
	l := FollowLines(path)
	if n := l.Count(t); n != 0 {
		t.Fatalf("a missing file holds %d lines", n)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, piece := range []string{"{\"a\":1}\n{\"b\"", ":2}\n", "{\"c\":3}\n{\"d\":4}\n{"} {
		if _, err := f.WriteString(piece); err != nil {
			t.Fatal(err)
		}
		l.Count(t)
	}
	if n := l.Count(t); n != 4 {
		t.Fatalf("counted %d lines, want 4", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go f.WriteString("}\n")
	l.WaitFor(t, ctx, 5)
}
