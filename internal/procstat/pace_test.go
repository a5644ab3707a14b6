package procstat

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A fan-in load sends n in all, the producers' shares differing by at
// most one, each producer's from its own goroutine.
func TestPaceAllSplitsTheLoadOverTheProducers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sent [3]atomic.Int64
	PaceAll(ctx, 10, len(sent), 100000, func(i int) { sent[i].Add(1) })
	for i, want := range []int64{4, 3, 3} {
		if got := sent[i].Load(); got != want {
			t.Errorf("producer %d sent %d, want %d", i, got, want)
		}
	}
}
