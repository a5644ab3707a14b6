package tail

import (
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zsock"
)

// The heartbeat check says a connected publisher is silent once it has
// been longer than the timeout, and never when the watch is off.
func TestStatusHeartbeatCheck(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		want    int // "no heartbeat" lines
	}{
		{time.Second, 1},
		{0, 0},
	} {
		var out strings.Builder
		s := newStatus(&out, "zmqtail", tc.timeout)
		s.event(zsock.Event{Kind: zsock.Connected, Endpoint: "tcp://127.0.0.1:5558", Peer: "127.0.0.1:5558"})
		later := time.Now().Add(time.Hour)
		s.check(later)
		s.check(later.Add(time.Hour)) // said once, not again
		if n := strings.Count(out.String(), "no heartbeat"); n != tc.want {
			t.Errorf("timeout %v: %d lines saying no heartbeat, want %d:\n%s", tc.timeout, n, tc.want, out.String())
		}
	}
}
