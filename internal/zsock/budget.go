package zsock

import (
	"errors"
	"net"
	"sync"
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
type recvBudget struct {
	total, perHost int64
	done           <-chan struct{}

	mu                   sync.Mutex
	queued, inProgress   int64
	queuedBy, progressBy map[string]int64
	freed                chan struct{} // closed and replaced when queued bytes are handed on
}

func newRecvBudget(total, perHost int64, done <-chan struct{}) *recvBudget {
	return &recvBudget{total: total, perHost: perHost, done: done,
		queuedBy: map[string]int64{}, progressBy: map[string]int64{}, freed: make(chan struct{})}
}

// acquire takes n bytes for a message in progress on a connection of
// host. start says the connection holds nothing yet (a message is about to
// begin): only then does it wait, for queued bytes to be handed on. It
// fails with errOverBudget (see recvBudget), or ErrClosed when the socket
// closes while it waits.
func (b *recvBudget) acquire(host string, n int64, start bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for start && (b.queued >= b.total || (host != "" && b.queuedBy[host] >= b.perHost)) {
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-b.done:
			b.mu.Lock()
			return ErrClosed
		}
		b.mu.Lock()
	}
	held := b.progressBy[host]
	if host != "" && held+n > 2*b.perHost {
		return errOverBudget
	}
	if b.inProgress+n > 2*b.total {
		hosts := int64(len(b.progressBy))
		if held == 0 {
			hosts++
		}
		if held+n > 2*b.total/hosts {
			return errOverBudget
		}
	}
	b.inProgress += n
	b.progressBy[host] = held + n
	return nil
}

// complete moves n bytes of host's message, now read whole, from in
// progress to queued.
func (b *recvBudget) complete(host string, n int64) {
	b.mu.Lock()
	b.dropProgress(host, n)
	b.queued += n
	b.queuedBy[host] += n
	b.mu.Unlock()
}

// abandon gives back n bytes of a message in progress that will not be
// queued: the connection failed, or it was a command.
func (b *recvBudget) abandon(host string, n int64) {
	b.mu.Lock()
	b.dropProgress(host, n)
	b.mu.Unlock()
}

func (b *recvBudget) dropProgress(host string, n int64) {
	b.inProgress -= n
	if b.progressBy[host] -= n; b.progressBy[host] <= 0 {
		delete(b.progressBy, host)
	}
}

// release gives back n queued bytes of host's, handed on by Recv, and
// wakes the connections waiting to start a message.
func (b *recvBudget) release(host string, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.queued -= n
	if b.queuedBy[host] -= n; b.queuedBy[host] <= 0 {
		delete(b.queuedBy, host)
	}
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// inUse reports the bytes held now, queued and in progress.
func (b *recvBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queued + b.inProgress
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
