package zcert

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestAllowListDoesNotRereadFilesDatedInTheFuture: one *.key file whose time is in
// the future (clock skew, a restored backup, touch -d) counts as "racy"
// forever, so every check, once per Interval, re-reads every file of the
// directory on a handshake goroutine, though nothing changed. It should
// be re-read at most once more: after the fix, want reads == 1.
func TestAllowListDoesNotRereadFilesDatedInTheFuture(t *testing.T) {
	dir := t.TempDir()
	alice := writeCert(t, dir, "alice")
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "alice.key"), future, future); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	reads := 0
	a, err := OpenAllowList(dir, AllowListOptions{Now: clock.Now, Reloaded: func(AllowListReport) { reads++ }})
	if err != nil {
		t.Fatal(err)
	}
	reads = 0
	for range 5 {
		clock.Advance(time.Second)
		if !a.Allowed(alice) {
			t.Fatal("alice refused")
		}
	}
	if reads > 1 {
		t.Fatalf("the unchanged directory was read %d times in 5 checks", reads)
	}
}

// A certificate replaced by another of the same size and the same time
// (restored from a backup, say) is still noticed: its inode differs.
func TestAllowListSeesAFileReplacedWithTheSameSizeAndTime(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inodes are read on Linux only")
	}
	dir := t.TempDir()
	alice := writeCert(t, dir, "alice")
	path := filepath.Join(dir, "alice.key")
	old := time.Now().Add(-time.Hour) // far from racy
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	a, err := OpenAllowList(dir, AllowListOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// Bob's certificate takes alice.key's place: same size, same time.
	other := t.TempDir()
	bob := writeCert(t, other, "bob")
	data, err := os.ReadFile(filepath.Join(other, "bob.key"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "swap.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tmp); fi.Size() != mustSize(t, path) {
		t.Fatalf("certificates of different sizes: the test needs the same")
	}
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if a.Allowed(alice) || !a.Allowed(bob) {
		t.Fatalf("after the swap: alice allowed %v, bob allowed %v; want false, true", a.Allowed(alice), a.Allowed(bob))
	}
}

func mustSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A FIFO named like a certificate is skipped, never waited on: the
// reader opens without blocking and then checks what it opened.
func TestAllowListSkipsAFIFOWithoutWaiting(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs")
	}
	dir := t.TempDir()
	alice := writeCert(t, dir, "alice")
	if err := syscall.Mkfifo(filepath.Join(dir, "trap.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan *AllowList, 1)
	go func() {
		a, err := OpenAllowList(dir, AllowListOptions{})
		if err != nil {
			t.Error(err)
		}
		done <- a
	}()
	select {
	case a := <-done:
		if a == nil {
			return
		}
		if !a.Allowed(alice) || len(a.Report().Skipped) != 1 {
			t.Fatalf("alice allowed %v, skipped %v; want alice and the FIFO skipped", a.Allowed(alice), a.Report().Skipped)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading the directory hangs on a FIFO")
	}
}
