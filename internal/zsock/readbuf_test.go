package zsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	client.SetDeadline(time.Now().Add(testTimeout))
	server.SetDeadline(time.Now().Add(testTimeout))
	return client, server
}

// frame256 is a one-frame message of 256 bytes on the wire (2-byte
// header, 254-byte body) whose body is filled with b: 16 of them fill the
// small buffer exactly, so a burst of them ends a read at a message
// boundary.
func frame256(b byte) []byte {
	return append([]byte{0, 254}, bytes.Repeat([]byte{b}, 254)...)
}

// A PULL connection holds only its small buffer while its peer sends
// small messages, borrows a large one while a burst is waiting, gives it
// back once the burst is read, and no byte is lost or reordered across
// the changes; an end of stream met after a change is still reported.
func TestReadBufferFollowsThePeer(t *testing.T) {
	client, server := tcpPair(t)
	c := &conn{nc: server}
	c.r = newReadBuffer(&idleWatch{c: c}, pullLargeBuffer, true)
	defer c.releaseBuffers()

	want := byte(0)
	read := func() {
		t.Helper()
		frames, isCommand, err := c.readMessage(1 << 20)
		if err != nil || isCommand || len(frames) != 1 || !bytes.Equal(frames[0], frame256(want)[2:]) {
			t.Fatalf("message %d: %d frames, command %v, err %v", want, len(frames), isCommand, err)
		}
		want++
	}

	// A producer at a low rate: one small message at a time.
	for range 3 {
		if _, err := client.Write(frame256(want)); err != nil {
			t.Fatal(err)
		}
		read()
		if c.r.borrowing() {
			t.Fatal("borrowed a large buffer for one small message")
		}
	}

	// A burst: 100 messages in one write, 25,600 bytes.
	var burst []byte
	for i := range 100 {
		burst = append(burst, frame256(want+byte(i))...)
	}
	if _, err := client.Write(burst); err != nil {
		t.Fatal(err)
	}
	borrowed := false
	for range 100 {
		read()
		borrowed = borrowed || c.r.borrowing()
	}
	if !borrowed {
		t.Fatal("read a 25 KiB burst through the 4 KiB buffer alone")
	}

	// Quiet again: once a read brings only what the small buffer holds,
	// the next message finds the large buffer given back before its read.
	for range 2 {
		if _, err := client.Write(frame256(want)); err != nil {
			t.Fatal(err)
		}
		read()
	}
	if c.r.borrowing() {
		t.Fatal("kept the large buffer after the burst was read")
	}

	// A burst, then the peer leaves: its end is met, whatever buffer is
	// in use by then.
	burst = burst[:0]
	for i := range 100 {
		burst = append(burst, frame256(want+byte(i))...)
	}
	client.Write(burst)
	client.Close()
	for range 100 {
		read()
	}
	if _, _, err := c.readMessage(1 << 20); !errors.Is(err, io.EOF) {
		t.Fatalf("after the peer left: %v, want EOF", err)
	}
}

// A peer whose reads bring more than the small buffer holds (say, 13 KB
// batches one at a time) keeps the large buffer instead of taking it and
// giving it back at every message; one whose reads fit the small one
// gives it back.
func TestReadBufferKeepsTheLargeOneWhileReadsNeedIt(t *testing.T) {
	src := &idleWatch{}
	b := newReadBuffer(src, pullLargeBuffer, true)
	defer b.release()
	src.lastFilled, src.lastRead = true, pullSmallBuffer
	b.fit()
	if !b.borrowing() {
		t.Fatal("a read that filled the small buffer did not borrow the large one")
	}
	src.lastFilled, src.lastRead = false, 13000
	b.fit()
	if !b.borrowing() {
		t.Fatal("gave the large buffer back after a 13 KB read")
	}
	src.lastFilled, src.lastRead = false, 300
	b.fit()
	if b.borrowing() {
		t.Fatal("kept the large buffer after a 300-byte read")
	}
}
