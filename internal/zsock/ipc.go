package zsock

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// errIPCInUse: binding an ipc path that another socket is listening on.
var errIPCInUse = fmt.Errorf("%w: another process is listening on this socket file", syscall.EADDRINUSE)

// listenIPC binds a Unix socket at path, as libzmq binds an ipc endpoint:
// a socket file left by a process that died is replaced, but one that a
// live process answers on is refused ("address already in use"), never
// stolen. The returned ipcFile remembers which file this bind created, so
// closing unlinks that file and no other: if someone has since replaced
// the path with a socket of their own, it stays.
func listenIPC(path string) (net.Listener, *ipcFile, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		probe, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			probe.Close()
			return nil, nil, errIPCInUse
		}
		// Nobody answers (ECONNREFUSED): a stale file from a dead process.
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, nil, err
	}
	ul := ln.(*net.UnixListener)
	// Go's listener unlinks by path on Close; ours checks the file first.
	ul.SetUnlinkOnClose(false)
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return ln, &ipcFile{path: path, created: fi}, nil
}

// ipcFile is a socket file a listener created.
type ipcFile struct {
	path    string
	created fs.FileInfo
}

// remove unlinks the socket file if it is still the one this listener
// created (same device and inode).
func (f *ipcFile) remove() {
	fi, err := os.Lstat(f.path)
	if err != nil || !os.SameFile(fi, f.created) {
		return
	}
	os.Remove(f.path)
}
