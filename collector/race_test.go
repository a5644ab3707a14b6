//go:build race

package collector

// raceEnabled: under the race detector sync.Pool drops items at random
// (to expose races), so allocation counts there say nothing about ours.
const raceEnabled = true
