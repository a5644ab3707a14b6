package cputime

import (
	"syscall"
	"time"
)

const supported = true

// rusageThread is Linux's RUSAGE_THREAD: the calling thread only.
// syscall does not name it.
const rusageThread = 1

func read(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func process() time.Duration { return read(syscall.RUSAGE_SELF) }

func thread() time.Duration { return read(rusageThread) }
