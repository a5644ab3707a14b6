package zcert

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeClock is a clock the test moves on, so the allow-list's once-per-
// Interval check is driven without sleeping.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func writeCert(t *testing.T, dir, name string) Key {
	t.Helper()
	pair, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteFiles(dir, name, pair); err != nil {
		t.Fatal(err)
	}
	return pair.Public
}

func TestAllowListPicksUpChanges(t *testing.T) {
	dir := t.TempDir()
	alice := writeCert(t, dir, "alice")
	clock := &fakeClock{}
	var reports []AllowListReport
	a, err := OpenAllowList(dir, AllowListOptions{Now: clock.Now, Reloaded: func(r AllowListReport) { reports = append(reports, r) }})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allowed(alice) || a.Len() != 1 {
		t.Fatalf("alice allowed %v, Len %d; want true, 1", a.Allowed(alice), a.Len())
	}
	bob := writeCert(t, dir, "bob")
	if a.Allowed(bob) {
		t.Fatal("bob allowed before the interval passed: the directory is checked on every handshake")
	}
	clock.Advance(time.Second)
	if !a.Allowed(bob) || a.Len() != 2 {
		t.Fatalf("bob added: allowed %v, Len %d after the interval; want true, 2", a.Allowed(bob), a.Len())
	}
	if err := os.Remove(filepath.Join(dir, "alice.key")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if a.Allowed(alice) || !a.Allowed(bob) || a.Len() != 1 {
		t.Fatalf("alice removed: alice allowed %v, bob %v, Len %d", a.Allowed(alice), a.Allowed(bob), a.Len())
	}
	// Replaced in place: same name, another key.
	if err := os.Remove(filepath.Join(dir, "bob.key")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "bob.key_secret"))
	carol := writeCert(t, dir, "bob")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if a.Allowed(bob) || !a.Allowed(carol) {
		t.Fatal("bob.key rewritten with another key: the old key is still allowed, or the new one not")
	}
	var counts []int
	for _, r := range reports {
		counts = append(counts, r.Keys)
	}
	if fmt.Sprint(counts) != "[1 2 1 1]" {
		t.Fatalf("Reloaded reported key counts %v, want [1 2 1 1] (once per change, not per check)", counts)
	}
}

func TestAllowListSkipsAndReportsBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeCert(t, dir, "good") // also writes good.key_secret, which is not read
	os.WriteFile(filepath.Join(dir, "broken.key"), []byte("curve\n    public-key = \"short\"\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "dir.key"), 0o755)
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a key\n"), 0o644)
	a, err := OpenAllowList(dir, AllowListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := a.Report()
	if !a.Allowed(good) || rep.Keys != 1 || rep.Files != 1 || len(rep.Skipped) != 2 {
		t.Fatalf("report %+v; want good allowed, 1 key from 1 file, 2 skipped", rep)
	}
	for i, name := range []string{"broken.key", "dir.key"} { // in name order
		var fe *FileError
		if !errors.As(rep.Skipped[i], &fe) || fe.Path != filepath.Join(dir, name) {
			t.Errorf("skipped[%d] = %v; want a *FileError for %s", i, rep.Skipped[i], name)
		}
	}
}

func TestAllowListDirectoryErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	if _, err := OpenAllowList(missing, AllowListOptions{}); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("OpenAllowList(missing dir) = %v; want an error naming it", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := OpenAllowList(file, AllowListOptions{}); err == nil || !strings.Contains(err.Error(), file+": not a directory") {
		t.Errorf("OpenAllowList(a file) = %v; want an error naming it", err)
	}
	if os.Getuid() != 0 { // root reads anything
		locked := filepath.Join(dir, "locked")
		os.Mkdir(locked, 0o000)
		if _, err := OpenAllowList(locked, AllowListOptions{}); err == nil || !strings.Contains(err.Error(), locked) || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("OpenAllowList(unreadable dir) = %v; want an error naming it", err)
		}
	}
}

// TestAllowListKeepsKeysWhenDirectoryGoes: a directory that disappears
// after start (being replaced, say) leaves the keys loaded before, and the
// error is reported.
func TestAllowListKeepsKeysWhenDirectoryGoes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "clients")
	os.Mkdir(dir, 0o755)
	k := writeCert(t, dir, "k")
	a, err := OpenAllowList(dir, AllowListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Reload of a removed directory = %v; want an error naming it", err)
	}
	if !a.Allowed(k) || a.Report().Keys != 1 || len(a.Report().Skipped) != 1 {
		t.Fatalf("after the directory went: allowed %v, report %+v", a.Allowed(k), a.Report())
	}
}

func TestAllowListBoundsEntries(t *testing.T) {
	dir := t.TempDir()
	for i := range 10 {
		writeCert(t, dir, fmt.Sprint("c", i)) // 20 entries, 10 of them *.key
	}
	a, err := OpenAllowList(dir, AllowListOptions{MaxEntries: 6})
	if err != nil {
		t.Fatal(err)
	}
	rep := a.Report()
	if rep.Keys > 6 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Error(), "more than 6 entries") {
		t.Fatalf("report %+v; want at most 6 keys and the bound reported", rep)
	}
}

// TestAllowedDoesNotWaitForAReading: while the directory is being read
// (here: the lock held), Allowed answers from the current set at once.
func TestAllowedDoesNotWaitForAReading(t *testing.T) {
	dir := t.TempDir()
	k := writeCert(t, dir, "k")
	clock := &fakeClock{}
	a, err := OpenAllowList(dir, AllowListOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour) // a check is due
	a.reading.Lock()
	answered := make(chan bool)
	go func() { answered <- a.Allowed(k) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case ok := <-answered:
		if !ok {
			t.Error("k not allowed")
		}
	case <-ctx.Done():
		a.reading.Unlock()
		<-answered
		t.Fatal("Allowed waited for the reading of the directory")
	}
	a.reading.Unlock()
}

// TestAllowListConcurrent: Allowed from many goroutines while the
// directory changes and is re-read (run with -race).
func TestAllowListConcurrent(t *testing.T) {
	dir := t.TempDir()
	k := writeCert(t, dir, "k")
	clock := &fakeClock{}
	a, err := OpenAllowList(dir, AllowListOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !a.Allowed(k) {
					t.Error("k not allowed during re-reads")
					return
				}
			}
		}()
	}
	for i := range 20 {
		writeCert(t, dir, fmt.Sprint("n", i))
		clock.Advance(time.Second)
	}
	close(stop)
	wg.Wait()
	if err := a.Reload(); err != nil || a.Len() != 21 {
		t.Fatalf("after the writes: Len %d, %v; want 21", a.Len(), err)
	}
}

// TestAllowListSeesRewriteWithinOneTick: a key file rewritten with another
// key of the same size and, as happens within one tick of the file
// system's clock, the same modification time, is still read again.
func TestAllowListSeesRewriteWithinOneTick(t *testing.T) {
	dir := t.TempDir()
	old := writeCert(t, dir, "k")
	path := filepath.Join(dir, "k.key")
	fi, _ := os.Stat(path)
	a, err := OpenAllowList(dir, AllowListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	replacement := writeCert(t, other, "k")
	text, _ := os.ReadFile(filepath.Join(other, "k.key"))
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(path); fi2.Size() != fi.Size() {
		t.Skipf("the rewrite changed the size (%d to %d): no same-stamp case to test", fi.Size(), fi2.Size())
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if a.Allowed(old) || !a.Allowed(replacement) {
		t.Fatal("a same-size rewrite within one clock tick went unseen")
	}
}

// TestAllowListDirectoryComesBack: a directory that fails is reported once
// while it lasts, and read again when it is back, even unchanged.
func TestAllowListDirectoryComesBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "clients")
	os.Mkdir(dir, 0o755)
	k := writeCert(t, dir, "k")
	hourAgo := time.Now().Add(-time.Hour) // not young: no re-read for that
	os.Chtimes(filepath.Join(dir, "k.key"), hourAgo, hourAgo)
	clock := &fakeClock{}
	var reports []AllowListReport
	a, err := OpenAllowList(dir, AllowListOptions{Now: clock.Now, Reloaded: func(r AllowListReport) { reports = append(reports, r) }})
	if err != nil {
		t.Fatal(err)
	}
	moved := dir + ".moved"
	os.Rename(dir, moved)
	for range 3 {
		clock.Advance(time.Second)
		a.Allowed(k)
	}
	if len(reports) != 2 || len(reports[1].Skipped) != 1 {
		t.Fatalf("reports %+v; want the opening one and the failure once", reports)
	}
	os.Rename(moved, dir)
	clock.Advance(time.Second)
	if !a.Allowed(k) || len(reports) != 3 || len(a.Report().Skipped) != 0 || a.Report().Keys != 1 {
		t.Fatalf("directory back: reports %+v; want it read again with no error", reports)
	}
}

// A key file that could not be read (here: out of file descriptors) is
// read again at the next check although nothing in the directory
// changed: its key is refused for one interval, not until someone
// touches the directory.
func TestAllowListReadsAgainAFileItCouldNotRead(t *testing.T) {
	dir := t.TempDir()
	alice := writeCert(t, dir, "alice")
	clock := &fakeClock{}
	reports := 0
	a, err := OpenAllowList(dir, AllowListOptions{Now: clock.Now, Reloaded: func(AllowListReport) { reports++ }})
	if err != nil {
		t.Fatal(err)
	}
	bob := writeCert(t, dir, "bob")
	// Files an hour old, so that nothing but the failed read makes the
	// list read them again (a file younger than racyWindow is read
	// again anyway).
	age := func(names ...string) {
		t.Helper()
		hourAgo := time.Now().Add(-time.Hour)
		for _, name := range names {
			if err := os.Chtimes(filepath.Join(dir, name), hourAgo, hourAgo); err != nil {
				t.Fatal(err)
			}
		}
	}
	age("alice.key", "bob.key")
	a.load = func(path string) (Key, error) {
		if filepath.Base(path) == "bob.key" {
			return Key{}, &FileError{Path: path, Err: syscall.EMFILE}
		}
		return LoadPublic(path)
	}
	clock.Advance(time.Second)
	if !a.Allowed(alice) || a.Allowed(bob) {
		t.Fatal("while bob.key cannot be read: alice not allowed, or bob allowed")
	}
	if rep := a.Report(); len(rep.Skipped) != 1 || !errors.Is(rep.Skipped[0], syscall.EMFILE) {
		t.Fatalf("report %+v; want bob.key skipped for EMFILE", rep)
	}
	// While it lasts, it is read at every check but reported once.
	for range 3 {
		clock.Advance(time.Second)
		if a.Allowed(bob) {
			t.Fatal("bob allowed while bob.key cannot be read")
		}
	}
	if reports != 2 { // the opening, and the reading that found bob.key unreadable
		t.Fatalf("%d reports; want 2: an unreadable file was reported at every check", reports)
	}
	a.load = LoadPublic // descriptors again
	clock.Advance(time.Second)
	if !a.Allowed(bob) || !a.Allowed(alice) {
		t.Fatal("bob.key readable again, the directory unchanged: bob still refused at the next check")
	}
	// Nor is one that cannot be read for a lasting reason (here: no
	// permission), nor one that is not a certificate: reading every file
	// at every check would not mend them.
	age("alice.key", "bob.key")
	clock.Advance(time.Second)
	a.Allowed(bob) // a check that sees the new times and reads once
	denied := 0
	a.load = func(path string) (Key, error) {
		denied++
		return Key{}, &FileError{Path: path, Err: syscall.EACCES}
	}
	os.Chtimes(filepath.Join(dir, "bob.key"), time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)) // a change: read
	clock.Advance(time.Second)
	a.Allowed(bob)
	clock.Advance(time.Second)
	a.Allowed(bob)
	if denied != 2 { // both files, at the one check that saw the change
		t.Fatalf("%d reads over two checks; want 2: a file without permission made the list read every file at every check", denied)
	}
	a.load = LoadPublic
	// A file that is not a certificate is not read again and again.
	os.WriteFile(filepath.Join(dir, "broken.key"), []byte("not a certificate\n"), 0o644)
	age("broken.key")
	reads := 0
	a.load = func(path string) (Key, error) { reads++; return LoadPublic(path) }
	clock.Advance(time.Second)
	a.Allowed(bob)
	clock.Advance(time.Second)
	a.Allowed(bob)
	if reads != 3 { // the three files once, at the check that saw broken.key
		t.Fatalf("%d reads over two checks; want 3: a bad certificate made the list read every file at every check", reads)
	}
}
