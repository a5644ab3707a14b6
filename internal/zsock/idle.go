package zsock

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrPeerSilent: a connection's peer sent nothing for the heartbeat
// interval, then did not answer a PING within the heartbeat timeout.
var ErrPeerSilent = errors.New("zsock: peer did not answer a heartbeat PING")

// idleWatch is the reader under a connection's read buffer. Once the
// handshake is done (start), a peer that has sent nothing for quiet is sent
// a ZMTP PING (RFC 37); if nothing at all arrives within timeout after
// that, the read fails with ErrPeerSilent and the connection is dropped.
//
// Being quiet is never a reason to drop a peer: libzmq and our own sockets
// answer PING with PONG by themselves, so an idle producer or subscriber
// stays connected for as long as it lives. What the watch finds is a peer
// that is gone without a FIN (a host that crashed, a cable pulled) or one
// that holds a connection without speaking ZMTP behind its handshake.
//
// Only bytes count: a peer in the middle of sending a large frame cannot
// answer until the frame is done, and it does not need to, since its
// bytes arriving show it is alive.
//
// It reads with net.Conn.Read, which reads until EAGAIN before it waits:
// a connection that receives one small message at a time costs two read
// syscalls per message, one of them empty. Skipping the empty one (wait
// first after a short read) is not safe through syscall.RawConn: every
// RawConn.Read, like every net.Conn.Read, begins by clearing the
// readiness the poller noted, so bytes that arrived while the message
// was handled would wait for the next ones (pullread_test.go catches it).
// Keeping one RawConn.Read open for the connection's life, in an
// iter.Pull coroutine, does remove the empty read (measured: 1.0 read
// per message instead of 2.0), but it cost as much as it saved in
// BenchmarkZmqcollectFanIn (collector CPU per entry no better, 2 KiB
// more stack per connection), and it makes Close wait for the reader;
// so it was left out (issue 18).
type idleWatch struct {
	c              *conn
	quiet, timeout time.Duration
	on             bool
	// deadline is the read deadline in force. A read that returns data
	// moves it on only once half of quiet has passed, so a busy
	// connection does not reset its deadline on every read: a peer is
	// sent its PING after between half and all of quiet in silence.
	deadline time.Time
	// lastFilled says the last read filled all it was given: the peer
	// likely has more waiting (readBuffer grows on it); lastRead is what
	// it returned.
	lastFilled bool
	lastRead   int
	// err, once a read failed, is what every later read returns: the
	// read buffer may change between reads (readBuffer), and the new one
	// must meet the error the old one had read and not yet returned.
	err error
}

// start turns the watch on, after the handshake (which has its own
// deadline). A quiet interval <= 0 leaves it off.
func (w *idleWatch) start() { w.on = w.quiet > 0 && w.timeout > 0 }

func (w *idleWatch) Read(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.read(p)
	w.lastFilled, w.lastRead = n == len(p) && n > 0, n
	w.err = err
	return n, err
}

func (w *idleWatch) read(p []byte) (int, error) {
	nc := w.c.nc
	if !w.on {
		return nc.Read(p)
	}
	wait, pinged := w.quiet, false
	for {
		if now := time.Now(); pinged || w.deadline.Sub(now) < w.quiet/2 {
			w.deadline = now.Add(wait)
			nc.SetReadDeadline(w.deadline)
		}
		n, err := nc.Read(p)
		timedOut := errors.Is(err, os.ErrDeadlineExceeded)
		switch {
		case n > 0 && timedOut:
			return n, nil
		case !timedOut:
			return n, err
		case pinged:
			return 0, fmt.Errorf("%w (silent for %v)", ErrPeerSilent, w.quiet+w.timeout)
		}
		if err := w.c.ping(); err != nil {
			return 0, err
		}
		wait, pinged = w.timeout, true
	}
}
