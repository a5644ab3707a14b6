package collector

import (
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Entries are validated on the goroutine of the connection that read
// them, thousands of them in a collector. A peer's deeply nested entry
// (within every byte bound) must not grow each such goroutine's stack to
// a megabyte that stays until later collections shrink it: nesting past
// a small depth is left to encoding/json, which keeps it on the heap.
// Found in review: about 1 MiB of stack per connection before.
func TestDeepEntriesDoNotGrowTheValidatingGoroutinesStack(t *testing.T) {
	deep := []byte(`{"a":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`)
	if !validObject(deep) {
		t.Fatal("a 9999-deep entry (within encoding/json's limit) is refused")
	}
	if tooDeepToStore := []byte(`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`); validObject(tooDeepToStore) {
		t.Fatal("an entry past encoding/json's nesting limit is accepted")
	}
	const goroutines = 64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var validated, done sync.WaitGroup
	hold := make(chan struct{})
	for range goroutines {
		validated.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			validObject(deep)
			validated.Done()
			<-hold // alive, as a connection's goroutine stays
		}()
	}
	validated.Wait()
	runtime.ReadMemStats(&after)
	close(hold)
	done.Wait()
	perGoroutine := (int64(after.StackInuse) - int64(before.StackInuse)) / goroutines
	if perGoroutine > 64<<10 {
		t.Fatalf("validating one deep entry left %d KiB of stack per goroutine; want at most 64", perGoroutine>>10)
	}
}
