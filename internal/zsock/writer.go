package zsock

import (
	"encoding/binary"
	"net"
	"time"
)

// copyLimit: frame bodies up to this size are copied next to their headers
// so that many small messages become one contiguous buffer; larger bodies
// are written from where they are.
const copyLimit = 1024

// batchWriter encodes several queued messages into one vectored write
// (writev on TCP and Unix sockets) and, when the write fails, tells which
// messages reached the kernel whole.
type batchWriter struct {
	scratch []byte
	segs    []segment
	ends    []int64 // cumulative byte offset at which each message ends
	pending int64   // bytes of the message being added, not yet in ends
	bufs    net.Buffers
	// frames and frameEnds keep each frame apart (its flags and body) and
	// where each message ends in frames, for a CURVE connection, which
	// seals every frame into a MESSAGE box of its own (writeCurve).
	frames    []plainFrame
	frameEnds []int
}

// plainFrame is one frame as queued, before encoding.
type plainFrame struct {
	flags byte
	body  []byte
}

// segment is scratch[off:off+n] when ext is nil, else ext.
type segment struct {
	ext    []byte
	off, n int
}

func (b *batchWriter) reset() {
	// Drop references to the messages just written so the GC can have them.
	clear(b.segs)
	clear(b.bufs[:cap(b.bufs)])
	clear(b.frames)
	b.frames = b.frames[:0]
	b.frameEnds = b.frameEnds[:0]
	b.scratch = b.scratch[:0]
	b.segs = b.segs[:0]
	b.ends = b.ends[:0]
	b.pending = 0
}

// size is the number of bytes queued.
func (b *batchWriter) size() int64 {
	if len(b.ends) == 0 {
		return 0
	}
	return b.ends[len(b.ends)-1]
}

// add queues one message.
func (b *batchWriter) add(frames [][]byte) {
	for i, f := range frames {
		flags := byte(0)
		if i < len(frames)-1 {
			flags = flagMore
		}
		b.addFrame(flags, f)
	}
	b.end()
}

// addFrame queues one frame of the message being added; end closes the
// message.
func (b *batchWriter) addFrame(flags byte, f []byte) {
	b.frames = append(b.frames, plainFrame{flags: flags, body: f})
	b.pending += int64(b.appendHeader(flags, len(f)))
	if len(f) <= copyLimit {
		b.appendScratch(f)
	} else {
		b.segs = append(b.segs, segment{ext: f})
	}
	b.pending += int64(len(f))
}

func (b *batchWriter) end() {
	b.ends = append(b.ends, b.size()+b.pending)
	b.pending = 0
	b.frameEnds = append(b.frameEnds, len(b.frames))
}

func (b *batchWriter) appendHeader(flags byte, size int) int {
	if size > 255 {
		var h [9]byte
		h[0] = flags | flagLong
		binary.BigEndian.PutUint64(h[1:], uint64(size))
		b.appendScratch(h[:])
		return 9
	}
	b.appendScratch([]byte{flags, byte(size)})
	return 2
}

// appendScratch copies p into scratch, extending the last segment when it
// is the scratch segment that ends where p starts.
func (b *batchWriter) appendScratch(p []byte) {
	off := len(b.scratch)
	b.scratch = append(b.scratch, p...)
	if n := len(b.segs); n > 0 && b.segs[n-1].ext == nil && b.segs[n-1].off+b.segs[n-1].n == off {
		b.segs[n-1].n += len(p)
		return
	}
	b.segs = append(b.segs, segment{off: off, n: len(p)})
}

// writeTo writes the queued messages to c in one vectored write. The
// write gets a deadline of its own, timeout from now (none when timeout
// <= 0), never one left over from an earlier write: after a quiet spell
// longer than the timeout, an old deadline would fail the next small
// write (say, the PONG to a heartbeat) at once. It returns how many queued
// messages were written whole; on error the rest did not reach the
// connection intact.
func (b *batchWriter) writeTo(c *conn, timeout time.Duration) (int, error) {
	if c.curve != nil {
		return b.writeCurve(c, timeout)
	}
	b.bufs = b.bufs[:0]
	for _, s := range b.segs {
		if s.ext != nil {
			b.bufs = append(b.bufs, s.ext)
		} else {
			b.bufs = append(b.bufs, b.scratch[s.off:s.off+s.n])
		}
	}
	bufs := b.bufs // WriteTo consumes the slice it is called on
	c.wmu.Lock()
	defer c.wmu.Unlock()
	setWriteDeadline(c, timeout)
	n, err := bufs.WriteTo(c.nc)
	if err == nil {
		return len(b.ends), nil
	}
	whole := 0
	for whole < len(b.ends) && b.ends[whole] <= n {
		whole++
	}
	return whole, err
}

func setWriteDeadline(c *conn, timeout time.Duration) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	c.nc.SetWriteDeadline(deadline)
}

// writeCurve is writeTo for a CURVE connection: every frame becomes a
// MESSAGE box, sealed into one pooled buffer and written at once, so a
// batch of messages still costs one write. Sealing happens under wmu: the
// short nonces must reach the wire in the order they were given.
func (b *batchWriter) writeCurve(c *conn, timeout time.Duration) (int, error) {
	out, stage := getBoxBuffer(), getBoxBuffer()
	defer putBoxBuffer(out)
	defer putBoxBuffer(stage)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// ends reuses b.ends: the boxed stream's message boundaries.
	buf := (*out)[:0]
	first := 0
	for i, last := range b.frameEnds {
		for _, f := range b.frames[first:last] {
			buf = c.curve.seal(buf, f.flags, f.body, stage)
		}
		first = last
		b.ends[i] = int64(len(buf))
	}
	*out = buf
	setWriteDeadline(c, timeout)
	n, err := c.nc.Write(buf)
	if err == nil {
		return len(b.ends), nil
	}
	whole := 0
	for whole < len(b.ends) && b.ends[whole] <= int64(n) {
		whole++
	}
	return whole, err
}
