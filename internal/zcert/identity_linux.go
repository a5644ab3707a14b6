package zcert

import (
	"io/fs"
	"syscall"
)

// fileIdentity is a file's inode and change time, which tell a replaced
// file from the one it replaced when name, size and time agree.
func fileIdentity(fi fs.FileInfo) (inode, ctime uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Ino), uint64(st.Ctim.Sec)*1e9 + uint64(st.Ctim.Nsec)
}
