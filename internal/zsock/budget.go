package zsock

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// errOverBudget: a connection's message in progress would take more of
// the receive budget than its host may hold.
var errOverBudget = errors.New("zsock: messages in progress from this host hold more than the receive budget allows")

// recvBudget bounds the bytes a listening socket holds of messages from
// its peers (PULL), in two parts with different rules, because they are
// freed in different ways:
//
//   - queued: messages read whole and not yet handed on by Recv. Recv
//     frees them whatever the peers do, so a connection may wait for
//     them: before it starts reading its next message it waits while the
//     socket's queued bytes are over the budget, or its host's over the
//     host's share (it stops reading, and TCP pushes back on its peer, as
//     libzmq's receive high-water mark does).
//   - in progress: messages begun and not yet complete. Only their own
//     peers can free these, by finishing them (a peer that stalls
//     mid-message answers no PING, since its PONG would have to come after
//     the message, so the idle watch does not help: a trickle of bytes
//     keeps it alive). So nobody ever waits on them: waiting on another
//     host's unfinished message would let two hosts that stall starve
//     every producer, and waiting mid-message on one's own could
//     deadlock. Instead a message in progress takes its bytes as they
//     arrive, and its connection is dropped (errOverBudget) when its host
//     would hold more than twice its share in progress, or when the
//     socket's messages in progress are over twice the budget and its host
//     already holds more than a fair part of them (twice the budget over
//     the hosts with messages in progress). A real producer, with a batch
//     of 64 KiB in progress, is under its fair part; the hosts that hold
//     the most are the ones dropped.
//
// So whatever its peers do, the socket holds at most the budget (plus
// what the connections that started meanwhile complete) queued, and about
// four times the budget in progress, only as bytes really arrive; and no
// peer can make another host's messages wait on its own.
//
// The accounting runs for every message, so its fast path is a handful of
// atomic additions: a connection reserves a little ahead (creditChunk) so
// that a small message costs one acquire, one finish and one release, and
// the lock is taken only to wait, to wake waiters, or to join or leave.
type recvBudget struct {
	total, perHost int64
	done           <-chan struct{}

	queued, inProgress atomic.Int64
	progressHosts      atomic.Int64 // hosts with bytes in progress
	waiters            atomic.Int32

	mu    sync.Mutex
	hosts map[string]*hostShare
	freed chan struct{} // closed and replaced when queued bytes are handed on and someone waits
}

// hostShare is one host's part of a recvBudget, shared by its
// connections and their queued messages.
type hostShare struct {
	name               string
	limited            bool // per-host limits apply (TCP; not IPC)
	queued, inProgress atomic.Int64
	conns              int // guarded by recvBudget.mu
}

// creditChunk is how much a connection reserves at once: enough for a
// small message, so that it costs one acquire.
const creditChunk = 4 << 10

func newRecvBudget(total, perHost int64, done <-chan struct{}) *recvBudget {
	return &recvBudget{total: total, perHost: perHost, done: done, hosts: map[string]*hostShare{}, freed: make(chan struct{})}
}

// join returns host's share for a new connection; leave gives it back
// when the connection ends.
func (b *recvBudget) join(host string) *hostShare {
	b.mu.Lock()
	defer b.mu.Unlock()
	hs := b.hosts[host]
	if hs == nil {
		hs = &hostShare{name: host, limited: host != ""}
		b.hosts[host] = hs
	}
	hs.conns++
	return hs
}

func (b *recvBudget) leave(hs *hostShare) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Its queued messages keep the share by pointer; a new connection
	// from the host starts a new one.
	if hs.conns--; hs.conns == 0 {
		delete(b.hosts, hs.name)
	}
}

// acquire takes n bytes for a message in progress on a connection of
// hs's host. start says the connection holds nothing yet (a message is
// about to begin): only then does it wait, for queued bytes to be handed
// on. It fails with errOverBudget (see recvBudget), or ErrClosed when the
// socket closes while it waits.
func (b *recvBudget) acquire(hs *hostShare, n int64, start bool) error {
	if start && b.full(hs) {
		if err := b.waitForRoom(hs); err != nil {
			return err
		}
	}
	held := hs.inProgress.Load()
	if hs.limited && held+n > 2*b.perHost {
		return errOverBudget
	}
	if b.inProgress.Load()+n > 2*b.total {
		hosts := b.progressHosts.Load()
		if held == 0 {
			hosts++
		}
		if held+n > 2*b.total/max(hosts, 1) {
			return errOverBudget
		}
	}
	b.inProgress.Add(n)
	if hs.inProgress.Add(n) == n {
		b.progressHosts.Add(1)
	}
	return nil
}

// full reports whether a connection of hs's host must wait before its
// next message.
func (b *recvBudget) full(hs *hostShare) bool {
	return b.queued.Load() >= b.total || (hs.limited && hs.queued.Load() >= b.perHost)
}

func (b *recvBudget) waitForRoom(hs *hostShare) error {
	b.mu.Lock()
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	for b.full(hs) {
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-b.done:
			return ErrClosed
		}
		b.mu.Lock()
	}
	b.mu.Unlock()
	return nil
}

// finish ends a message in progress: queue bytes of it are now queued
// (0 for a command or a failed read), and the rest of what the
// connection took, drop, is given back.
func (b *recvBudget) finish(hs *hostShare, queue, drop int64) {
	if n := queue + drop; n > 0 {
		b.inProgress.Add(-n)
		if hs.inProgress.Add(-n) == 0 {
			b.progressHosts.Add(-1)
		}
	}
	if queue > 0 {
		b.queued.Add(queue)
		hs.queued.Add(queue)
	}
}

// release gives back n queued bytes of hs's host, handed on by Recv, and
// wakes the connections waiting to start a message.
func (b *recvBudget) release(hs *hostShare, n int64) {
	if n == 0 {
		return
	}
	b.queued.Add(-n)
	hs.queued.Add(-n)
	// A waiter counts itself under mu before it checks for room, so
	// either it sees these bytes gone or it is counted here.
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		close(b.freed)
		b.freed = make(chan struct{})
		b.mu.Unlock()
	}
}

// inUse reports the bytes held now, queued and in progress.
func (b *recvBudget) inUse() int64 { return b.queued.Load() + b.inProgress.Load() }

// hostOf is the host part of a peer's address: its IP for TCP, "" for
// IPC (a local peer, let in by the socket file's permissions), whose
// connections no per-host limit applies to.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return ""
}
