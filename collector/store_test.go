package collector

import (
	"bufio"
	"fmt"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/wire"
)

// storedLines reads every store file in dir (the current one and the
// rotated ones), oldest first.
func storedLines(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "store*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, name := range files { // store-<time>.jsonl sorts before store.jsonl
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 2<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
		if sc.Err() != nil {
			t.Fatal(sc.Err())
		}
	}
	return lines
}

// An entry larger than the store file may grow fails alone: it used to
// fail the whole write it was buffered in (up to 256 KiB of other
// entries). An entry that fits a file on its own but not beside what is
// buffered is written after the buffer goes out.
func TestEntryLargerThanTheStoreFileFailsAlone(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := t.TempDir()
	c := startCollector(t, Config{NoPub: true, File: filepath.Join(dir, "store.jsonl"), MaxSizeMB: 1})
	entry := func(tag string, size int) string {
		prefix := fmt.Sprintf(`{"tag":%q,"pad":"`, tag)
		return prefix + strings.Repeat("x", size-len(prefix)-2) + `"}`
	}
	// One batch, so the whole of it meets the store's buffer at once.
	var want []string
	batch := wire.AppendHeader(nil, wire.Producer{Instance: 1, Host: "h", App: "big"})
	add := func(e string, stored bool) {
		batch = wire.AppendEntry(batch, "INFO", []byte(e))
		if stored {
			want = append(want, e)
		}
	}
	for i := range 100 {
		add(entry(fmt.Sprint("before", i), 2<<10), true)
	}
	add(entry("fits alone", 1<<20-1024), true)
	add(entry("too large", 1<<20), false) // with its newline: one byte over
	for i := range 100 {
		add(entry(fmt.Sprint("after", i), 2<<10), true)
	}
	wire.SetCount(batch, len(want)+1)
	push := dialPush(t, c.PullEndpoint())
	if err := push.Send(ctx, zsock.Plain{batch}); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, ctx, "the batch", func() bool { return c.Stats().Received == uint64(len(want)+1) })
	c.stop()
	st := c.Stats()
	if st.Stored != uint64(len(want)) || st.StoreTooLarge != 1 || st.StoreFailed != 0 {
		t.Fatalf("stored %d of %d, too large %d, failed %d", st.Stored, len(want), st.StoreTooLarge, st.StoreFailed)
	}
	got := storedLines(t, dir)
	if len(got) != len(want) {
		t.Fatalf("%d lines in the store files, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: %.40s..., want %.40s...", i, got[i], want[i])
		}
	}
}

// Every file the collector writes is private to its owner by default
// (0600; they used to be 0644), or has Config.FileMode: the store, the
// files rotated in, the compressed backups and the state file. A store
// file left 0644 by an older version is set to the mode too.
func TestFilesGetTheFileMode(t *testing.T) {
	for _, tc := range []struct {
		mode, want os.FileMode
	}{{0, 0o600}, {0o640, 0o640}} {
		t.Run(fmt.Sprintf("%#o", uint32(tc.mode)), func(t *testing.T) {
			ctx := testsupport.Context(t)
			dir := t.TempDir()
			file, state := filepath.Join(dir, "store.jsonl"), filepath.Join(dir, "store.jsonl.state")
			if err := os.WriteFile(file, []byte("{\"old\":1}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c := startCollector(t, Config{NoPub: true, File: file, StateFile: state, FileMode: tc.mode, MaxSizeMB: 1, Compress: true})
			s := ship(t, c.PullEndpoint())
			big := []byte(`{"pad":"` + strings.Repeat("x", 100<<10) + `"}`)
			const n = 15 // 1.5 MiB: at least one rotation
			for range n {
				s.Ship("INFO", big)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			testsupport.WaitFor(t, ctx, "every entry stored", func() bool { return c.Stats().Stored == n })
			// lumberjack compresses backups in its own goroutine: wait for
			// a .gz and no backup left uncompressed.
			testsupport.WaitFor(t, ctx, "a compressed backup", func() bool {
				gz, _ := filepath.Glob(filepath.Join(dir, "store-*.jsonl.gz"))
				plain, _ := filepath.Glob(filepath.Join(dir, "store-*.jsonl"))
				return len(gz) > 0 && len(plain) == 0
			})
			c.stop()
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			if len(files) < 3 {
				t.Fatalf("files %q: want the store, a compressed backup and the state", files)
			}
			for _, name := range files {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != tc.want {
					t.Errorf("%s has mode %#o, want %#o", filepath.Base(name), uint32(fi.Mode().Perm()), uint32(tc.want))
				}
			}
		})
	}
}

func TestBadFileModeIsRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o1777, os.ModeSetuid | 0o600, 0o400, 0o044} {
		_, err := New(Config{Pull: "tcp://127.0.0.1:0", NoPub: true, NoFile: true, FileMode: mode})
		var fe *FileModeError
		if !errorsAs(err, &fe) || fe.Mode != mode {
			t.Errorf("FileMode %#o: %v", uint32(mode), err)
		}
	}
}
