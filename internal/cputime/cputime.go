// Package cputime reads CPU time from getrusage, for benchmarks that
// report cost per entry in CPU rather than wall-clock time (which on a
// shared two-core machine also counts time spent waiting for a core).
package cputime

import (
	"syscall"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD: the calling thread only.
const rusageThread = 1

func read(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Process returns the CPU time (user and system) used by the whole process.
func Process() time.Duration { return read(syscall.RUSAGE_SELF) }

// Thread returns the CPU time used by the calling OS thread. Lock the
// goroutine to its thread (runtime.LockOSThread) around what you measure.
func Thread() time.Duration { return read(rusageThread) }
