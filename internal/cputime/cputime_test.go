package cputime

import (
	"runtime"
	"testing"
	"time"
)

func TestThreadAndProcessAdvanceWithWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, p0 := Thread(), Process()
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	t1, p1 := Thread(), Process()
	if t1-t0 < 10*time.Millisecond || p1-p0 < t1-t0 {
		t.Fatalf("50ms of busy work: thread %v, process %v", t1-t0, p1-p0)
	}
	_ = x
}
