package zsock

import (
	"bufio"
	"sync"
)

// readBuffer is a connection's read buffer, sized to what its peer sends
// now rather than to the most it might. A listener holds thousands of
// connections, most of them from producers that send a small message now
// and then; each read buffer they hold while they wait for bytes costs
// its full size, for nothing. So a PULL connection keeps a small buffer
// of its own, enough for a small message in one read, and borrows a
// large one from a pool shared by all connections while its peer sends
// more than the small one holds:
//
//   - it grows when a read filled the buffer it had (the peer had more
//     waiting: larger reads save syscalls);
//   - it shrinks back, returning the large buffer to the pool, when a
//     read came back short (it had everything the peer sent: the next
//     read will likely wait, and would hold the large buffer while it
//     does) with what the small buffer holds: a peer that sends more at
//     a time keeps the large one rather than taking and returning it at
//     each message.
//
// Either happens only between messages and with nothing buffered, so no
// byte is ever moved from one buffer to the other. The source's errors
// are sticky (idleWatch), so an error the buffer in use had read but not
// yet returned is met again by the next one.
type readBuffer struct {
	*bufio.Reader // the buffer in use: small, or one borrowed from large
	small         *bufio.Reader
	large         *sync.Pool // of *bufio.Reader; nil: the buffer never changes
	src           *idleWatch
}

// largeReadBuffers lend a PULL connection whose peer sends more than its
// small buffer holds a buffer of readBufferSize(zmq4.Pull).
var largeReadBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, pullLargeBuffer) }}

const (
	// pullSmallBuffer is what every PULL connection holds: a batch of a
	// dozen 200-byte entries, as a producer at a low rate sends, fits
	// in it, so it arrives in one read.
	pullSmallBuffer = 4 << 10
	// pullLargeBuffer is what a busy one borrows: see readBufferSize.
	pullLargeBuffer = 16 << 10
)

// newReadBuffer returns the read buffer for a connection of size bytes,
// or, with elastic set, one that moves between pullSmallBuffer and a
// borrowed pullLargeBuffer.
func newReadBuffer(src *idleWatch, size int, elastic bool) *readBuffer {
	if !elastic {
		return &readBuffer{Reader: bufio.NewReaderSize(src, size), src: src}
	}
	small := bufio.NewReaderSize(src, pullSmallBuffer)
	return &readBuffer{Reader: small, small: small, large: &largeReadBuffers, src: src}
}

// fit moves to the buffer the last read asked for (see readBuffer); it
// is called before each message.
func (b *readBuffer) fit() {
	if b.large == nil || b.Buffered() != 0 {
		return
	}
	borrowed := b.Reader != b.small
	switch {
	case !borrowed && b.src.lastFilled:
		lr := b.large.Get().(*bufio.Reader)
		lr.Reset(b.src)
		b.Reader = lr
	case borrowed && !b.src.lastFilled && b.src.lastRead <= pullSmallBuffer:
		b.giveBack()
	}
}

// release gives back a borrowed buffer, when the connection ends.
func (b *readBuffer) release() {
	if b.large != nil && b.Reader != b.small {
		b.giveBack()
	}
}

func (b *readBuffer) giveBack() {
	lr := b.Reader
	lr.Reset(nil) // holds no reference to the connection while pooled
	b.large.Put(lr)
	b.Reader = b.small
}

// borrowing reports whether the connection holds a large buffer now.
func (b *readBuffer) borrowing() bool { return b.large != nil && b.Reader != b.small }
