package zsock

import (
	"net"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// acceptRaw listens on loopback and hands the first connection, once it
// has done the handshake as socketType, to a raw peer.
func acceptRaw(t *testing.T, socketType string) (endpoint string, peer chan *rawPeer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer = make(chan *rawPeer, 1)
	go func() {
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			close(peer)
			return
		}
		nc.SetDeadline(time.Now().Add(testTimeout))
		t.Cleanup(func() { nc.Close() })
		r := &rawPeer{t: t, nc: nc}
		r.handshake(socketType)
		peer <- r
	}()
	t.Cleanup(func() { ln.Close() })
	return "tcp://" + ln.Addr().String(), peer
}

// A publisher is a peer like any other: what it sends a subscriber waits
// for Recv within the receive budget, not RecvQueue times the maximum
// message size (1000 × 16 MiB by default). Nothing is lost: the
// publisher is pushed back and the rest arrives as Recv catches up.
func TestSubscriberHoldsAtMostItsReceiveBudget(t *testing.T) {
	ctx := testsupport.Context(t)
	const size, budget = 64 << 10, 256 << 10
	ep, peers := acceptRaw(t, "PUB")
	sub := dialSub(t, ep, []string{""}, Options{RecvBudget: budget, RecvBudgetPerHost: budget, MaxMessageSize: 2 * size})
	pub := <-peers
	const n = 64
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := range n {
			body := make([]byte, size)
			body[0] = byte(i)
			if _, err := pub.nc.Write(append(append(frame(flagMore, []byte("INFO")), zmtpraw.LongHeader(0, size)...), body...)); err != nil {
				return
			}
		}
	}()
	for sub.Stats().Received < budget/size {
		waitTick(t, ctx)
	}
	bound := uint64(budget + size + 2*creditChunk)
	for i := range n {
		// Messages read ahead of Recv: at most what the budget holds.
		if st := sub.Stats(); st.Buffered > bound || st.Received-uint64(i) > budget/size+1 {
			t.Fatalf("after %d received: %d more read ahead, holding %d bytes; budget %d", i, st.Received-uint64(i), st.Buffered, bound)
		}
		if m := recvN(t, ctx, sub, 1)[0]; m.Frames[1][0] != byte(i) {
			t.Fatalf("message %d arrived as %d", i, m.Frames[1][0])
		}
	}
	<-written
}

// A PULL peer has nothing to send a PUSH but commands: a large message
// from it (a hostile "collector") is refused before the app allocates it,
// and the pusher re-dials.
func TestPusherRefusesLargeMessagesFromItsPeer(t *testing.T) {
	ctx := testsupport.Context(t)
	ep, peers := acceptRaw(t, "PULL")
	opts, events := withEvents(Options{Heartbeat: -1}) // only the size may end it
	dialPush(t, ep, opts)
	pull := <-peers
	waitEvent(t, ctx, events, Connected)
	pull.write(zmtpraw.LongHeader(0, 1<<20))
	pull.nc.Write(make([]byte, 1<<20)) // may fail: dropped at its header
	pull.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := pull.waitClosed(); err != nil {
		t.Fatal(err)
	}
}
