//go:build !unix

package vlsink

import "os"

// fileID is a file's identity, which survives renaming. Without inode
// numbers the fingerprint of the file's first bytes alone tells files
// apart.
type fileID struct{ Dev, Ino uint64 }

func idOf(os.FileInfo) fileID { return fileID{} }

// removed cannot tell a deleted open file here: the follower holds its
// files until it has read them.
func removed(*os.File) bool { return false }
