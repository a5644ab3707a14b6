package zsock

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// answerPingsWithOneByte plays an attacker that has begun a message it
// never finishes: each PING the socket sends it is answered with one more
// byte of the message's body, which is all the idle watch asks. It
// returns when the connection closes.
func answerPingsWithOneByte(nc net.Conn) {
	var h [9]byte
	for {
		if _, err := io.ReadFull(nc, h[:2]); err != nil {
			return
		}
		size := uint64(h[1])
		if h[0]&flagLong != 0 {
			if _, err := io.ReadFull(nc, h[2:]); err != nil {
				return
			}
			size = binary.BigEndian.Uint64(h[1:])
		}
		body := make([]byte, min(size, 1<<10))
		if _, err := io.ReadFull(nc, body); err != nil {
			return
		}
		if strings.HasPrefix(string(body), "\x04PING") {
			if _, err := nc.Write([]byte{0}); err != nil {
				return
			}
		}
	}
}

// Two hosts (a dual-stack machine's IPv4 and IPv6 addresses are two)
// that each begin large messages on a few connections, stay within twice
// their share, and then only answer each PING with one more byte, hold
// the whole receive budget for as long as they like: messages in
// progress count against the budget that every other connection waits
// on before its next message, and none of theirs ever completes. No other
// producer's message must wait on them for ever.
//
// At the collector's defaults (4 MiB messages, 32 MiB budget, 8 MiB a
// host) this is 2 addresses × 4 connections sending about 2 MiB each
// (a body is charged a doubling step ahead of its bytes), then one byte
// per connection every 15-30s; ingest stops for everyone.
func TestStalledMessagesFromTwoHostsDoNotStarveOthers(t *testing.T) {
	ctx := testContext(t)
	const share = 128 << 10
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{
		RecvBudget: 4 * share, RecvBudgetPerHost: share, MaxMessageSize: share,
		Heartbeat: 50 * time.Millisecond, HeartbeatTimeout: 200 * time.Millisecond,
	})
	var trickling sync.WaitGroup
	t.Cleanup(trickling.Wait) // runs after the connections' own cleanups close them
	var attackers []*rawPeer
	for _, host := range []string{"127.0.0.2", "127.0.0.3"} {
		for range 2 {
			r := &rawPeer{t: t, nc: dialFrom(t, host, pull.Endpoint())}
			r.handshake("PUSH")
			r.write(zmtpraw.LongHeader(0, share-frameOverhead))
			attackers = append(attackers, r)
		}
	}
	// Every attacker has begun its message before any sends its body, so
	// that no host's second connection waits on its first.
	for pull.Stats().Buffered < uint64(len(attackers))*(firstStep+frameOverhead) {
		waitTick(t, ctx)
	}
	for _, r := range attackers {
		r.write(make([]byte, share/2+1)) // charged the whole message
		trickling.Add(1)
		go func() {
			defer trickling.Done()
			answerPingsWithOneByte(r.nc)
		}()
	}
	for pull.Stats().Buffered < 4*share {
		waitTick(t, ctx)
	}

	// A producer on another host: its message must get through while the
	// attackers trickle (they are answering PINGs all along).
	push := dialPush(t, pull.Endpoint(), Options{})
	if err := push.Send(ctx, numbered("INFO", 7, 16)); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := pull.Recv(rctx)
	if err != nil {
		st := pull.Stats()
		t.Fatalf("a producer's message was not received while two hosts held stalled messages: %v (buffered %d of %d, active %d, silent %d, over budget %d)",
			err, st.Buffered, 4*share, st.Active, st.Silent, st.OverBudget)
	}
	if number(m) != 7 {
		t.Fatalf("got message %d, want 7", number(m))
	}
}
