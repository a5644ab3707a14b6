package zmqlog

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// A WithBlock waiter is reused with its timer. A program may run with
// GODEBUG=asynctimerchan=1, where a timer's channel keeps a tick that
// fired before Stop: a reused waiter must not carry its last deadline's
// tick into its next wait, which would drop an entry that never waited.
// The setting is per process, so the test runs itself in a child.
func TestRecycledWaiterKeepsNoStaleTick(t *testing.T) {
	if os.Getenv("ZMQLOG_ASYNC_TIMER_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRecycledWaiterKeepsNoStaleTick$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "ZMQLOG_ASYNC_TIMER_CHILD=1", "GODEBUG=asynctimerchan=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("with GODEBUG=asynctimerchan=1: %v\n%s", err, out)
		}
		return
	}
	w := waiters.Get().(*waiter)
	w.deadline(time.Microsecond)
	// Under asynctimerchan=1 the channel is buffered: wait until the tick
	// sits in it, unreceived, as when admission won the race with it.
	for limit := time.Now().Add(10 * time.Second); len(w.timer.C) == 0; {
		if time.Now().After(limit) {
			t.Fatal("the microsecond deadline's tick never arrived in its channel")
		}
		time.Sleep(time.Millisecond)
	}
	w.recycle()
	d := w.deadline(time.Hour)
	select {
	case <-d:
		t.Fatal("a reused waiter's hour-long wait ended at once: its last deadline's tick was kept")
	default:
	}
	w.recycle()
}
