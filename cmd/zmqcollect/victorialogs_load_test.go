//go:build !race

package main

// victoriaLogsLoad is how many entries TestVictoriaLogsGetsEveryEntryPerAppAndLevel
// ships: the 200k without the race detector.
const victoriaLogsLoad = 200000
