// Package lograte holds the lines that peers can cause at any rate (a
// refused connection, a skipped message, a listener out of descriptors)
// to one a second for each kind, so that a peer repeating itself in a
// loop cannot flood a log or a screen. The next line of a kind carries
// how many of that kind were held back, so nothing goes unsaid.
package lograte

import (
	"sync"
	"time"
)

// PerKind limits lines to one a second for each kind. Kinds must come
// from a fixed set (names, endpoints a program listens on), never from a
// peer's bytes: it keeps an entry for every kind it has seen. The zero
// PerKind is ready to use, and it is safe for concurrent use.
type PerKind struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

// Allow reports whether a line of kind may be said at now, and how many
// lines of that kind were held back since the last one said.
func (l *PerKind) Allow(kind string, now time.Time) (held int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.held = map[string]time.Time{}, map[string]int{}
	}
	if last, seen := l.last[kind]; seen && now.Sub(last) < time.Second {
		l.held[kind]++
		return 0, false
	}
	held = l.held[kind]
	l.last[kind], l.held[kind] = now, 0
	return held, true
}
