package lograte

import (
	"testing"
	"time"
)

// One line a second for each kind; the next says how many were held
// back; kinds do not hold each other back.
func TestOneLineASecondForEachKind(t *testing.T) {
	var l PerKind
	t0 := time.Unix(1000, 0)
	for _, step := range []struct {
		kind     string
		at       time.Duration
		held     int
		ok       bool
		scenario string
	}{
		{"accept", 0, 0, true, "the first line of a kind is said"},
		{"accept", 10 * time.Millisecond, 0, false, "another within the second is held"},
		{"accept", 999 * time.Millisecond, 0, false, "and another"},
		{"peer", 999 * time.Millisecond, 0, true, "another kind is not held back by it"},
		{"accept", time.Second, 2, true, "a second on: said, with the two held back"},
		{"accept", time.Second + time.Millisecond, 0, false, "held again"},
		{"accept", 10 * time.Second, 1, true, "after a quiet spell: said, with the one held back"},
	} {
		held, ok := l.Allow(step.kind, t0.Add(step.at))
		if held != step.held || ok != step.ok {
			t.Errorf("%s: Allow(%q, +%v) = %d, %v; want %d, %v", step.scenario, step.kind, step.at, held, ok, step.held, step.ok)
		}
	}
}
