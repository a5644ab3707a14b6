// Package cputime reads CPU time from getrusage, for benchmarks that
// report cost per entry in CPU rather than wall-clock time (which on a
// shared two-core machine also counts time spent waiting for a core).
//
// Only Linux can read one thread's CPU time (RUSAGE_THREAD), which the
// caller-cost benchmarks need. Elsewhere the package still builds, so the
// module does, but [Supported] is false and [Process] and [Thread] return
// 0: a benchmark checks [Supported] before reporting a CPU figure.
package cputime

import "time"

// Supported reports whether this platform gives real CPU times. Without
// it, [Process] and [Thread] return 0.
const Supported = supported

// Process returns the CPU time (user and system) used by the whole process.
func Process() time.Duration { return process() }

// Thread returns the CPU time used by the calling OS thread. Lock the
// goroutine to its thread (runtime.LockOSThread) around what you measure.
func Thread() time.Duration { return thread() }
