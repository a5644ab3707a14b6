//go:build !unix

package zcert

import "os"

func openNoBlock(path string) (*os.File, error) { return os.Open(path) }
