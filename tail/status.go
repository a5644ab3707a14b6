package tail

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/zmqlog/zmqlog/internal/lograte"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// status reports a Source's connection state: connected, lost, peers
// dropped, and a collector whose heartbeat stopped although the
// connection is up. Every peer's text in it is escaped.
type status struct {
	w       io.Writer // nil: say nothing
	prefix  string
	timeout time.Duration // 0: no heartbeat watch
	bound   bool          // a PULL the producers connect to, not a SUB

	mu        sync.Mutex
	lastBeat  map[string]time.Time // per publisher address
	connected map[string]bool
	silent    map[string]bool // already said "no heartbeat"
	// peerLines holds what peers can make happen at any rate without
	// completing a handshake (a bound tail's dropped peers, its listener
	// out of descriptors) to a line a second for each kind.
	peerLines lograte.PerKind
	now       func() time.Time
}

func newStatus(w io.Writer, name string, timeout time.Duration) *status {
	prefix := ""
	if name != "" {
		prefix = name + ": "
	}
	return &status{w: w, prefix: prefix, timeout: timeout, lastBeat: map[string]time.Time{}, connected: map[string]bool{}, silent: map[string]bool{}, now: time.Now}
}

// say writes one line; callers escape what came from peers.
func (s *status) say(format string, args ...any) {
	if s.w != nil {
		fmt.Fprintf(s.w, s.prefix+format+"\n", args...)
	}
}

// sayLimited is say for a line of kind, at most once a second.
func (s *status) sayLimited(kind, format string, args ...any) {
	held, ok := s.peerLines.Allow(kind, s.now())
	if !ok {
		return
	}
	if held > 0 {
		format += fmt.Sprintf(" (and %d more like it)", held)
	}
	s.say(format, args...)
}

// errorText is err's message made safe for the terminal: errors about a
// peer may carry the peer's own bytes.
func errorText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return TerminalSafe(err.Error())
}

func (s *status) event(e zsock.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case e.Kind == zsock.Connected && s.bound:
		// Not limited: each is a producer that completed its handshake,
		// and one that can do that can send entries at any rate anyway.
		s.say("producer %s connected", TerminalSafe(e.Peer))
	case e.Kind == zsock.Connected:
		s.say("connected to %s", TerminalSafe(e.Endpoint))
		s.connected[e.Peer] = true
		s.lastBeat[e.Peer] = time.Now()
	case e.Kind == zsock.Disconnected && !s.bound:
		s.say("lost %s, reconnecting", TerminalSafe(e.Endpoint))
		delete(s.connected, e.Peer)
	case e.Kind == zsock.Rejected:
		// An ipc peer names its own address (the path it bound), and the
		// error may quote what it sent: both are its text.
		s.sayLimited("rejected", "dropped peer %s: %s", TerminalSafe(e.Peer), errorText(e.Err))
	case e.Kind == zsock.AcceptFailed:
		s.sayLimited("accept", "cannot take new producers: %s", errorText(e.Err))
	}
}

func (s *status) beat(peer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastBeat[peer] = time.Now()
	if s.silent[peer] {
		s.say("heartbeat from %s again", TerminalSafe(peer))
		delete(s.silent, peer)
	}
}

// watch checks the heartbeats until ctx ends, five times per timeout; it
// returns at once when the watch is off.
func (s *status) watch(ctx context.Context) {
	if s.timeout <= 0 {
		return
	}
	t := time.NewTicker(max(s.timeout/5, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.check(now)
		}
	}
}

// check says which connected publishers have been silent longer than the
// timeout at now, once each until their heartbeat returns.
func (s *status) check(now time.Time) {
	if s.timeout <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for peer := range s.connected {
		if !s.silent[peer] && now.Sub(s.lastBeat[peer]) > s.timeout {
			s.say("no heartbeat from %s for %v", TerminalSafe(peer), s.timeout)
			s.silent[peer] = true
		}
	}
}
