//go:build linux

package zsock

import (
	"bytes"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// pullReader returns a loopback TCP connection's client end and a PULL
// conn on its server end that reads as handshake sets one up (an idle
// watch under the elastic read buffer), and a reader goroutine's messages.
func pullReader(t *testing.T) (client net.Conn, server net.Conn, msgs <-chan []byte, ended <-chan error) {
	t.Helper()
	client, server = tcpPair(t)
	c := &conn{nc: server}
	c.r = newReadBuffer(&idleWatch{c: c}, pullLargeBuffer, true)
	got, done, quit := make(chan []byte), make(chan error, 1), make(chan struct{})
	go func() {
		defer c.releaseBuffers()
		for {
			frames, _, err := c.readMessage(1 << 20)
			if err != nil {
				done <- err
				return
			}
			select {
			case got <- frames[0]:
			case <-quit:
				done <- nil
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(quit)
		client.Close()
		<-done // the reader ends (EOF, or quit) before server is closed
	})
	return client, server, got, done
}

// promptly is how long a message may take to arrive after its last byte
// was sent: on loopback it takes microseconds, unless the reader waits on
// bytes already in its socket (then it waits for the next message or the
// test's deadline).
const promptly = 5 * time.Second // generous: a loaded CI machine under -race, not loopback, sets it

func expectMessage(t *testing.T, i int, want []byte, msgs <-chan []byte, ended <-chan error) {
	t.Helper()
	select {
	case body := <-msgs:
		if !bytes.Equal(body, want) {
			t.Fatalf("message %d: wrong body", i)
		}
	case err := <-ended:
		t.Fatalf("message %d: reader ended: %v", i, err)
	case <-time.After(promptly):
		t.Fatalf("message %d not delivered within %v of being sent: its bytes wait in the socket", i, promptly)
	}
}

// Each small message a PULL connection's peer sends right after the
// previous one was read is delivered promptly: the reader never waits for
// readability with bytes already in its socket. A reader that, after a
// short read, waited for readability in a new RawConn.Read instead of
// reading to EAGAIN (see idleWatch) fails this within a few hundred
// messages: the readiness that arrived while it handled a message is
// cleared when the next RawConn.Read begins.
func TestPullReadsEachMessagePromptlyAfterAShortRead(t *testing.T) {
	client, _, msgs, ended := pullReader(t)
	for i := range 3000 {
		msg := frame256(byte(i))
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, i, msg[2:], msgs, ended)
	}
}

// unread waits until the server end's socket holds no unread bytes (the
// reader has read what was sent): nothing else shows it.
func unread(t *testing.T, server net.Conn) {
	t.Helper()
	rc, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(promptly); ; {
		var n int32
		var errno syscall.Errno
		rc.Control(func(fd uintptr) {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		})
		if errno != 0 {
			t.Fatal(errno)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still unread after %v", n, promptly)
		}
		time.Sleep(time.Millisecond)
	}
}

// A message whose bytes arrive in two parts, the reader having read the
// first (a short read: it then waits), is delivered once the second
// arrives, whatever the split.
func TestPullReadsAMessageSplitAcrossReads(t *testing.T) {
	client, server, msgs, ended := pullReader(t)
	for i, split := range []int{1, 2, 3, 100, 255} {
		msg := frame256(byte(i))
		if _, err := client.Write(msg[:split]); err != nil {
			t.Fatal(err)
		}
		unread(t, server)
		if _, err := client.Write(msg[split:]); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, i, msg[2:], msgs, ended)
	}
}

// After reads that filled the buffer (the reader reads again rather than
// wait), the messages they brought and one sent after are all delivered.
func TestPullReadsAfterFullReads(t *testing.T) {
	client, _, msgs, ended := pullReader(t)
	i := 0
	for _, burst := range []int{16, 64, 16 * 7, 1} { // 16 frames fill the small buffer exactly
		var b []byte
		for k := range burst {
			b = append(b, frame256(byte(i+k))...)
		}
		if _, err := client.Write(b); err != nil {
			t.Fatal(err)
		}
		for range burst {
			expectMessage(t, i, frame256(byte(i))[2:], msgs, ended)
			i++
		}
		msg := frame256(byte(i))
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, i, msg[2:], msgs, ended)
		i++
	}
}
