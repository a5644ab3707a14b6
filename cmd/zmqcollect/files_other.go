//go:build !unix

package main

// openFileLimit is 0, unknown: there is no RLIMIT_NOFILE to keep within.
func openFileLimit() int { return 0 }
