package cputime

import (
	"runtime"
	"testing"
	"time"
)

// Busy work shows up in the calling thread's CPU time, and the process's
// CPU time is at least the thread's.
func TestThreadAndProcessAdvanceWithWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, p0 := Thread(), Process()
	deadline := time.Now().Add(10 * time.Second) // bounds the test on a busy machine
	x := 0
	for Thread()-t0 < 20*time.Millisecond {
		for range 100000 {
			x++
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread CPU time did not advance by 20ms in 10s of busy work (from %v to %v)", t0, Thread())
		}
	}
	if dt, dp := Thread()-t0, Process()-p0; dp < dt {
		t.Fatalf("process CPU %v < thread CPU %v", dp, dt)
	}
	_ = x
}
