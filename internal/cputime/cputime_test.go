package cputime

import (
	"runtime"
	"testing"
	"time"
)

// Busy work shows up in the calling thread's CPU time, and the process's
// CPU time is at least the thread's.
func TestThreadAndProcessAdvanceWithWork(t *testing.T) {
	if !Supported {
		t.Skip("no CPU times on " + runtime.GOOS)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p0 := Process() // the process window encloses the thread's
	t0 := Thread()
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
	dt := Thread() - t0
	dp := Process() - p0
	// The kernel samples thread and process times separately; allow for
	// its accounting granularity.
	if dp+time.Millisecond < dt {
		t.Fatalf("process CPU %v < thread CPU %v", dp, dt)
	}
	_ = x
}

// Off the supported platforms the package still builds and says so, and
// its readings are zero rather than a figure that means something else.
func TestUnsupportedReadsZero(t *testing.T) {
	if Supported {
		t.Skip("CPU times are read on " + runtime.GOOS)
	}
	if p, th := Process(), Thread(); p != 0 || th != 0 {
		t.Fatalf("Process() = %v, Thread() = %v on %s; want 0 when Supported is false", p, th, runtime.GOOS)
	}
}
