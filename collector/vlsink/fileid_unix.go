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

// removed reports whether f's file has been deleted (no name links to it
// any more), though open, it still reads.
func removed(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}
