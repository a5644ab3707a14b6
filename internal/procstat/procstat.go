// Package procstat reads what another process has spent, from Linux's
// /proc, for benchmarks that run the thing they measure (zmqcollect, a
// libzmq sink) as a process of its own: CPU time (per thread, or the
// process's in all), and the context switches of its threads (the
// wake-ups a message costs). It also paces a load at a steady rate, as the fan-in benchmarks drive
// their producers, and follows a file the process writes (Lines), so a
// benchmark can wait for its work without asking it anything.
//
// ThreadsCPU and ContextSwitches do not count threads that have exited: a benchmark's steady load
// makes that rare, and Go's and libzmq's threads live as long as the
// process. Off Linux every reader fails the benchmark that calls it.
package procstat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ThreadsCPU is the time process pid's threads have been on a CPU, summed
// from /proc/pid/task/*/schedstat, exact to the nanosecond
// (/proc/pid/stat counts in 10 ms ticks, too coarse for a few
// milliseconds per thousand messages).
func ThreadsCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	var ns int64
	eachThread(tb, pid, "schedstat", func(data string) {
		if f := strings.Fields(data); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			ns += n
		}
	})
	return time.Duration(ns)
}

// ProcessCPU is the user and system CPU time of process pid, from
// /proc/pid/stat: threads that have exited included, but in clock ticks
// of 10 ms, so measure over many operations (ThreadsCPU is exact).
func ProcessCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after it. utime and stime are fields 14 and 15 of the line.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// ContextSwitches is the voluntary and involuntary context switches of
// process pid's threads, summed from /proc/pid/task/*/status.
func ContextSwitches(tb testing.TB, pid int) int64 {
	tb.Helper()
	var n int64
	eachThread(tb, pid, "status", func(data string) {
		for _, line := range strings.Split(data, "\n") {
			for _, key := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := strings.CutPrefix(line, key); ok {
					k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					n += k
				}
			}
		}
	})
	return n
}

// eachThread calls read with the contents of file of each of process
// pid's threads.
func eachThread(tb testing.TB, pid int, file string, read func(data string)) {
	tb.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/%s", pid, file))
	if err != nil || len(tasks) == 0 {
		tb.Fatalf("no threads of process %d in /proc: %v", pid, err)
	}
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		read(string(data))
	}
}

// PaceAll is the load of a fan-in benchmark: n sends in all, split as
// evenly as they go over producers, each producer's paced at rate a
// second on a goroutine of its own (Pace); send(i) is one send of
// producer i. It returns when every producer is done or ctx ends.
func PaceAll(ctx context.Context, n, producers, rate int, send func(producer int)) {
	var wg sync.WaitGroup
	for i := range producers {
		share := n / producers
		if i < n%producers {
			share++
		}
		wg.Go(func() { Pace(ctx, share, rate, func() { send(i) }) })
	}
	wg.Wait()
}

// Pace calls send n times at rate calls a second, in ticks of 10 ms
// (rate/100 calls a tick; below 100 a second, one call a tick), until
// done or ctx ends: how one producer of a fan-in benchmark logs.
func Pace(ctx context.Context, n, rate int, send func()) {
	per := max(1, rate/100)
	every := 10 * time.Millisecond
	if rate < 100 {
		per, every = 1, time.Second/time.Duration(rate)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for sent := 0; sent < n; {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		for k := 0; k < per && sent < n; k++ {
			send()
			sent++
		}
	}
}
