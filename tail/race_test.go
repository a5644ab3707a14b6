//go:build race

package tail

// raceEnabled: the race detector instruments allocations, so allocation
// counts are only asserted without it.
const raceEnabled = true
