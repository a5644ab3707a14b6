//go:build unix

package collector

import (
	"runtime"
	"syscall"
)

// newArena returns n bytes outside the Go heap, for History's entries.
// On the heap, a 16 MiB ring would raise the garbage collector's goal by
// as much again (GOGC counts live memory twice over), so at the
// benchmark's load it cost the collector twice its size in RSS; mapped
// memory costs its size, and only the pages written. The mapping is
// released when owner is no longer reachable: History hands out copies,
// never slices of it.
func newArena[T any](owner *T, n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n) // no mapping to be had: the heap will do
	}
	runtime.AddCleanup(owner, func(b []byte) { syscall.Munmap(b) }, b)
	return b
}
