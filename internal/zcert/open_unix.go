//go:build unix

package zcert

import (
	"os"
	"syscall"
)

// openNoBlock opens path for reading without blocking on a FIFO or a
// device: readCert refuses anything but a regular file once it is open.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
