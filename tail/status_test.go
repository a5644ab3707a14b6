package tail

import (
	"errors"
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

// Lines a peer can cause at will without a handshake (a bound tail's
// dropped peers, its listener out of descriptors) come at most once a
// second each, the next one saying how many were held back: a peer reconnecting
// in a loop cannot flood the screen.
func TestStatusLinesPeersCauseAreLimited(t *testing.T) {
	var out strings.Builder
	s := newStatus(&out, "zmqtail", 0)
	s.bound = true
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	for range 1000 {
		s.event(zsock.Event{Kind: zsock.Rejected, Peer: "127.0.0.1:40000", Err: zsock.ErrOverLimit})
		s.event(zsock.Event{Kind: zsock.AcceptFailed, Endpoint: "tcp://127.0.0.1:5557", Err: errors.New("accept4: too many open files")})
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Fatalf("%d lines for 1000 of each kind, want one of each:\n%s", n, out.String())
	}
	// A second on, the next line of a kind says what was held back.
	now = now.Add(time.Second)
	s.event(zsock.Event{Kind: zsock.Rejected, Peer: "127.0.0.1:40000", Err: zsock.ErrOverLimit})
	if !strings.Contains(out.String(), "(and 999 more like it)") {
		t.Fatalf("the next line does not count the 999 held back:\n%s", out.String())
	}
}
