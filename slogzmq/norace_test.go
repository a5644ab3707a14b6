//go:build !race

package slogzmq

const raceEnabled = false
