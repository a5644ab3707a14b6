package zsock

import (
	"errors"
	"net"
	"sync"
)

// errOverBudget: a connection's message in progress would take the
// receive budget, or its host's share, past twice its size.
var errOverBudget = errors.New("zsock: messages in progress from this host hold more than the receive budget allows")

// recvBudget bounds the bytes a listening socket holds for messages it has
// read and not yet handed on (PULL: queued for Recv), shared by all its
// connections, with a share per host so that one host, however many
// connections it opens, cannot take it all.
//
// A connection asks before it starts reading a message: while the budget
// or its host's share is spent, it waits (stops reading, and TCP pushes
// back on its peer, as libzmq's receive high-water mark does) until Recv
// hands messages on. Once started, a message takes what its bytes need as
// they arrive without waiting: waiting in the middle of a message could
// deadlock, every connection holding half a message and none able to
// finish. Instead, messages in progress may overrun the budget and the
// host's share by as much again, and no more: a connection whose next
// bytes would pass that is dropped (errOverBudget). Real producers never
// come near it (their batches are 64 KiB); a host that opens many
// connections and starts a large message on each does. So the socket
// holds at most twice its budget, a host at most twice its share, and a
// partly read message costs only the bytes its peer has really sent.
type recvBudget struct {
	total, perHost int64
	done           <-chan struct{}

	mu     sync.Mutex
	used   int64
	byHost map[string]int64
	freed  chan struct{} // closed and replaced whenever bytes are released
}

func newRecvBudget(total, perHost int64, done <-chan struct{}) *recvBudget {
	return &recvBudget{total: total, perHost: perHost, done: done, byHost: map[string]int64{}, freed: make(chan struct{})}
}

// acquire takes n bytes for host's connection. start says the connection
// holds nothing yet (a message is about to begin): only then does it wait
// for room. It fails with ErrClosed when the socket closes while waiting.
func (b *recvBudget) acquire(host string, n int64, start bool) error {
	b.mu.Lock()
	if !start && (b.used+n > 2*b.total || (host != "" && b.byHost[host]+n > 2*b.perHost)) {
		b.mu.Unlock()
		return errOverBudget
	}
	for start && (b.used >= b.total || (host != "" && b.byHost[host] >= b.perHost)) {
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-b.done:
			return ErrClosed
		}
		b.mu.Lock()
	}
	b.used += n
	b.byHost[host] += n
	b.mu.Unlock()
	return nil
}

// release gives back n bytes that host's connection took.
func (b *recvBudget) release(host string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.byHost[host] -= n; b.byHost[host] <= 0 {
		delete(b.byHost, host)
	}
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// inUse reports the bytes held now, in all and by host.
func (b *recvBudget) inUse(host string) (total, byHost int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.byHost[host]
}

// hostOf is the host part of a peer's address: its IP for TCP, "" for
// IPC (a local peer, let in by the socket file's permissions), whose
// connections no per-host limit applies to.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return ""
}
