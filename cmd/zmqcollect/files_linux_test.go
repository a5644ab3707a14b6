package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// setOpenFileLimit sets a running process's soft open-file limit with
// prlimit(2) (the hard limit stays, so that it can be raised again),
// returning the soft limit it had.
func setOpenFileLimit(t *testing.T, pid, n int) int {
	t.Helper()
	var lim syscall.Rlimit
	prlimit := func(set, old *syscall.Rlimit) {
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE,
			uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(old)), 0, 0); errno != 0 {
			t.Fatalf("prlimit: %v", errno)
		}
	}
	prlimit(nil, &lim)
	old := int(lim.Cur)
	lim.Cur = uint64(n)
	prlimit(&lim, nil)
	return old
}

// A collector that runs out of file descriptors anyway (other files of
// the host's, a limit lowered under it) can take no more peers; that is
// said in its log, not only seen as peers that hang.
func TestRunningOutOfDescriptorsIsSaidInTheLog(t *testing.T) {
	ctx := testsupport.Context(t)
	p := startCollector(t, ctx)
	pid := p.cmd.Process.Pid
	open, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	old := setOpenFileLimit(t, pid, len(open)+2)

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 10 {
		c, err := net.Dial("tcp", strings.TrimPrefix(p.pull, "tcp://"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for {
		line := p.line(t, ctx) // fails the test if ctx ends first
		if f := fields(line); f["kind"] == "accept" {
			if !strings.Contains(f["msg"], "cannot take new connections on tcp://127.0.0.1:0: accept4: too many open files") {
				t.Fatalf("the log says %q", f["msg"])
			}
			break
		}
	}
	// Descriptors again, and the collector takes its waiting peers and
	// stops cleanly.
	setOpenFileLimit(t, pid, old)
	p.terminate(t, ctx)
}
