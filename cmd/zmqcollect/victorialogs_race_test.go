//go:build race

package main

// victoriaLogsLoad is smaller under the race detector, which slows the
// collector and the producers several times over.
const victoriaLogsLoad = 20000
