//go:build unix

package vlsink

import (
	"os"
	"syscall"
)

// fileID is a file's identity, which survives renaming.
type fileID struct{ Dev, Ino uint64 }

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), uint64(st.Ino)}
	}
	return fileID{}
}
